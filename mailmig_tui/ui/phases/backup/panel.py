"""The Backup tab: back up every mailbox from the old provider, watch it, pause, cancel, resume, verify,
repair.

The engine (core/backup/engine.py) and the verifier run in a Textual thread worker and push their events
into the shared run view (`ui/widgets/run_view.py`: its EventBuffer coalesces them, a timer drains and
redraws a few times a second). This tab adds the credentials line, the Verify column and the verify
events, and its keys.

Everything the tab shows comes from `apply_event`, which tests and screenshots call with a fixed
sequence of events and a fake clock (`panel.clock`) to get the same picture every time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.timer import Timer
from textual.widgets import DataTable, Static
from textual.worker import Worker, WorkerState

from mailmig_tui.core import clock
from mailmig_tui.core.backup.engine import (
    BackupEngine,
    BackupOptions,
    Controls,
    Reconnected,
    Retrying,
    RunStarted,
    RunSummary,
    default_dest,
)
from mailmig_tui.core.backup.summary import last_run_line, record_result, run_record, verify_record
from mailmig_tui.core.backup.verify import FolderCheck, UserCheck, repair_archive, verify_archive
from mailmig_tui.core.credentials import (
    PassphrasePrompt,
    default_file_path,
    describe_backend,
    needs_passphrase,
    open_credentials,
)
from mailmig_tui.core.i18n import N_, _
from mailmig_tui.core.model import Project
from mailmig_tui.core.store import ProjectStore
from mailmig_tui.ui.project_view import ProjectView
from mailmig_tui.ui.widgets.dialogs import ConfirmDialog
from mailmig_tui.ui.widgets.passphrase import prompt_for, tilde, with_passphrase
from mailmig_tui.ui.widgets.run_view import (
    STANDARD_COLUMNS,
    Column,
    EventBuffer,
    RunView,
    UserRow,
    text_bar,
)

__all__ = ["BackupPanel", "CredentialsReady", "EventBuffer", "RepairStarted", "VerifyFinished", "VerifyStarted",
           "text_bar"]

# --- the tab's own events (besides the engine's and the verifier's) -------------------------------


@dataclass(frozen=True, slots=True)
class CredentialsReady:
    """The worker unlocked the credential store: say which one is in use."""

    description: str


@dataclass(frozen=True, slots=True)
class VerifyStarted:
    users: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class VerifyFinished:
    users: int
    users_ok: int


@dataclass(frozen=True, slots=True)
class RepairStarted:
    users: tuple[str, ...]
    messages: dict[str, int]


def _span(seconds: float) -> str:
    """12s, 4m10s, 1h05m: how long, from the event itself (the same picture whatever the clock)."""
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


@dataclass(frozen=True)
class BackupResult:
    summary: RunSummary
    started: Any  # datetime
    finished: Any
    dest: Path


@dataclass(frozen=True)
class VerifyResult:
    results: list[UserCheck]
    at: Any  # datetime
    dest: Path


class _VerifyStopped(Exception):
    """Raised from the verifier's event callback to stop it (verify_archive has no controls)."""


def _verify_cell(row: UserRow) -> Text:
    check = row.check
    if row.checking:
        return Text("…")
    if check is None:
        return Text("")
    if check.ok:
        return Text("✓ " + _("ok"), style="bold green")
    return Text("✗ " + (_("error") if check.error else _("differs")), style="bold red")


COLUMNS: list[Column] = [*STANDARD_COLUMNS, Column("verify", N_("Verify"), 7, cell=_verify_cell)]


class BackupPanel(ProjectView, Vertical):
    """Per-user progress of a backup of the old provider, with an overall line, and the verify result."""

    BINDINGS = [
        Binding("b", "start", N_("Back up"), id="backup.start"),
        Binding("r", "resume", N_("Resume"), id="backup.resume"),
        Binding("p", "pause", N_("Pause"), id="backup.pause"),
        Binding("c", "stop", N_("Cancel"), id="backup.cancel"),
        Binding("v", "verify", N_("Verify"), id="backup.verify"),
        Binding("f", "repair", N_("Repair"), id="backup.repair"),
    ]
    DEFAULT_CSS = """
    BackupPanel { height: 1fr; }
    BackupPanel > #backup-info { height: auto; padding: 0 1; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.engine_options: dict[str, Any] = {}  # BackupOptions overrides (tests: small batches)
        self.view = RunView(COLUMNS, prefix="backup", latest=(FolderCheck,))
        self.view.extra_event = self._extra_event
        self.view.status = self._status_words
        self.view.idle_lines = self._idle_lines
        self.view.describe = self._describe
        self.view.redraw = lambda now: self.refresh_view(now)  # looked up on each drain (tests wrap it)
        self.controls: Controls | None = None
        self._verify_stop = threading.Event()
        self.worker_running = False  # a backup or verify worker is running (what the keys may do)
        self.verify_active = False
        self.verify_result: tuple[int, int] | None = None
        self.problem = ""  # the last run's or verify's failure, shown until the next start
        self.credentials_text = ""
        self._closing = False

    # The run's state lives in the shared view; these keep the tab's own vocabulary.
    @property
    def clock(self) -> Callable[[], float]:
        return self.view.clock

    @clock.setter
    def clock(self, value: Callable[[], float]) -> None:
        self.view.clock = value

    @property
    def buffer(self) -> EventBuffer:
        return self.view.buffer

    @property
    def rows(self) -> dict[str, UserRow]:
        return self.view.rows

    @property
    def summary(self) -> RunSummary | None:
        return self.view.summary

    @property
    def paused(self) -> bool:
        return self.view.paused

    @property
    def stopping(self) -> bool:
        return self.view.stopping

    @property
    def resumable(self) -> bool:
        return self.view.resumable

    @property
    def run_active(self) -> bool:
        return self.view.run_active

    @property
    def _timer(self) -> Timer | None:
        return self.view.timer

    @property
    def table(self) -> DataTable[Text]:
        return self.view.table

    def compose(self) -> ComposeResult:
        yield Static(id="backup-info")
        yield self.view

    def on_mount(self) -> None:
        self.refresh_project()

    def on_unmount(self) -> None:
        # The app is closing: stop the engine at its next checkpoint so the process can end cleanly
        # (what is already on disk is kept and a later run resumes it).
        self._closing = True
        if self.controls is not None:
            self.controls.cancel()
        self._verify_stop.set()

    # --- what the project says ------------------------------------------------------------------

    def refresh_project(self) -> None:
        """The project changed (or the tab was built): new users show up while nothing runs."""
        self.view.domain = self.project.domain
        if not self.worker_running:
            self.view.set_users([u.email for u in self.project.users])
        self.refresh_view()

    def _credentials(self) -> str:
        if self.credentials_text:
            return self.credentials_text
        if needs_passphrase():
            return _("encrypted file {path}").format(path=tilde(default_file_path())) + " · " + _("locked")
        return tilde(describe_backend())

    def _tls_warnings(self) -> list[str]:
        lines = []
        for label, provider in ((_("old provider"), self.project.old), (_("new provider"), self.project.new)):
            imap = provider.imap
            if not imap.tls_verify:
                lines.append("⚠ " + _("{provider}: any certificate accepted (tls_verify = false)").format(provider=label))
            elif imap.tls_fingerprint:
                lines.append("⚠ " + _("{provider}: self-signed certificate accepted (pinned {fp})").format(
                    provider=label, fp=imap.tls_fingerprint[:15] + "…"))
        return lines

    # --- events ---------------------------------------------------------------------------------

    def apply_event(self, event: Any, at: float | None = None, *, refresh: bool = True) -> None:
        """Take one event of the engine, the verifier or this tab into the rows (and redraw)."""
        self.view.apply_event(event, at, refresh=refresh)

    def _extra_event(self, event: Any, now: float) -> None:
        view = self.view
        if isinstance(event, RunStarted):
            self.verify_result = None
        elif isinstance(event, CredentialsReady):
            self.credentials_text = tilde(event.description)
        elif isinstance(event, VerifyStarted):
            self.verify_active, self.verify_result = True, None
            for email in event.users:
                row = view.row(email)
                row.check, row.checking = None, True
        elif isinstance(event, FolderCheck):
            view.row(event.user).checking = True
        elif isinstance(event, UserCheck):
            row = view.row(event.user)
            row.check, row.checking = event, False
        elif isinstance(event, VerifyFinished):
            self.verify_active, self.verify_result = False, (event.users, event.users_ok)
            for row in self.rows.values():
                row.checking = False
            view.touch()
        elif isinstance(event, Retrying):
            # The server is down or throttling: say so, why, and when the next try and the give-up are.
            left = max(0.0, event.give_up_at - (event.next_try - event.delay)) if event.give_up_at else 0.0
            view.row(event.user).note = _("waiting for the server: {reason}; next try in {delay}, gives up in {left}").format(
                reason=event.reason, delay=_span(event.delay), left=_span(left))
        elif isinstance(event, Reconnected):
            row = view.row(event.user)
            if row.state == "retrying":
                row.state, row.note = "running", ""
        elif isinstance(event, RepairStarted):
            self.problem = ""
            for email in event.users:
                view.row(email).note = _("repairing {n} messages").format(n=event.messages.get(email, 0))

    def _drain(self) -> None:
        self.view.drain()

    # --- drawing --------------------------------------------------------------------------------

    def refresh_view(self, now: float | None = None) -> None:
        if not self.is_mounted:
            return
        info = Text(_("Credentials: {where}").format(where=self._credentials()), no_wrap=True, overflow="ellipsis")
        for line in self._tls_warnings():
            info.append("\n" + line, style="bold yellow")
        self.query_one("#backup-info", Static).update(info)
        self.view.refresh_view(now)

    def _idle_lines(self) -> str:
        first = _("Archive: {dest}").format(dest=tilde(default_dest(self.mailmig.store.path, self.project)))
        second = last_run_line(self.project) or _("No backup yet: press b to back up all {n} users.").format(
            n=len(self.rows))
        if self.verify_active or self.verify_result or self.problem:
            second = self._status_words()
        return first + "\n" + second

    def _status_words(self) -> str:
        if self.verify_active:
            done = sum(r.check is not None for r in self.rows.values())
            return "⟳ " + _("verifying {done}/{n}…").format(done=done, n=len(self.rows))
        if self.problem:
            return "✗ " + self.problem
        if not self.run_active and self.verify_result is not None:
            users, ok = self.verify_result
            if ok == users:
                return "✓ " + _("verified {ok}/{n}").format(ok=ok, n=users)
            return "✗ " + _("verify: {n} differ").format(n=users - ok)
        return self.view.run_status()

    def _describe(self, row: UserRow, text: str) -> str:
        check = row.check
        if check is not None:
            if check.ok:
                text += " · " + _("verify ✓ {folders} folders, {n} messages on the server, all archived, every file matches").format(
                    folders=check.folders, n=f"{check.on_server:,}")
            else:
                text += " · " + _("verify ✗ {what}").format(what="; ".join(([check.error] if check.error else []) + check.details[:2]))
        elif row.state == "idle":
            text = f"{row.email} · " + _("b backs up every user, v verifies the archive, F1 explains")
        return text

    # --- keys -----------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "start":
            return not self.worker_running
        if action == "resume":
            return self.resumable and not self.worker_running
        if action == "pause":
            return self.worker_running and self.controls is not None and not self.stopping
        if action == "stop":
            return self.worker_running and not self.stopping
        if action in ("verify", "repair"):
            return not self.worker_running
        return True

    def _after_state_change(self) -> None:
        label = _("Continue") if self.paused else _("Pause")
        self._bindings.key_to_bindings["p"] = [
            dataclasses.replace(b, description=label) for b in self._bindings.key_to_bindings.get("p", [])]
        self.refresh_bindings()
        self.refresh_view()

    def _with_passphrase(self, then: Callable[[str | None], None]) -> None:
        with_passphrase(self.app, then)

    def action_start(self) -> None:
        if self.worker_running:
            return
        if not self.project.users:
            self.app.notify(_("No users yet: import them with `mailmig users import`."), severity="warning")
            return
        self._with_passphrase(self._start_backup)

    def action_resume(self) -> None:
        self.action_start()

    def _start_backup(self, passphrase: str | None) -> None:
        if self.worker_running:
            return
        store = self.mailmig.store
        project = Project.from_dict(store.project.to_dict())  # the worker's threads get their own copy
        options = BackupOptions(default_dest(store.path, project), **self.engine_options)
        self.controls = Controls()
        self.view.set_paused(False)
        self.problem = ""
        self.worker_running = True
        self.run_worker(partial(self._backup_work, store, project, options, self.controls, prompt_for(passphrase)),
                        name=_("Backup"), group="backup", thread=True, exclusive=True, exit_on_error=False)
        self.view.started()
        self._after_state_change()

    def _backup_work(self, store: ProjectStore, project: Project, options: BackupOptions, controls: Controls,
                     prompt: PassphrasePrompt) -> BackupResult:
        """In a worker thread: unlock, run the engine, return what it did (saved on the UI thread)."""
        credentials = open_credentials(prompt)
        self.buffer.push(CredentialsReady(credentials.description))
        started = clock.now()
        summary = BackupEngine(project, credentials, options, on_event=self.buffer.push, controls=controls).run()
        result = BackupResult(summary, started, clock.now(), options.dest)
        if self._closing:  # the app is quitting: nobody will take the result on the UI thread
            with contextlib.suppress(Exception):  # the archive is fine either way; only the summary is lost
                store.update(lambda p: record_result(
                    p, "last_run", run_record(summary, result.started, result.finished), result.dest))
        return result

    def action_pause(self) -> None:
        if self.controls is None or not self.worker_running:
            return
        if self.paused:
            self.controls.resume()
        else:
            self.controls.pause()
        self.view.set_paused(not self.paused)
        self._after_state_change()

    def action_stop(self) -> None:
        if not self.worker_running:
            return
        question = (_("Stop verifying?") if self.controls is None else
                    _("Stop the backup? Messages already saved are kept; r resumes where it stopped."))

        def done(confirmed: bool | None) -> None:
            if not confirmed or not self.worker_running:
                return
            self.view.stopping = True
            if self.controls is not None:
                self.controls.cancel()
            self._verify_stop.set()
            self._after_state_change()

        self.app.push_screen(ConfirmDialog(question), done)

    def action_verify(self) -> None:
        if self.worker_running:
            return
        self._with_passphrase(self._start_verify)

    def _start_verify(self, passphrase: str | None, repair: bool = False) -> None:
        if self.worker_running:
            return
        store = self.mailmig.store
        project = Project.from_dict(store.project.to_dict())
        self.controls = None
        self._verify_stop = threading.Event()
        self.view.set_paused(False)
        self.view.stopping = False
        self.problem = ""
        self.worker_running = True
        self.run_worker(partial(self._verify_work, project, default_dest(store.path, project), prompt_for(passphrase),
                                self._verify_stop, repair),
                        name=_("Repair") if repair else _("Verify"), group="backup", thread=True, exclusive=True,
                        exit_on_error=False)
        if self.view.timer:
            self.view.timer.resume()
        self._after_state_change()

    def _verify_work(self, project: Project, dest: Path, prompt: PassphrasePrompt, stop: threading.Event,
                     repair: bool = False) -> VerifyResult:
        credentials = open_credentials(prompt)
        self.buffer.push(CredentialsReady(credentials.description))
        self.buffer.push(VerifyStarted(tuple(u.email for u in project.users)))

        def on_event(event: Any) -> None:
            if stop.is_set():
                raise _VerifyStopped
            self.buffer.push(event)

        results = verify_archive(project, credentials, dest, None, 0, on_event)
        if repair and any(r.repairs for r in results):
            # Fetch exactly what differs (the engine's per-user events move the rows; its run-wide ones
            # would reset the table to the users being repaired), then verify again.
            self.buffer.push(RepairStarted(tuple(r.user for r in results if r.repairs),
                                           {r.user: len(r.repairs) for r in results}))
            controls = Controls()
            self.controls = controls

            def on_repair(event: Any) -> None:
                if stop.is_set():
                    controls.cancel()
                if not isinstance(event, RunStarted | RunSummary):
                    self.buffer.push(event)

            summary = repair_archive(project, credentials, dest, results, 0, on_repair, controls)
            self.controls = None
            if summary is not None and summary.users_cancelled:
                raise _VerifyStopped
            self.buffer.push(VerifyStarted(tuple(u.email for u in project.users)))
            results = verify_archive(project, credentials, dest, None, 0, on_event)
        self.buffer.push(VerifyFinished(len(results), sum(r.ok for r in results)))
        return VerifyResult(results, clock.now(), dest)

    def action_repair(self) -> None:
        """Verify, fetch again exactly the messages that are missing or differ, verify again."""
        if self.worker_running:
            return
        self._with_passphrase(partial(self._start_verify, repair=True))

    # --- the end of a run -----------------------------------------------------------------------

    def worker_error_handled(self, worker: Worker[Any]) -> bool:
        return isinstance(worker.error, _VerifyStopped)  # a stop the user asked for, not a failure

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "backup" or event.state in (WorkerState.PENDING, WorkerState.RUNNING):
            return
        self.view.stopped()
        self.worker_running = False
        result = event.worker.result
        if event.state == WorkerState.SUCCESS and isinstance(result, BackupResult):
            self._finished_backup(result)
        elif event.state == WorkerState.SUCCESS and isinstance(result, VerifyResult):
            self.mailmig.mutate(lambda p: record_result(p, "last_verify", verify_record(result.results, result.at),
                                                        result.dest))
        elif event.state == WorkerState.ERROR and isinstance(event.worker.error, _VerifyStopped):
            self.verify_active = False
            for row in self.rows.values():
                row.checking = False
            self.problem = _("verify stopped")
        elif event.state == WorkerState.ERROR:
            self.view.run_active = self.verify_active = False
            self.problem = str(event.worker.error)  # and ProjectView reports it through the app
        self.view.touch()
        self._after_state_change()

    def _finished_backup(self, result: BackupResult) -> None:
        summary = result.summary
        self.view.resumable = bool(summary.users_cancelled)
        self.mailmig.mutate(lambda p: record_result(p, "last_run", run_record(summary, result.started, result.finished),
                                                    result.dest))
        self.app.notify(_("{ok} users backed up, {failed} failed, {stopped} stopped: {messages} messages").format(
            ok=summary.users_ok, failed=summary.users_failed, stopped=summary.users_cancelled,
            messages=f"{summary.messages:,}"), title=_("Backup"),
            severity="error" if summary.users_failed else "information")
