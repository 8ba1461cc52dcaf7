"""The Aftercare phase's screen: its checklist first, then its own tabs."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import ModalScreen
from textual.widgets import TabbedContent, TabPane

from mailmig_tui.core.i18n import N_, _
from mailmig_tui.core.phases import Phase
from mailmig_tui.ui.phases.aftercare.health import HealthPanel
from mailmig_tui.ui.screens.base import PhaseScreen
from mailmig_tui.ui.widgets.tables import EventLog


class AftercareScreen(PhaseScreen):
    MODE = Phase.AFTERCARE.value
    PHASE = Phase.AFTERCARE
    HELP = N_(
        "# 7. After-care\n\n"
        "Help newcomers, watch the new system's health, tighten SPF and DMARC, archive the backup.\n\n"
        "Tabs: **Checklist**; **Activity** (who did what in this project, newest first); **Health**.\n\n"
        "## Health\n\n"
        "The same checks as `mailmig monitor`, run when the tab opens and again every `[monitor] interval` "
        "seconds (default 300) while it stays open: the DNS records the new provider needs (MX, SPF and "
        "its lookup budget, DKIM, DMARC, autodiscover, as the DNS audit defines them); the new IMAP and SMTP "
        "with the canary user's login (`[monitor] canary`, default the first pilot) and the round trip, "
        "drawn over time below the table; the TLS certificates' days to expiry (a warning under "
        "`cert_warn_days`, default 21); mail still arriving at the old provider since the MX cutover; and "
        "advice that follows the calendar (drop the old SPF include after go-live, tighten DMARC after "
        "`dmarc_clean_days` clean days). Each row: ✓ ok, ! warning, ✗ failed, ? unknown (could not be "
        "checked: never counted as working), i advice; what to do about the highlighted one is below.\n\n"
        "- **r** checks now; **Esc** cancels a check in progress.\n"
    )

    def extra_panes(self) -> ComposeResult:
        with TabPane(_("Activity"), id="tab-activity"):
            yield EventLog()
        with TabPane(_("Health"), id="tab-health"):
            yield HealthPanel()

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        # Nothing is asked of the network until the tab is opened; it stops refreshing when left.
        panel = self.query_one(HealthPanel)
        if event.pane.id == "tab-health":
            panel.activate()
        else:
            panel.suspend()

    def on_screen_suspend(self) -> None:
        if not isinstance(self.app.screen, ModalScreen):
            self.query_one(HealthPanel).suspend()

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        if self.query_one(TabbedContent).active == "tab-health":
            self.query_one(HealthPanel).activate()
