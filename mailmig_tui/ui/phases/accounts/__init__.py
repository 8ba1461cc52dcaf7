"""The Accounts phase's screen: its checklist first, then its own tabs."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import TabPane

from mailmig_tui.core.i18n import N_, _
from mailmig_tui.core.phases import Phase
from mailmig_tui.ui.screens.base import PhaseScreen
from mailmig_tui.ui.widgets.tables import UserTable


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
