"""The Account sync phase's screen: its checklist first, then Users (logins, passwords, login checks),
Copy (the mailboxes old → new, in the shared run view) and Verify (the copy proved per user)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import TabPane

from mailmig_tui.core.i18n import N_, _
from mailmig_tui.core.phases import Phase
from mailmig_tui.ui.phases.accounts.copy import CopyPanel
from mailmig_tui.ui.phases.accounts.users import UsersPanel
from mailmig_tui.ui.phases.accounts.verify import VerifyPanel
from mailmig_tui.ui.screens.base import PhaseScreen


class AccountsScreen(PhaseScreen):
    MODE = Phase.ACCOUNTS.value
    PHASE = Phase.ACCOUNTS
    HELP = N_(
        "# 4. Account sync\n\n"
        "The same users on the new platform, their passwords handed out privately, and every mailbox copied "
        "across: once before the MX cutover (**pre-stage**) and again after it for what still arrived at the "
        "old provider (**delta**).\n\n"
        "Tabs: **Checklist**; **Users**; **Copy**; **Verify**.\n\n"
        "## Users\n\n"
        "One row per user: which passwords the credential store holds (old✓ new✓; new= means the new password "
        "is the old one; ✗ none stored), and the last login check on the old IMAP, the new IMAP and the new "
        "SMTP server: ✓ ok, ✗ refused (wrong password or no such account: most servers do not say which), "
        "? unreachable, ? no password, – not set (not configured in the project, not checked). The line below "
        "the table gives the server's own words for the highlighted user.\n\n"
        "- **c** checks every user, **k** the highlighted one, **x** stops a check (as `mailmig accounts "
        "check`; the results are saved in the project).\n"
        "- **o** / **n** set the highlighted user's old / new password; **g** generates a new password and shows "
        "it once; **s** makes the new password the same as the old one (staff keep their password).\n"
        "- **i** imports a CSV of users and passwords, like `mailmig users import`.\n\n"
        "Passwords go to the credential store only: never to the project file, a log or the screen (except a "
        "generated one, shown once). `mailmig accounts export` writes the new provider's bulk-import file.\n\n"
        "## Copy\n\n"
        "Every user's mail copied to the new provider (as `mailmig copy`): all folders, flags, dates, "
        "byte-identical, never twice (an identity map beside the project remembers what is there). The overall "
        "line says whether this is the pre-stage or the delta pass, with the throughput, time left and failures; "
        "one row per user as on the Backup tab, and **Fold.** the folders of its plan (⟲ renamed ones).\n\n"
        "- **a** copies every user, **u** the highlighted one.\n"
        "- **p** pauses after the current batch; **p** again continues. **c** cancels after asking; **r** "
        "resumes: only what is missing is copied.\n"
        "- **f** shows the highlighted user's folder plan: each source folder, its target name and why "
        "(special-use folders mapped, names the target cannot hold renamed, excludes from `[copy]`).\n"
        "- **o** switches the source: the old provider, or the local backup archive (no second download from "
        "a slow or throttled old provider; as `mailmig copy --source archive`).\n\n"
        "## Verify\n\n"
        "**v** proves the copy for every user (as `mailmig verify --copy`): per folder the source's messages "
        "against the target's by content hash. **Missing**, **Extra** and **Differ** count what does not match; "
        "**d** (or Enter) lists them for the highlighted user. **x** stops.\n"
    )

    def extra_panes(self) -> ComposeResult:
        with TabPane(_("Users"), id="tab-users"):
            yield UsersPanel()
        with TabPane(_("Copy"), id="tab-copy"):
            yield CopyPanel()
        with TabPane(_("Verify"), id="tab-verify"):
            yield VerifyPanel()
