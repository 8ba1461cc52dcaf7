"""The Copy tab of Account sync: every user's mail copied old → new (core/copy, the same engine as
`mailmig copy`), watched in the shared per-user run view, with pause, cancel and resume, and the folder
plan of the highlighted user.

The engine runs in a thread worker and pushes its events into the run view's EventBuffer; the view
drains and redraws a few times a second. The run's phase (pre-stage before the MX cutover, delta after
it) comes from the engine's RunStarted and is shown in the overall line. The folder plan (source name →
target name, and why) arrives with each user's UserFolders event during a run; `f` shows it, asking the
servers for it first when no run has listed that user yet.
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from mailmig_tui.core import clock
from mailmig_tui.core.copy import CopyEngine, CopyOptions, FolderCopied, FolderMapping, UserFolders, plan_user
from mailmig_tui.core.copy.config import CopyConfig, default_copy_dir, project_copy_config
from mailmig_tui.core.copy.summary import last_copy_line, phase_label, record_copy_run, user_copy_state
from mailmig_tui.core.credentials import PassphrasePrompt, open_credentials
from mailmig_tui.core.i18n import N_, _
from mailmig_tui.core.model import Project
from mailmig_tui.core.runs import Controls, RunStarted, RunSummary, UserDone
from mailmig_tui.core.store import ProjectStore
from mailmig_tui.ui.project_view import ProjectView
from mailmig_tui.ui.widgets.dialogs import ConfirmDialog, InfoDialog
from mailmig_tui.ui.widgets.passphrase import prompt_for, tilde, with_passphrase
from mailmig_tui.ui.widgets.run_view import STANDARD_COLUMNS, STATES, Column, RunView, UserRow

PHASES = {"prestage": N_("pre-stage"), "delta": N_("delta")}


def _folders_cell(row: UserRow) -> Text:
    plan = row.extra.get("plan")
    if plan is None:
        return Text("")
    copied = sum(1 for m in plan if m.action == "copy")
    renamed = sum(1 for m in plan if m.renamed)
    return Text(f"{copied}" + (f" ⟲{renamed}" if renamed else ""))


COLUMNS: list[Column] = [*STANDARD_COLUMNS[:6], Column("folders", N_("Fold."), 6, right=True, cell=_folders_cell),
                         STANDARD_COLUMNS[6]]


@dataclass(frozen=True)
class CopyResult:
    summary: RunSummary
    users: tuple[UserDone, ...]
    phase: str
    source: str
    started: Any
    finished: Any
    copy_dir: Path


@dataclass(frozen=True)
class PlanResult:
    user: str
    mappings: tuple[FolderMapping, ...]


def plan_table(user: str, mappings: tuple[FolderMapping, ...] | list[FolderMapping]) -> Table:
    """The folder plan as a readable table: source → target (or not copied), and why."""
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False, expand=True)
    table.add_column(_("Source folder"), ratio=3, overflow="fold")
    table.add_column(_("Target folder"), ratio=3, overflow="fold")
    table.add_column(_("Why"), ratio=4, overflow="fold")
    for m in mappings:
        target = m.target_name if m.action == "copy" else ("✗ " + _("not copied"))
        mark = "⟲ " if m.renamed else ""
        table.add_row(m.source_name, mark + target, m.describe())
    if not mappings:
        table.add_row(_("(no folders)"), "", "")
    return table


class CopyPanel(ProjectView, Vertical):
    """Per-user progress of the copy to the new provider, pre-stage or delta, and the folder plans."""

    BINDINGS = [
        Binding("a", "start", N_("Copy all"), id="copy.start"),
        Binding("u", "start_user", N_("Copy user"), id="copy.start_user"),
        Binding("r", "resume", N_("Resume"), id="copy.resume"),
        Binding("p", "pause", N_("Pause"), id="copy.pause"),
        Binding("c", "stop", N_("Cancel"), id="copy.cancel"),
        Binding("f", "plan", N_("Folder plan"), id="copy.plan"),
        Binding("o", "toggle_source", N_("Source"), id="copy.source"),
    ]
    DEFAULT_CSS = """
    CopyPanel { height: 1fr; }
    CopyPanel > #copy-info { height: 1; padding: 0 1; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.engine_options: dict[str, Any] = {}  # CopyOptions overrides (tests: small batches)
        self.view = RunView(COLUMNS, prefix="copy")
        self.view.extra_event = self._extra_event
        self.view.status = self._status_words
        self.view.idle_lines = self._idle_lines
        self.view.describe = self._describe
        self.controls: Controls | None = None
        self.worker_running = False
        self.phase = ""
        self.problem = ""
        self.last_users: list[str] | None = None  # what the last run copied (r resumes the same)
        self.source = "old"  # old: read the old provider; archive: upload from the local backup
        self._closing = False

    def compose(self) -> ComposeResult:
        yield Static(id="copy-info")
        yield self.view

    def on_mount(self) -> None:
        self.refresh_project()

    def on_unmount(self) -> None:
        self._closing = True
        if self.controls is not None:
            self.controls.cancel()  # the engine stops at its next checkpoint; the map keeps what was copied

    def refresh_project(self) -> None:
        self.view.domain = self.project.domain
        if not self.worker_running:
            self.view.set_users([u.email for u in self.project.users])
        self.refresh_view()

    def refresh_view(self, now: float | None = None) -> None:
        if not self.is_mounted:
            return
        new = self.project.new.imap
        if self.source == "archive":
            where = _("from the backup archive to {new} (o: from the old provider)").format(new=new.describe())
        else:
            where = _("from the old provider {old} to {new}").format(old=self.project.old.imap.describe(),
                                                                    new=new.describe())
        self.query_one("#copy-info", Static).update(Text(where, no_wrap=True, overflow="ellipsis"))
        self.view.refresh_view(now)

    def apply_event(self, event: Any, at: float | None = None) -> None:
        self.view.apply_event(event, at)

    # --- events and words -----------------------------------------------------------------------

    def _extra_event(self, event: Any, now: float) -> None:
        if isinstance(event, RunStarted):
            self.phase = event.phase
        elif isinstance(event, UserFolders):
            self.view.row(event.user).extra["plan"] = event.mappings
        elif isinstance(event, FolderCopied):
            row = self.view.row(event.user)
            row.extra["already"] = row.extra.get("already", 0) + event.already
        elif isinstance(event, PlanResult):
            self.view.row(event.user).extra["plan"] = event.mappings

    def _phase_word(self) -> str:
        return _(PHASES[self.phase]) if self.phase in PHASES else ""

    def _status_words(self) -> str:
        if self.problem:
            return "✗ " + self.problem
        words = self.view.run_status()
        phase = self._phase_word()
        return f"{phase}: {words}" if phase and words else words

    def _copy_dir(self) -> Path:
        store = self.mailmig.store
        try:
            config = project_copy_config(self.project, store.path)
        except Exception:  # a bad [copy] section is reported when a copy starts
            config = CopyConfig()
        return default_copy_dir(store.path, config)

    def _idle_lines(self) -> str:
        first = _("Identity map: {dir}").format(dir=tilde(self._copy_dir()))
        second = (self.problem and ("✗ " + self.problem)) or last_copy_line(self.project) or _(
            "No copy yet: a copies every user ({phase}), u the highlighted one.").format(
            phase=_(PHASES["delta" if self._after_cutover() else "prestage"]))
        return first + "\n" + second

    def _after_cutover(self) -> bool:
        from datetime import datetime

        cutover = self.project.plan.dates.get("mx_cutover")
        return isinstance(cutover, datetime) and cutover <= clock.now()

    def _describe(self, row: UserRow, text: str) -> str:
        plan = row.extra.get("plan")
        if plan is not None:
            renamed = [m for m in plan if m.renamed]
            skipped = [m for m in plan if m.action != "copy"]
            text += " · " + _("{n} folders").format(n=sum(1 for m in plan if m.action == "copy"))
            if renamed:
                text += " · " + _("renamed: {names}").format(names=", ".join(f"{m.source_name} → {m.target_name}"
                                                                            for m in renamed[:2]))
            if skipped:
                text += " · " + _("not copied: {names}").format(names=", ".join(m.source_name for m in skipped[:3]))
            text += " · " + _("f shows the plan")
        elif row.state == "idle":
            saved = user_copy_state(self.project, row.email)
            text = f"{row.email} · " + _("a copies every user, u this one, f shows its folder plan, F1 explains")
            if saved.get("copied_at"):
                at = saved["copied_at"]
                when = at.strftime("%Y-%m-%d %H:%M") if hasattr(at, "strftime") else str(at)
                text = f"{row.email} · " + _("last copy {when} ({phase}): {state}, {n} messages").format(
                    when=when, phase=phase_label(str(saved.get("phase", ""))), state=_(STATES.get(str(saved.get("state")), ("", "?", ""))[1]),
                    n=f"{int(saved.get('messages', 0) or 0):,}") + (
                    f" · {saved['error']}" if saved.get("error") else "")
        return text

    # --- keys -----------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("start", "start_user", "toggle_source"):
            return not self.worker_running
        if action == "resume":
            return self.view.resumable and not self.worker_running
        if action == "pause":
            return self.worker_running and self.controls is not None and not self.view.stopping
        if action == "stop":
            return self.worker_running and not self.view.stopping
        return True

    def _after_state_change(self) -> None:
        label = _("Continue") if self.view.paused else _("Pause")
        self._bindings.key_to_bindings["p"] = [
            dataclasses.replace(b, description=label) for b in self._bindings.key_to_bindings.get("p", [])]
        self.refresh_bindings()
        self.refresh_view()

    def action_start(self) -> None:
        self._start(None)

    def action_toggle_source(self) -> None:
        """Copy from the old provider, or upload from the local backup (no second download of a slow or
        throttled old provider)."""
        if self.worker_running:
            return
        self.source = "archive" if self.source == "old" else "old"
        for row in self.view.rows.values():
            row.extra.pop("plan", None)  # a plan is per source
        self.refresh_view()

    def action_start_user(self) -> None:
        row = self.view.highlighted()
        if row is not None:
            self._start([row.email])

    def action_resume(self) -> None:
        self._start(self.last_users)

    def _start(self, users: list[str] | None) -> None:
        if self.worker_running:
            return
        if not self.project.users:
            self.app.notify(_("No users yet: import them with `mailmig users import`."), severity="warning")
            return
        with_passphrase(self.app, partial(self._start_copy, users))

    def _start_copy(self, users: list[str] | None, passphrase: str | None) -> None:
        if self.worker_running:
            return
        store = self.mailmig.store
        project = Project.from_dict(store.project.to_dict())
        try:
            config = project_copy_config(project, store.path)
        except Exception as exc:  # a bad [copy] section: say which line and key, start nothing
            self.app.notify(str(exc), title=_("Copy"), severity="error", timeout=10)
            return
        options = CopyOptions(users=users, project_path=store.path, config=config,
                              copy_dir=default_copy_dir(store.path, config), source=self.source, **self.engine_options)
        self.controls = Controls()
        self.last_users = users
        self.view.set_paused(False)
        self.problem = ""
        self.worker_running = True
        self.run_worker(partial(self._copy_work, store, project, options, self.controls, prompt_for(passphrase)),
                        name=_("Copy"), group="copy", thread=True, exclusive=True, exit_on_error=False)
        self.view.started()
        self._after_state_change()

    def _copy_work(self, store: ProjectStore, project: Project, options: CopyOptions, controls: Controls,
                   prompt: PassphrasePrompt) -> CopyResult:
        credentials = open_credentials(prompt)
        started = clock.now()
        engine = CopyEngine(project, credentials, options, controls, self.view.buffer.push)
        summary = engine.run()
        result = CopyResult(summary, tuple(engine.results.values()), engine.phase, options.source, started, clock.now(),
                            engine.copy_dir)
        if self._closing:
            with contextlib.suppress(Exception):
                store.update(lambda p: _record(p, result))
        return result

    def action_pause(self) -> None:
        if self.controls is None or not self.worker_running:
            return
        if self.view.paused:
            self.controls.resume()
        else:
            self.controls.pause()
        self.view.set_paused(not self.view.paused)
        self._after_state_change()

    def action_stop(self) -> None:
        if not self.worker_running:
            return

        def done(confirmed: bool | None) -> None:
            if not confirmed or not self.worker_running:
                return
            self.view.stopping = True
            if self.controls is not None:
                self.controls.cancel()
            self._after_state_change()

        self.app.push_screen(ConfirmDialog(_("Stop the copy? What is on the new provider is kept and recorded; r "
                                             "resumes without copying anything twice.")), done)

    def action_plan(self) -> None:
        row = self.view.highlighted()
        if row is None:
            return
        plan = row.extra.get("plan")
        if plan is not None:
            self._show_plan(row.email, plan)
            return
        with_passphrase(self.app, partial(self._fetch_plan, row.email))

    def _fetch_plan(self, email: str, passphrase: str | None) -> None:
        store = self.mailmig.store
        project = Project.from_dict(store.project.to_dict())

        def work() -> PlanResult:
            config = project_copy_config(project, store.path)
            options = CopyOptions(users=[email], project_path=store.path, config=config,
                                  copy_dir=default_copy_dir(store.path, config), source=self.source)
            return PlanResult(email, tuple(plan_user(project, open_credentials(prompt_for(passphrase)), email, options)))

        self.app.notify(_("Listing {email}'s folders on both sides…").format(email=email), timeout=3)
        self.run_worker(work, name=_("Folder plan"), group="copy-plan", thread=True, exit_on_error=False)

    def _show_plan(self, email: str, mappings: tuple[FolderMapping, ...]) -> None:
        self.app.push_screen(InfoDialog(_("Folder plan of {email}").format(email=email), plan_table(email, mappings)))

    # --- the end of a run -----------------------------------------------------------------------

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state in (WorkerState.PENDING, WorkerState.RUNNING):
            return
        if event.worker.group == "copy-plan":
            if event.state == WorkerState.SUCCESS and isinstance(event.worker.result, PlanResult):
                plan = event.worker.result
                self.view.apply_event(plan)
                self._show_plan(plan.user, plan.mappings)
            return  # an error: ProjectView reports it through the app
        if event.worker.group != "copy":
            return
        self.view.stopped()
        self.worker_running = False
        result = event.worker.result
        if event.state == WorkerState.SUCCESS and isinstance(result, CopyResult):
            summary = result.summary
            self.mailmig.mutate(lambda p: _record(p, result))
            self.app.notify(_("{ok} users copied, {failed} failed, {stopped} stopped: {messages} messages").format(
                ok=summary.users_ok, failed=summary.users_failed, stopped=summary.users_cancelled,
                messages=f"{summary.messages:,}"), title=_("Copy"),
                severity="error" if summary.users_failed else "information")
        elif event.state == WorkerState.ERROR:
            self.view.run_active = False
            self.problem = str(event.worker.error)  # and ProjectView reports it through the app
        self.view.touch()
        self._after_state_change()


def _record(project: Project, result: CopyResult) -> None:
    """`[copy.last_run]` and `[copy.users]`, as `mailmig copy` writes them (core/copy/summary.py)."""
    record_copy_run(project, result.summary, list(result.users), result.started, result.finished, result.phase,
                    result.source)
