"""The Aftercare phase's screen: its checklist first, then its own tabs."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import TabPane

from mailmig_tui.core.i18n import N_, _
from mailmig_tui.core.phases import Phase
from mailmig_tui.ui.screens.base import PhaseScreen
from mailmig_tui.ui.widgets.tables import EventLog


class AftercareScreen(PhaseScreen):
    MODE = Phase.AFTERCARE.value
    PHASE = Phase.AFTERCARE
    HELP = N_(
        "# 7. After-care\n\n"
        "Help newcomers, watch the new system's health, tighten SPF and DMARC, archive the backup.\n\n"
        "Tabs: **Checklist**; **Activity** (who did what in this project, newest first).\n"
    )

    def extra_panes(self) -> ComposeResult:
        with TabPane(_("Activity"), id="tab-activity"):
            yield EventLog()
