"""The Dns phase's screen: its checklist first, then its own tabs."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import ModalScreen
from textual.widgets import TabbedContent, TabPane

from mailmig_tui.core.i18n import N_, _
from mailmig_tui.core.phases import Phase
from mailmig_tui.ui.phases.dns.audit import DnsAuditPanel
from mailmig_tui.ui.phases.dns.watch import DnsWatchPanel
from mailmig_tui.ui.screens.base import PhaseScreen
from mailmig_tui.ui.widgets.provider_panel import ProviderPanel


class DnsScreen(PhaseScreen):
    MODE = Phase.DNS.value
    PHASE = Phase.DNS
    HELP = N_(
        "# 3. DNS\n\n"
        "Point MX, SPF, DKIM, DMARC and autodiscover at the new provider and watch the change propagate.\n\n"
        "Tabs: **Checklist**; **Audit**; **Propagation**; **Providers** (old and new MX, SPF include and DKIM "
        "selectors).\n\n"
        "The servers asked are those of the project file's `[dns]` section (`resolvers`, `authoritative`, "
        "`timeout`, `interval`), the same as `mailmig dns check` and `mailmig dns watch`. Without an "
        "`authoritative` list the zone's NS set is looked up; without `resolvers` a list of public resolvers "
        "in several regions, mainland China included, is used.\n\n"
        "## Audit\n\n"
        "What the zone publishes now (asked of its authoritative servers, so no cache is in the way) against "
        "what it must publish for the new provider: ✓ ok, ✗ differs, + missing, ? error. "
        "Below, the readiness checks for the cutover, failures first: ✓ passed, ! a warning, ✗ "
        "must be fixed, each with what to do.\n\n"
        "- **Enter** on a record shows exactly what to set at the DNS host: name, type, TTL and value, and "
        "the zone-file line (**c** copies it).\n"
        "- **r** checks again (it runs on its own the first time the tab opens); **Esc** cancels a check "
        "in progress.\n"
        "- **z** writes every record to set as a zone-file snippet next to the project file.\n\n"
        "## Propagation\n\n"
        "Watching starts when the tab opens and stops when you leave the DNS screen (it carries on when you "
        "come back). First the authoritative servers, each asked directly: their SOA serial, the AA flag and "
        "whether they have converged or one is lagging or not answering. Then every resolver: ✓ new, · old, "
        "± mixed MX, ∅ negative (a name that did not exist yet), or exactly how it failed (✗ timeout, "
        "refused, servfail); the TTL it still holds, when it will flip (with seconds within the hour), and the "
        "countdown of a cached \"does not exist\". The line under the table shows every record's state for the "
        "highlighted resolver (SPF, DKIM, autodiscover, SRV).\n\n"
        "*Complete* means every authoritative server answers the new MX and every resolver in the list has "
        "answered the new MX in a sweep after that. A resolver that does not answer is *unknown*, never new; "
        "one that has not answered once is *unreachable* and named in the summary (\"complete on 18 of 20; 2 "
        "not answering since 10:04:12\"). **u** leaves unreachable resolvers out, and the status line says so. "
        "Going back to the old MX on any authoritative server (a rollback, a lagging secondary) starts again.\n\n"
        "*Safe to switch off* is given only when no resolver is unknown and every authoritative server "
        "serves the new MX: the old MX's TTL after the last authoritative server was seen serving the new "
        "MX, and no earlier than the last resolver's flip (\"expected\" until complete). Until then it says "
        "pending, and why. A bell and one notification tell you when propagation is complete.\n\n"
        "- **w** starts or stops watching (starting again re-reads the `[dns]` section).\n"
        "- **Space** pauses and resumes, keeping the history.\n"
        "- **+** and **-** lengthen or shorten the interval between sweeps.\n"
        "- **u** leaves out (or counts again) resolvers that never answered.\n"
        "- **e** edits the resolver list, one a line: name, address[:port], region and an optional DoH URL; "
        "it is saved to the project file and watching starts again with it.\n"
    )

    def extra_panes(self) -> ComposeResult:
        with TabPane(_("Audit"), id="tab-audit"):
            yield DnsAuditPanel()
        with TabPane(_("Propagation"), id="tab-propagation"):
            yield DnsWatchPanel()
        with TabPane(_("Providers"), id="tab-providers"):
            yield ProviderPanel()

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        # Nothing is asked of the network until its tab is opened.
        if event.pane.id == "tab-audit":
            self.query_one(DnsAuditPanel).activate()
        elif event.pane.id == "tab-propagation":
            self.query_one(DnsWatchPanel).activate()

    def on_screen_suspend(self) -> None:
        if not isinstance(self.app.screen, ModalScreen):  # a dialog or the help on top: keep watching
            self.query_one(DnsWatchPanel).suspend()

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        self.query_one(DnsWatchPanel).resume()
