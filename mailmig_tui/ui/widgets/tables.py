"""Tables reused on several screens: users (all or a role, with CSV import) and the activity log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable
from textual.worker import Worker, WorkerState

from mailmig_tui.core.credentials import open_credentials
from mailmig_tui.core.i18n import N_, _
from mailmig_tui.core.model import ROLE_LABELS
from mailmig_tui.core.users_import import ImportResult, ParsedCsv, Row, apply_import, parse_users_csv, read_csv_file
from mailmig_tui.ui.project_view import ProjectView
from mailmig_tui.ui.widgets.dialogs import ConfirmDialog, Field, FormDialog, InfoDialog
from mailmig_tui.ui.widgets.passphrase import prompt_for, with_passphrase


def _csv_problem(text: str) -> str | None:
    path = Path(text.strip()).expanduser()
    return None if path.is_file() else _("no such file: {path}").format(path=path)


class UserTable(ProjectView, DataTable[Text | str]):
    """The project's users; `role` limits it to e.g. the pilot testers. `i` imports a users CSV."""
    EDITING_ACTIONS = frozenset({"import_csv"})

    BINDINGS = [Binding("i", "import_csv", N_("Import CSV"), id="users.import")]

    def __init__(self, role: str | None = None, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", **kwargs)
        self.role = role

    def on_mount(self) -> None:
        self.refresh_project()

    def on_resize(self) -> None:
        self.refresh_project()

    def refresh_project(self) -> None:
        project = self.project
        self.clear(columns=True)
        # fixed columns, each with two cells of padding, and the scrollbar; the new login takes the rest
        rest = max(12, (self.size.width or 80) - (24 + 10 + 12 + 6) - 10 - 1)
        self.add_column(_("Email"), width=24)
        self.add_column(_("Name"), width=10)
        self.add_column(_("Department"), width=12)
        self.add_column(_("Role"), width=6)
        self.add_column(_("New login"), width=rest)
        users = [u for u in project.users if self.role is None or u.role == self.role]
        for u in users:
            self.add_row(u.email, u.display_name, u.department, _(ROLE_LABELS.get(u.role, u.role)),
                         u.effective_new_login, key=u.email)
        if not users:
            self.add_row(Text(_("No users yet: press i to import a CSV (email, old_password, …)."), style="italic"),
                         "", "", "", "")

    # --- CSV import: the same rules as `mailmig users import` ------------------------------------

    def action_import_csv(self) -> None:
        if not self.mailmig.check_writable():
            return
        field = Field("path", _("CSV file with the columns email, old_password (display_name, department, "
                                "old_login, new_login, new_password optional)"),
                      "", "users.csv", _csv_problem)
        self.app.push_screen(FormDialog(_("Import users"), [field], submit=_("Read")), self._read_csv)

    def _read_csv(self, values: dict[str, str] | None) -> None:
        if not values:
            return
        path = Path(values["path"].strip()).expanduser()
        try:
            parsed = parse_users_csv(read_csv_file(path))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            self.app.notify(_("{file}: {error}").format(file=path, error=exc), title=_("Not imported"),
                            severity="error", timeout=10)
            return
        if not parsed.rows:
            self.app.notify(_("no users to import in {file}").format(file=path), title=_("Not imported"),
                            severity="error")
            return
        if parsed.bad:
            self._confirm_bad_rows(path, parsed)
        else:
            with_passphrase(self.app, lambda passphrase: self._import(parsed.rows, passphrase))

    def _confirm_bad_rows(self, path: Path, parsed: ParsedCsv) -> None:
        listing = "\n".join(_("line {line}: {reason}").format(line=b.line, reason=b.reason) for b in parsed.bad)

        def answered(skip: bool | None) -> None:
            if skip:
                with_passphrase(self.app, lambda passphrase: self._import(parsed.rows, passphrase))
            else:
                self.app.notify(_("Nothing imported: fix the bad rows in {file}.").format(file=path),
                                title=_("Not imported"), severity="warning")

        def shown(_result: object) -> None:
            self.app.push_screen(ConfirmDialog(
                _("{bad} bad row(s). Import the {good} good rows and skip the bad ones?").format(
                    bad=len(parsed.bad), good=len(parsed.rows))), answered)

        self.app.push_screen(InfoDialog(_("Bad rows in {file}").format(file=path), listing), shown)

    def _import(self, rows: list[Row], passphrase: str | None) -> None:
        store = self.mailmig.store

        def work() -> ImportResult:
            # the keyring or the encrypted file (scrypt) can take a moment: not on the UI thread
            return apply_import(store, open_credentials(prompt_for(passphrase)), rows)

        self.run_worker(work, name=_("User import"), group="users-import", thread=True, exit_on_error=False)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "users-import" and event.state == WorkerState.SUCCESS:
            result = event.worker.result
            assert isinstance(result, ImportResult)
            self.mailmig.refresh_screen()
            self.app.notify(_("Imported {added} new and {updated} existing users; passwords are in the credential "
                              "store, never in the project file.").format(added=result.added, updated=result.updated),
                            title=_("Users"))


class EventLog(ProjectView, DataTable[Text | str]):
    """Who did what, newest first: the project's short event log."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", **kwargs)

    def on_mount(self) -> None:
        self.refresh_project()

    def refresh_project(self) -> None:
        project = self.project
        self.clear(columns=True)
        self.add_column(_("When"), width=16)
        self.add_column(_("Who"), width=10)
        self.add_column(_("What"), width=max(20, self.size.width - 32) if self.size.width else 48)
        for event in reversed(project.events):
            self.add_row(event.at.astimezone().strftime("%Y-%m-%d %H:%M"), event.who, event.what)
