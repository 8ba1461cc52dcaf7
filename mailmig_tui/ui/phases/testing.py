"""The Testing phase's screen: its checklist first, then its own tabs."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import TabPane

from mailmig_tui.core.i18n import N_, _
from mailmig_tui.core.phases import Phase
from mailmig_tui.ui.screens.base import PhaseScreen
from mailmig_tui.ui.widgets.tables import UserTable


class TestingScreen(PhaseScreen):
    MODE = Phase.TESTING.value
    PHASE = Phase.TESTING
    HELP = N_(
        "# 5. Testing\n\n"
        "A few representative users send and receive mail; fix what breaks; then widen to everyone.\n\n"
        "Tabs: **Checklist**; **Pilots** (users whose role is pilot in the project file).\n"
    )

    def extra_panes(self) -> ComposeResult:
        with TabPane(_("Pilots"), id="tab-pilots"):
            yield UserTable(role="pilot")
