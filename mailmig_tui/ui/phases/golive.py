"""The GoLive phase's screen: its checklist first, then its own tabs."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import TabPane

from mailmig_tui.core.i18n import N_, _
from mailmig_tui.core.phases import Phase
from mailmig_tui.ui.screens.base import PhaseScreen
from mailmig_tui.ui.widgets.notices_panel import NoticesPanel
from mailmig_tui.ui.widgets.plan_panel import PlanPanel


class GoLiveScreen(PhaseScreen):
    MODE = Phase.GO_LIVE.value
    PHASE = Phase.GO_LIVE
    HELP = N_(
        "# 6. Go-live\n\n"
        "After the trial period, switch for good, close the old system and remind staff.\n\n"
        "Tabs: **Checklist**; **Plan** (go-live and switch-off dates); **Notices** (the go-live notice).\n"
    )

    def extra_panes(self) -> ComposeResult:
        with TabPane(_("Plan"), id="tab-plan"):
            yield PlanPanel()
        with TabPane(_("Notices"), id="tab-notices"):
            yield NoticesPanel()
