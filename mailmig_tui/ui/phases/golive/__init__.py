"""The GoLive phase's screen: its checklist first, then its own tabs."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import TabbedContent, TabPane

from mailmig_tui.core.i18n import N_, _
from mailmig_tui.core.phases import Phase
from mailmig_tui.ui.phases.golive.gate import GatePanel
from mailmig_tui.ui.screens.base import PhaseScreen
from mailmig_tui.ui.widgets.notices_panel import NoticesPanel
from mailmig_tui.ui.widgets.plan_panel import PlanPanel


class GoLiveScreen(PhaseScreen):
    MODE = Phase.GO_LIVE.value
    PHASE = Phase.GO_LIVE
    HELP = N_(
        "# 6. Go-live\n\n"
        "After the trial period, switch for good, close the old system and remind staff.\n\n"
        "Tabs: **Checklist**; **Plan** (go-live and switch-off dates); **Notices** (the go-live notice: **s** "
        "sends it to every user by mail, once each); **Gate**.\n\n"
        "## Gate\n\n"
        "Every condition for switching the old provider off, the same as `mailmig golive check`, with ✓ or ✗ "
        "and its evidence: the backup verified after its last run; the copy verified for every user; the test "
        "matrix passed (pilots, and everyone once widened); every authoritative server serving the new MX; "
        "every resolver answering the new MX (one that does not answer is unknown, not new); the old MX's TTL "
        "run out since the last authoritative change (a return to the old MX restarts that clock); the final "
        "delta run after that; no new mail at the old provider since the final delta; the go-live notice sent "
        "to everyone. It is checked when the tab first opens.\n\n"
        "- **r** checks again; **Esc** cancels a check in progress.\n"
        "- **d** marks go-live done, **o** records the old provider as switched off: with a failing gate both "
        "ask for a reason and record the override (who, when, why, which conditions failed).\n"
    )

    def extra_panes(self) -> ComposeResult:
        with TabPane(_("Plan"), id="tab-plan"):
            yield PlanPanel()
        with TabPane(_("Notices"), id="tab-notices"):
            yield NoticesPanel()
        with TabPane(_("Gate"), id="tab-gate"):
            yield GatePanel()

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == "tab-gate":  # nothing is asked of the network until the tab is opened
            self.query_one(GatePanel).activate()
