"""The Users tab of Account sync: each user's logins, password state and login check, with the
per-user actions (check, set / generate / "same as old" passwords, CSV import as `mailmig users import`).

The check (core/accounts/check.py, the same function as `mailmig accounts check`) runs in a thread
worker; its results arrive through the shared EventBuffer and are drawn a few times a second. Passwords
are read and written only in workers (the keyring or the encrypted file can take a moment), go to the
credential store and nowhere else; a generated one is shown once, in a dialog, and never logged.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.timer import Timer
from textual.widgets import DataTable, Static
from textual.worker import Worker, WorkerState

from mailmig_tui.core import clock
from mailmig_tui.core.accounts.check import (
    STATUSES,
    AccountCheck,
    CheckStarted,
    CheckSummary,
    SideResult,
    check_accounts,
    last_check_line,
    record_check,
    saved_results,
    saved_side,
)
from mailmig_tui.core.accounts.passwords import generate_password, password_states, same_as_old, set_password
from mailmig_tui.core.credentials import needs_passphrase, open_credentials
from mailmig_tui.core.i18n import N_, _
from mailmig_tui.core.model import Project, User
from mailmig_tui.ui.project_view import ProjectView
from mailmig_tui.ui.widgets.dialogs import Field, FormDialog, InfoDialog
from mailmig_tui.ui.widgets.passphrase import prompt_for, with_passphrase
from mailmig_tui.ui.widgets.run_view import DRAIN_SECONDS, EventBuffer, fit
from mailmig_tui.ui.widgets.tables import UserTable

# (key, header, width incl. the separating space); the new login takes what is left.
COLUMNS: list[tuple[str, str, int]] = [
    ("user", N_("User"), 15),
    ("passwords", N_("Passwords"), 10),
    ("old", N_("Old IMAP"), 14),
    ("new", N_("New IMAP"), 14),
    ("smtp", N_("New SMTP"), 14),
    ("login", N_("New login"), 0),
]
MIN_LOGIN = 8
STYLES = {"ok": "bold green", "checking": "", "not_configured": "dim", "unreachable": "bold yellow",
          "no_password": "bold yellow"}


@dataclass(frozen=True, slots=True)
class PasswordStates:
    """Which passwords are stored, per user: (old stored, new stored, new equals old)."""

    states: dict[str, tuple[bool, bool, bool]]
    description: str


def _status_cell(result: SideResult | None) -> Text:
    if result is None:
        return Text("")
    symbol, word, _meaning = STATUSES.get(result.status, STATUSES["error"])
    return Text(f"{symbol} {_(word)}", style=STYLES.get(result.status, "bold red"))


class AccountsTable(UserTable):
    """The users with their password state and check results (and `i` to import a CSV, as UserTable)."""

    DEFAULT_CSS = "AccountsTable { height: 1fr; }"

    def __init__(self, panel: UsersPanel, **kwargs: Any) -> None:
        super().__init__(cell_padding=0, **kwargs)
        self.panel = panel
        self._login_width = MIN_LOGIN
        self._drawn: tuple[Any, ...] | None = None  # what the rows were built from (skip identical rebuilds)

    def on_resize(self) -> None:
        fixed = sum(w for _k, _h, w in COLUMNS)
        self._login_width = max(MIN_LOGIN, (self.size.width or 80) - fixed - 1)
        self.refresh_project()

    def refresh_project(self) -> None:
        panel = self.panel
        project = self.project
        section = project.sections.get("accounts")
        drawn = (tuple((u.email, u.effective_new_login) for u in project.users), self._login_width,
                 repr(section.get("last_check")) if isinstance(section, dict) else "", project.domain)
        if not self.size.width:  # not laid out yet: on_resize draws it once the width is known
            return
        if drawn == self._drawn:  # 5,000 users: rebuilding costs seconds; live results update cells in place
            panel.show_detail()
            return
        self._drawn = drawn
        panel.saved = saved_results(project)  # once per redraw, not once per cell
        cursor = self.cursor_row
        self.clear(columns=True)
        for key, header, width in COLUMNS:
            self.add_column(fit(_(header), width or self._login_width, lead=key != "user", style="bold"), key=key,
                            width=width or self._login_width)
        users = self.project.users
        for user in users:
            self.add_row(*self.cells(user), key=user.email)
        if not users:
            self.add_row(Text(_("No users yet: press i to import a CSV (email, old_password, …)."), style="italic"),
                         *[""] * (len(COLUMNS) - 1))
        elif cursor:
            self.move_cursor(row=min(cursor, len(users) - 1))
        panel.show_detail()

    def cells(self, user: User) -> list[Text]:
        panel = self.panel
        widths = {k: w or self._login_width for k, _h, w in COLUMNS}
        result = panel.result_of(user.email)
        values: dict[str, str | Text] = {
            "user": panel.short_user(user.email),
            "passwords": panel.password_text(user.email),
            "old": _status_cell(result.get("old")),
            "new": _status_cell(result.get("new")),
            "smtp": _status_cell(result.get("smtp")),
            "login": user.effective_new_login if user.effective_new_login != user.email else "=",
        }
        return [fit(values[k], widths[k], lead=k != "user") for k, _h, _w in COLUMNS]

    def update_user(self, email: str) -> None:
        try:
            user = self.project.user(email)
        except KeyError:
            return
        try:
            for (key, *_rest), value in zip(COLUMNS, self.cells(user), strict=True):
                self.update_cell(email, key, value)
        except Exception:  # the row is not there (the table is being rebuilt): the rebuild draws it
            return

    def highlighted_email(self) -> str | None:
        if not self.row_count or not self.project.users:
            return None
        try:
            return str(self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value)
        except Exception:
            return None

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.panel.show_detail()


class UsersPanel(ProjectView, Vertical):
    """The Users tab: the check line, the table, the highlighted user's details."""

    BINDINGS = [
        Binding("c", "check_all", N_("Check"), id="accounts.check"),
        Binding("k", "check_one", N_("Check 1"), id="accounts.check_one"),
        Binding("x", "stop_check", N_("Stop"), id="accounts.stop"),
        Binding("o", "set_password('old')", N_("Old pw"), id="accounts.old_password"),
        Binding("n", "set_password('new')", N_("New pw"), id="accounts.new_password"),
        Binding("g", "generate", N_("Gen pw"), id="accounts.generate"),
        Binding("s", "same_as_old", N_("Same pw"), id="accounts.same"),
    ]
    DEFAULT_CSS = """
    UsersPanel { height: 1fr; }
    UsersPanel > #accounts-info { height: 1; padding: 0 1; }
    UsersPanel > #accounts-detail { height: auto; max-height: 2; padding: 0 1; color: $text-muted; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.buffer = EventBuffer()
        self.live: dict[str, dict[str, SideResult]] = {}  # this session's results (and "checking")
        self.saved: dict[str, dict[str, Any]] = {}  # the project's saved results, read at each redraw
        self.passwords: dict[str, tuple[bool, bool, bool]] | None = None  # None: store not read yet
        self.checking = False
        self.check_total = 0
        self.check_done = 0
        self.summary: CheckSummary | None = None
        self.smtp_configured = True
        self._cancel = threading.Event()
        self._timer: Timer | None = None
        self.table = AccountsTable(self, id="accounts-table")

    def compose(self) -> ComposeResult:
        yield Static(id="accounts-info")
        yield self.table
        yield Static(id="accounts-detail")

    def on_mount(self) -> None:
        self._timer = self.set_interval(DRAIN_SECONDS, self._drain, pause=True)
        self.show_info()
        if not needs_passphrase():  # the store is open already (keyring, MAILMIG_PASSPHRASE, unlocked)
            self.load_passwords(None)

    def refresh_project(self) -> None:
        self.show_info()
        self.show_detail()

    def load_passwords(self, passphrase: str | None) -> None:
        """Read which passwords are stored (in a worker: the store can take a moment)."""
        project = Project.from_dict(self.project.to_dict())

        def work() -> None:
            creds = open_credentials(prompt_for(passphrase))
            self.buffer.push(PasswordStates(password_states(project, creds, project.users),
                                            creds.description))

        self.run_worker(work, name=_("Passwords"), group="accounts-password", thread=True, exit_on_error=False)

    def on_unmount(self) -> None:
        self._cancel.set()

    # --- what each cell says -------------------------------------------------------------------

    def short_user(self, email: str) -> str:
        local, _at, domain = email.partition("@")
        return local if domain.lower() == self.project.domain.lower() else email

    def result_of(self, email: str) -> dict[str, SideResult]:
        if email in self.live:
            return self.live[email]
        record = self.saved.get(email)
        if record is None:
            return {}
        return {side: saved_side(record, side) for side in ("old", "new", "smtp")}

    def password_text(self, email: str) -> Text:
        if self.passwords is None:
            return Text("old? new?", style="dim")
        old, new, same = self.passwords.get(email, (False, False, False))
        text = Text()
        text.append("old" + ("✓" if old else "✗"), style="" if old else "bold yellow")
        text.append(" new" + ("=" if same else "✓" if new else "✗"), style="" if new else "bold yellow")
        return text

    def show_info(self) -> None:
        if not self.is_mounted:
            return
        if self.checking:
            line = "⟳ " + _("checking logins {done}/{n}…").format(done=self.check_done, n=self.check_total)
        elif self.summary is not None:
            s = self.summary
            line = ("✓ " if s.users_ok == s.users else "✗ ") + _("{ok}/{n} users ok ({seconds:.1f}s)").format(
                ok=s.users_ok, n=s.users, seconds=s.seconds)
        else:
            line = last_check_line(self.project) or _("Logins not checked yet: c checks every user, k the highlighted one.")
        if not self.project.new.smtp.host:
            line += " · " + _("new SMTP not set: not checked")
        self.query_one("#accounts-info", Static).update(Text(line, no_wrap=True, overflow="ellipsis"))

    def show_detail(self) -> None:
        if not self.is_mounted:
            return
        email = self.table.highlighted_email()
        detail = self.query_one("#accounts-detail", Static)
        if email is None:
            detail.update(_("No users yet: import them with `mailmig users import`."))
            return
        user = self.project.user(email)
        result = self.result_of(email)
        if not result:
            text = _("{email}: old login {old}, new login {new} · c checks all, k this user, g generates a new "
                     "password, s makes it the old one").format(email=email, old=user.effective_old_login,
                                                                new=user.effective_new_login)
        else:
            text = f"{email}: " + " · ".join(
                f"{label} {result[side].describe()}" for side, label in
                (("old", _("old")), ("new", _("new")), ("smtp", _("SMTP"))) if side in result)
        detail.update(Text(text))

    # --- the check ------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("check_all", "check_one"):
            return not self.checking
        if action == "stop_check":
            return self.checking
        return True

    def action_check_all(self) -> None:
        self._check(None)

    def action_check_one(self) -> None:
        email = self.table.highlighted_email()
        if email is not None:
            self._check([email])

    def _check(self, emails: list[str] | None) -> None:
        if self.checking:
            return
        if not self.project.users:
            self.app.notify(_("No users yet: import them with `mailmig users import`."), severity="warning")
            return
        with_passphrase(self.app, partial(self._start_check, emails))

    def _start_check(self, emails: list[str] | None, passphrase: str | None) -> None:
        if self.checking:
            return
        store = self.mailmig.store
        project = Project.from_dict(store.project.to_dict())  # the worker's own copy
        users = [u for u in project.users if emails is None or u.email in emails]
        self._cancel = threading.Event()
        self.checking, self.summary = True, None
        self.check_total, self.check_done = len(users), 0
        for user in users:
            self.live[user.email] = {side: SideResult("checking") for side in ("old", "new", "smtp")}
            self.table.update_user(user.email)
        self.run_worker(partial(self._check_work, project, users, prompt_for(passphrase), self._cancel),
                        name=_("Login check"), group="accounts-check", thread=True, exclusive=True, exit_on_error=False)
        if self._timer:
            self._timer.resume()
        self.refresh_bindings()
        self.show_info()

    def _check_work(self, project: Project, users: list[User], prompt: Any, cancel: threading.Event) -> list[AccountCheck]:
        credentials = open_credentials(prompt)
        self.buffer.push(PasswordStates(password_states(project, credentials, project.users),
                                        credentials.description))
        return check_accounts(project, credentials, users, self.buffer.push, cancel)

    def action_stop_check(self) -> None:
        self._cancel.set()
        self.app.notify(_("Stopping the check after the logins under way…"), timeout=4)

    def _drain(self) -> None:
        for event in self.buffer.drain():
            self.apply_event(event)
        self.show_info()
        self.show_detail()

    def apply_event(self, event: Any) -> None:
        """Take one event of the check or a password worker (tests and screenshots call this too)."""
        if isinstance(event, CheckStarted):
            self.smtp_configured = event.smtp
        elif isinstance(event, AccountCheck):
            self.live[event.user] = {"old": event.old, "new": event.new, "smtp": event.smtp}
            self.check_done += 1
            self.table.update_user(event.user)
        elif isinstance(event, CheckSummary):
            self.summary = event
        elif isinstance(event, PasswordStates):
            self.passwords = dict(event.states)
            for email in event.states:
                self.table.update_user(email)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        group = event.worker.group
        if group not in ("accounts-check", "accounts-password") or event.state in (WorkerState.PENDING, WorkerState.RUNNING):
            return
        self._drain()
        if group == "accounts-check":
            self.checking = False
            if self._timer:
                self._timer.pause()
            # users the check never reached (stopped, or it failed) are not "checking" any more
            for email, sides in list(self.live.items()):
                if any(r.status == "checking" for r in sides.values()):
                    del self.live[email]
                    self.table.update_user(email)
            results = event.worker.result if event.state == WorkerState.SUCCESS else None
            if isinstance(results, list) and results:
                at = clock.now()
                self.mailmig.mutate(lambda p: record_check(p, results, at))
                ok = sum(r.ok for r in results)
                self.app.notify(_("{ok}/{n} users logged in on every side").format(ok=ok, n=len(results)),
                                title=_("Login check"), severity="information" if ok == len(results) else "error")
            self.refresh_bindings()
        elif event.state == WorkerState.SUCCESS:
            message = event.worker.result
            if isinstance(message, tuple):
                title, body = message
                self.app.push_screen(InfoDialog(title, body))  # a generated password: shown this once
            elif isinstance(message, str):
                self.app.notify(message, title=_("Passwords"))
        # errors: ProjectView (the table) and the app report them; nothing else to undo here
        self.show_info()
        self.show_detail()

    # --- passwords ------------------------------------------------------------------------------

    def _with_user(self, then: Callable[[User], None]) -> None:
        email = self.table.highlighted_email()
        if email is None:
            return
        then(self.project.user(email))

    def action_set_password(self, side: str) -> None:
        def ask(user: User) -> None:
            login = user.effective_old_login if side == "old" else user.effective_new_login
            title = (_("Old password of {login}") if side == "old" else _("New password of {login}")).format(login=login)
            fields = [Field("password", _("Password"), password=True, validate=lambda v: None if v else _("type the password")),
                      Field("repeat", _("Repeat the password"), password=True)]

            def done(values: dict[str, str] | None) -> None:
                if not values:
                    return
                if values["password"] != values["repeat"]:
                    self.app.notify(_("the two passwords differ"), severity="error")
                    return
                secret = values["password"]
                with_passphrase(self.app, lambda phrase: self._password_work(
                    user, lambda project, creds: self._store(project, creds, user, side, secret), phrase))

            self.app.push_screen(FormDialog(title, fields, submit=_("Store")), done)

        self._with_user(ask)

    def _store(self, project: Project, creds: Any, user: User, side: str, secret: str) -> str:
        set_password(project, creds, user, side, secret)
        return _("{side} password of {login} stored in {where}").format(
            side=_("old") if side == "old" else _("new"), login=user.effective_old_login if side == "old"
            else user.effective_new_login, where=creds.description)

    def action_generate(self) -> None:
        def go(user: User) -> None:
            with_passphrase(self.app, lambda phrase: self._password_work(user, partial(self._generate, user), phrase))

        self._with_user(go)

    def _generate(self, user: User, project: Project, creds: Any) -> tuple[str, Text]:
        secret = generate_password()
        set_password(project, creds, user, "new", secret)
        body = Text()
        body.append(_("New password of {login}:").format(login=user.effective_new_login) + "\n\n")
        body.append(f"  {secret}\n\n", style="bold reverse")
        body.append(_("Shown this once: give it to the user privately (not by mail to the old address). It is stored "
                      "in {where} for the copy and the import file, never in the project file or a log.").format(
            where=creds.description))
        return _("Generated password"), body

    def action_same_as_old(self) -> None:
        def go(user: User) -> None:
            with_passphrase(self.app, lambda phrase: self._password_work(user, partial(self._same, user), phrase))

        self._with_user(go)

    def _same(self, user: User, project: Project, creds: Any) -> str:
        same_as_old(project, creds, user)
        return _("{login}: the new password is now the old one").format(login=user.effective_new_login)

    def _password_work(self, user: User, change: Callable[[Project, Any], Any], passphrase: str | None) -> None:
        store = self.mailmig.store
        project = Project.from_dict(store.project.to_dict())

        def work() -> Any:
            creds = open_credentials(prompt_for(passphrase))
            result = change(project, creds)
            self.buffer.push(PasswordStates(password_states(project, creds, project.users),
                                            creds.description))
            return result

        self.run_worker(work, name=_("Passwords"), group="accounts-password", thread=True, exit_on_error=False)
