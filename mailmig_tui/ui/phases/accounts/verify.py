"""The Verify tab of Account sync: proves the copy per user (core/copy/verify.py, the same check as
`mailmig verify --copy`): per user and folder, the source's messages against the target's by content
hash, listing exactly what is missing, extra or different. The result is saved in `[copy.last_verify]`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import partial
from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.timer import Timer
from textual.widgets import DataTable, Static
from textual.worker import Worker, WorkerState

from mailmig_tui.core import clock
from mailmig_tui.core.copy import CopyOptions
from mailmig_tui.core.copy.config import default_copy_dir, project_copy_config
from mailmig_tui.core.copy.summary import last_copy_line, record_copy_verify, user_copy_state
from mailmig_tui.core.copy.verify import CopyCheck, FolderCopyCheck, verify_copy
from mailmig_tui.core.credentials import PassphrasePrompt, open_credentials
from mailmig_tui.core.i18n import N_, _
from mailmig_tui.core.model import Project
from mailmig_tui.ui.project_view import ProjectView
from mailmig_tui.ui.widgets.dialogs import ConfirmDialog, InfoDialog
from mailmig_tui.ui.widgets.passphrase import prompt_for, with_passphrase
from mailmig_tui.ui.widgets.run_view import DRAIN_SECONDS, EventBuffer, count, fit

COLUMNS: list[tuple[str, str, int, bool]] = [
    ("user", N_("User"), 14, False),
    ("state", N_("Result"), 16, False),
    ("folders", N_("Folders"), 8, True),
    ("source", N_("Source"), 8, True),
    ("target", N_("Target"), 8, True),
    ("missing", N_("Missing"), 8, True),
    ("extra", N_("Extra"), 7, True),
    ("different", N_("Differ"), 7, True),
]


@dataclass(frozen=True, slots=True)
class VerifyStarted:
    users: tuple[str, ...]


class _Stopped(Exception):
    """Raised from the verifier's event callback to stop it (verify_copy has no controls)."""


def differences(check: CopyCheck) -> Table:
    """Every folder of a user with what is missing, extra or different (the first of each, counted)."""
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False, expand=True)
    table.add_column(_("Folder"), ratio=3, overflow="fold")
    table.add_column(_("Source/target"), ratio=2)
    table.add_column(_("What differs"), ratio=5, overflow="fold")
    if check.error:
        table.add_row("—", "", Text("✗ " + check.error, style="bold red"))
    for fc in check.folder_checks:
        what = []
        for label, n, items in ((_("missing"), fc.n_missing, fc.missing), (_("extra"), fc.n_extra, fc.extra),
                                (_("different"), fc.n_different, fc.different)):
            if n:
                what.append(f"{label} {n}: " + "; ".join(items[:3]) + (" …" if n > 3 else ""))
        table.add_row(f"{fc.source_folder} → {fc.target_folder}", f"{fc.source_count}/{fc.target_count}",
                      Text("✓ " + _("same"), style="green") if fc.ok else Text("\n".join(what), style="bold red"))
    return table


class VerifyPanel(ProjectView, Vertical):
    BINDINGS = [
        Binding("v", "verify", N_("Verify all"), id="copyverify.start"),
        Binding("x", "stop", N_("Stop"), id="copyverify.stop"),
        Binding("enter", "details", N_("Details"), id="copyverify.details", show=False),
        Binding("d", "details", N_("Details"), id="copyverify.details_d"),
    ]
    DEFAULT_CSS = """
    VerifyPanel { height: 1fr; }
    VerifyPanel > #copyverify-info { height: 1; padding: 0 1; }
    VerifyPanel > DataTable { height: 1fr; }
    VerifyPanel > #copyverify-detail { height: auto; max-height: 2; padding: 0 1; color: $text-muted; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.buffer = EventBuffer(latest=(FolderCopyCheck,))
        self.results: dict[str, CopyCheck] = {}
        self.running: set[str] = set()
        self.worker_running = False
        self.problem = ""
        self._stop = threading.Event()
        self._timer: Timer | None = None
        self._drawn: tuple[str, ...] | None = None  # the users the rows were built for

    @property
    def table(self) -> DataTable[Text]:
        return self.query_one("#copyverify-table", DataTable)

    def compose(self) -> ComposeResult:
        yield Static(id="copyverify-info")
        yield DataTable(cursor_type="row", cell_padding=0, id="copyverify-table")
        yield Static(id="copyverify-detail")

    def on_mount(self) -> None:
        self._timer = self.set_interval(DRAIN_SECONDS, self._drain, pause=True)
        self.refresh_project()

    def on_unmount(self) -> None:
        self._stop.set()

    def refresh_project(self) -> None:
        if not self.is_mounted:
            return
        emails = tuple(u.email for u in self.project.users)
        if emails == self._drawn:  # results update their rows in place; rebuild only for other users
            self.show_info()
            self.show_detail()
            return
        self._drawn = emails
        table = self.table
        cursor = table.cursor_row
        table.clear(columns=True)
        for key, header, width, right in COLUMNS:
            table.add_column(fit(_(header), width, right=right, lead=key != "user", style="bold"), key=key, width=width)
        for user in self.project.users:
            table.add_row(*self.cells(user.email), key=user.email)
        if self.project.users:
            table.move_cursor(row=min(cursor, len(self.project.users) - 1))
        self.show_info()
        self.show_detail()

    def cells(self, email: str) -> list[Text]:
        check = self.results.get(email)
        local, _at, domain = email.partition("@")
        values: dict[str, str | Text] = {"user": local if domain.lower() == self.project.domain.lower() else email}
        if email in self.running:
            values["state"] = Text("⟳ " + _("verifying"))
        elif check is None:
            saved = user_copy_state(self.project, email)  # the last verify's result, from the project file
            verdict = saved.get("verify")
            if verdict == "ok":
                values["state"] = Text("✓ " + _("same"), style="green")
            elif verdict in ("different", "error"):
                values["state"] = Text("✗ " + (_("error") if verdict == "error" else _("differs")), style="red")
            else:
                values["state"] = Text("○ " + _("not verified"), style="dim")
            if verdict in ("ok", "different"):
                values.update(missing=count(int(saved.get("verify_missing", 0) or 0)),
                              extra=count(int(saved.get("verify_extra", 0) or 0)),
                              different=count(int(saved.get("verify_different", 0) or 0)))
        elif check.error:
            values["state"] = Text("✗ " + _("error"), style="bold red")
        elif check.ok:
            values["state"] = Text("✓ " + _("same"), style="bold green")
        else:
            values["state"] = Text("✗ " + _("differs"), style="bold red")
        if check is not None and not check.error:
            values.update(folders=count(check.folders), source=count(check.source_messages),
                          target=count(check.target_messages), missing=count(check.missing), extra=count(check.extra),
                          different=count(check.different))
        return [fit(values.get(k, ""), w, right=r, lead=k != "user") for k, _h, w, r in COLUMNS]

    def _update(self, email: str) -> None:
        try:
            for (key, *_rest), value in zip(COLUMNS, self.cells(email), strict=True):
                self.table.update_cell(email, key, value)
        except Exception:  # not in the table (users changed): the next rebuild draws it
            return

    def show_info(self) -> None:
        if self.worker_running:
            done = len(self.results)
            text = "⟳ " + _("verifying the copy {done}/{n}…").format(done=done, n=done + len(self.running))
        elif self.problem:
            text = "✗ " + self.problem
        elif self.results:
            bad = sum(not c.ok for c in self.results.values())
            text = ("✗ " if bad else "✓ ") + _("{ok}/{n} users' copies the same, {bad} differ or could not be checked").format(
                ok=len(self.results) - bad, n=len(self.results), bad=bad)
        else:
            text = last_copy_line(self.project) or _("No copy yet: copy on the Copy tab, then v verifies it.")
        self.query_one("#copyverify-info", Static).update(Text(text, no_wrap=True, overflow="ellipsis"))

    def highlighted(self) -> str | None:
        table = self.table
        if not table.row_count:
            return None
        try:
            return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        except Exception:
            return None

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_detail()

    def show_detail(self) -> None:
        if not self.is_mounted:
            return
        email = self.highlighted()
        detail = self.query_one("#copyverify-detail", Static)
        if email is None:
            detail.update(_("No users yet: import them with `mailmig users import`."))
            return
        check = self.results.get(email)
        if check is None:
            detail.update(Text(f"{email} · " + _("v verifies every user's copy: source and target compared by content "
                                                 "hash, folder by folder")))
        elif check.error:
            detail.update(Text(f"✗ {email}: {check.error}"))
        elif check.ok:
            detail.update(Text(f"✓ {email}: " + _("{folders} folders, {n} messages, every one on the target, byte for "
                                                  "byte").format(folders=check.folders, n=f"{check.source_messages:,}")))
        else:
            detail.update(Text(f"✗ {email}: " + "; ".join(check.details[:2]) + " · " + _("d lists every difference")))

    # --- keys -----------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "verify":
            return not self.worker_running
        if action == "stop":
            return self.worker_running
        return True

    def action_details(self) -> None:
        email = self.highlighted()
        check = self.results.get(email) if email else None
        if check is None:
            return
        self.app.push_screen(InfoDialog(_("Copy of {email} verified").format(email=check.user), differences(check)))

    def action_verify(self) -> None:
        if self.worker_running:
            return
        if not self.project.users:
            self.app.notify(_("No users yet: import them with `mailmig users import`."), severity="warning")
            return
        with_passphrase(self.app, self._start)

    def _start(self, passphrase: str | None) -> None:
        if self.worker_running:
            return
        store = self.mailmig.store
        project = Project.from_dict(store.project.to_dict())
        try:
            config = project_copy_config(project, store.path)
            options = CopyOptions(project_path=store.path, config=config, copy_dir=default_copy_dir(store.path, config))
        except Exception as exc:
            self.app.notify(str(exc), title=_("Verify"), severity="error", timeout=10)
            return
        self._stop = threading.Event()
        self.problem = ""
        self.worker_running = True
        self.results = {}
        self.running = {u.email for u in project.users}
        for email in self.running:
            self._update(email)
        self.run_worker(partial(self._work, project, options, prompt_for(passphrase), self._stop),
                        name=_("Verify"), group="copy-verify", thread=True, exclusive=True, exit_on_error=False)
        if self._timer:
            self._timer.resume()
        self.refresh_bindings()
        self.show_info()

    def _work(self, project: Project, options: CopyOptions, prompt: PassphrasePrompt, stop: threading.Event) -> list[CopyCheck]:
        credentials = open_credentials(prompt)

        def on_event(event: Any) -> None:
            if stop.is_set():
                raise _Stopped
            self.buffer.push(event)

        return verify_copy(project, credentials, options, on_event)

    def action_stop(self) -> None:
        if not self.worker_running:
            return

        def done(confirmed: bool | None) -> None:
            if confirmed:
                self._stop.set()

        self.app.push_screen(ConfirmDialog(_("Stop verifying?")), done)

    def _drain(self) -> None:
        for event in self.buffer.drain():
            self.apply_event(event)
        self.show_info()
        self.show_detail()

    def apply_event(self, event: Any) -> None:
        if isinstance(event, VerifyStarted):
            self.running = set(event.users)
            for email in event.users:
                self.results.pop(email, None)
                self._update(email)
        elif isinstance(event, CopyCheck):
            self.results[event.user] = event
            self.running.discard(event.user)
            self._update(event.user)

    def worker_error_handled(self, worker: Worker[Any]) -> bool:
        return isinstance(worker.error, _Stopped)  # a stop the user asked for, not a failure

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "copy-verify" or event.state in (WorkerState.PENDING, WorkerState.RUNNING):
            return
        self._drain()
        self.worker_running = False
        if self._timer:
            self._timer.pause()
        unfinished, self.running = self.running, set()
        for email in unfinished:
            self._update(email)
        if event.state == WorkerState.SUCCESS and isinstance(event.worker.result, list):
            checks: list[CopyCheck] = event.worker.result
            at = clock.now()
            self.mailmig.mutate(lambda p: record_copy_verify(p, checks, at))
            bad = sum(not c.ok for c in checks)
            self.app.notify(_("{ok}/{n} users' copies verified the same").format(ok=len(checks) - bad, n=len(checks)),
                            title=_("Verify"), severity="error" if bad else "information")
        elif event.state == WorkerState.ERROR:
            self.problem = _("verify stopped") if isinstance(event.worker.error, _Stopped) else str(event.worker.error)
        self.refresh_bindings()
        self.show_info()
        self.show_detail()
