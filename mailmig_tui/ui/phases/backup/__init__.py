"""The Backup phase's screen: its checklist first, then its own tabs."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import TabPane

from mailmig_tui.core.i18n import N_, _
from mailmig_tui.core.phases import Phase
from mailmig_tui.ui.phases.backup.panel import BackupPanel
from mailmig_tui.ui.screens.base import PhaseScreen
from mailmig_tui.ui.widgets.tables import UserTable


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
        "‖ paused, ↻ retrying (waiting for the server: it is down, dropped the connection or is throttling; "
        "the row says why, when the next try is and when the user will be given up, after `[backup] "
        "retry_for`, 10 minutes by default), ✓ done, ✗ failed (the reason is in the **Folder** "
        "column and, for the highlighted user, below the table) or ■ stopped; then a bar, messages and MB "
        "done of what this run has to fetch, the rate and the folder being copied.\n\n"
        "- **b** backs up every user. The first time, it asks for the passphrase of the encrypted "
        "credential file if there is no keyring and MAILMIG_PASSPHRASE is not set.\n"
        "- **p** pauses after the current batch; **p** again continues.\n"
        "- **c** cancels after asking; what is already saved is kept.\n"
        "- **r** resumes a cancelled run: runs are incremental, so only what is missing is fetched.\n"
        "- **v** verifies the archive against the server (count, UIDs, sizes) and every file against its "
        "checksum; the **Verify** column shows ✓ ok, ✗ differs or ✗ error per user.\n"
        "- **f** repairs: verifies, fetches again exactly the messages that are missing or differ (a "
        "corrupt file is replaced by the server's copy), then verifies again, like `mailmig verify "
        "--repair`.\n\n"
        "The result of each run and verify is saved in the project file and shown on the overview. "
        "Quitting during a run stops it cleanly; run it again to resume.\n"
    )

    def extra_panes(self) -> ComposeResult:
        with TabPane(_("Backup"), id="tab-backup"):
            yield BackupPanel()
        with TabPane(_("Users"), id="tab-users"):
            yield UserTable()
