"""The seven phase screens. Each shows its checklist first; the tabs after it are the phase's own."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import TabbedContent, TabPane

from mailmig_tui.core.i18n import N_, _
from mailmig_tui.core.phases import Phase
from mailmig_tui.ui.screens.base import PhaseScreen
from mailmig_tui.ui.widgets.dns_audit import DnsAuditPanel
from mailmig_tui.ui.widgets.dns_watch import DnsWatchPanel
from mailmig_tui.ui.widgets.notices_panel import NoticesPanel
from mailmig_tui.ui.widgets.plan_panel import PlanPanel
from mailmig_tui.ui.widgets.provider_panel import ProviderPanel
from mailmig_tui.ui.widgets.tables import EventLog, UserTable


class PreparationScreen(PhaseScreen):
    MODE = Phase.PREPARATION.value
    PHASE = Phase.PREPARATION
    HELP = N_(
        "# 1. Preparation\n\n"
        "Vet the new provider, get admin access to both sides, set the plan's dates and tell staff.\n\n"
        "Tabs: **Checklist**; **Plan** (the key dates: Enter edits one, Delete clears it; problems such as a "
        "cutover before the TTL was lowered are listed below); **Notices** (staff announcements from "
        "templates: **e** edits, **r** resets, **x** exports .eml files next to the project); **Providers** "
        "(old and new endpoints, MX, SPF and limits).\n"
    )

    def extra_panes(self) -> ComposeResult:
        with TabPane(_("Plan"), id="tab-plan"):
            yield PlanPanel()
        with TabPane(_("Notices"), id="tab-notices"):
            yield NoticesPanel()
        with TabPane(_("Providers"), id="tab-providers"), VerticalScroll():
            yield ProviderPanel()


class BackupScreen(PhaseScreen):
    MODE = Phase.BACKUP.value
    PHASE = Phase.BACKUP
    HELP = N_(
        "# 2. Backup\n\n"
        "Back up every mailbox from the old provider before anything changes, then verify it.\n\n"
        "Tabs: **Checklist**; **Backup**; **Users** (the mailboxes to back up).\n\n"
        "## Backup\n\n"
        "Every user's mailbox is copied from the old provider over IMAP into a local archive (one Maildir "
        "per user and an index), the same as `mailmig backup`. At the top: where the passwords are kept "
        "and a warning when a provider's self-signed certificate is accepted. Then the whole run: a bar, "
        "messages and MB done of the total, messages and MB per second, the time left and the number of "
        "users that failed. One row per user, its state told by a symbol and a word: · waiting, ▶ running, "
        "‖ paused, ↻ retrying (a dropped connection), ✓ done, ✗ failed (the reason is in the **Folder** "
        "column and, for the highlighted user, below the table) or ■ stopped; then a bar, messages and MB "
        "done of what this run has to fetch, the rate and the folder being copied.\n\n"
        "- **b** backs up every user. The first time, it asks for the passphrase of the encrypted "
        "credential file if there is no keyring and MAILMIG_PASSPHRASE is not set.\n"
        "- **p** pauses after the current batch; **p** again continues.\n"
        "- **c** cancels after asking; what is already saved is kept.\n"
        "- **r** resumes a cancelled run: runs are incremental, so only what is missing is fetched.\n"
        "- **v** verifies the archive against the server (count, UIDs, sizes) and every file against its "
        "checksum; the **Verify** column shows ✓ ok, ✗ differs or ✗ error per user.\n\n"
        "The result of each run and verify is saved in the project file and shown on the overview. "
        "Quitting during a run stops it cleanly; run it again to resume.\n"
    )

    def extra_panes(self) -> ComposeResult:
        # Imported here rather than at the top so this screen's imports stay as they are (easier merges).
        from mailmig_tui.ui.widgets.backup_panel import BackupPanel

        with TabPane(_("Backup"), id="tab-backup"):
            yield BackupPanel()
        with TabPane(_("Users"), id="tab-users"):
            yield UserTable()


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
        "come back). First the authoritative servers: their SOA serial, the AA flag and whether they have "
        "converged or one is lagging. Then every resolver: ✓ new, · old, ± mixed MX, "
        "∅ negative (a name that did not exist yet), or exactly how it failed (✗ timeout, "
        "refused, servfail); the TTL it still holds, when it will flip (HH:MM), and the countdown of "
        "a cached \"does not exist\". The header shows the share of resolvers on the new MX and its history, "
        "when propagation is complete at worst, how many resolvers still hand out the old MX, and when the "
        "old provider can safely be switched off. A bell and a notification tell you when every resolver "
        "has flipped.\n\n"
        "- **w** starts or stops watching (starting again re-reads the `[dns]` section).\n"
        "- **Space** pauses and resumes, keeping the history.\n"
        "- **+** and **-** lengthen or shorten the interval between sweeps.\n"
        "- **e** edits the resolver list, one a line: name, address[:port], region and an optional DoH URL; "
        "it is saved to the project file and watching starts again with it.\n"
    )

    def extra_panes(self) -> ComposeResult:
        with TabPane(_("Audit"), id="tab-audit"):
            yield DnsAuditPanel()
        with TabPane(_("Propagation"), id="tab-propagation"):
            yield DnsWatchPanel()
        with TabPane(_("Providers"), id="tab-providers"), VerticalScroll():
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


class AccountsScreen(PhaseScreen):
    MODE = Phase.ACCOUNTS.value
    PHASE = Phase.ACCOUNTS
    HELP = N_(
        "# 4. Account sync\n\n"
        "Create the same users on the new platform, hand out passwords privately, and copy mail across.\n\n"
        "Tabs: **Checklist**; **Users** (old and new logins of every user; **i** imports a CSV of users and "
        "passwords, like `mailmig users import`: bad rows are listed by line and skipped only if you agree; "
        "passwords go to the credential store, never to the project file).\n"
    )

    def extra_panes(self) -> ComposeResult:
        with TabPane(_("Users"), id="tab-users"):
            yield UserTable()


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



PHASE_SCREENS: dict[str, type[PhaseScreen]] = {
    s.MODE: s
    for s in (PreparationScreen, BackupScreen, DnsScreen, AccountsScreen, TestingScreen, GoLiveScreen, AftercareScreen)
}
