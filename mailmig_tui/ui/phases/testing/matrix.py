"""The Matrix tab: users as rows, checks as columns, every cell a real test (core/matrix).

The engine runs in a Textual thread worker; its threads push events into a small locked buffer that a
timer drains four times a second, so the UI thread never waits on the network. Cells show a symbol and
a word (✓ ok, ✗ FAIL, ! warn, — skip, ▶ run, · never run); the highlighted cell's reason, when it ran
and how long it took are below the grid.

Everything the grid shows comes from `show_results` and `apply_event`, which tests and screenshots call
with fixed data to get the same picture every time.
"""

from __future__ import annotations

import dataclasses
import threading
import time
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

from mailmig_tui.core.credentials import PassphrasePrompt, open_credentials
from mailmig_tui.core.errors import MailmigError
from mailmig_tui.core.i18n import N_, _
from mailmig_tui.core.matrix.checks import CHECK_IDS, FAILED, MEANINGS, NOT_RUN, PASSED, WARNING, Cell, title
from mailmig_tui.core.matrix.config import db_path, project_matrix_config
from mailmig_tui.core.matrix.engine import CellDone, CellStarted, MatrixEvent, MatrixFinished, MatrixStarted
from mailmig_tui.core.matrix.results import dashboard_line, record_run
from mailmig_tui.core.matrix.runner import Outcome, check_settings, latest_cells, run_matrix
from mailmig_tui.core.model import Project, User
from mailmig_tui.ui.project_view import ProjectView
from mailmig_tui.ui.widgets.dialogs import ConfirmDialog
from mailmig_tui.ui.widgets.passphrase import prompt_for, with_passphrase

DRAIN_SECONDS = 0.25
USER_WIDTH = 20
CELL_WIDTH = 7
# status -> (symbol, short word, style): the symbol and the word carry the meaning, colour only helps.
LOOK: dict[str, tuple[str, str, str]] = {
    PASSED: ("✓", N_("ok"), "bold green"),
    FAILED: ("✗", N_("FAIL"), "bold red"),
    WARNING: ("!", N_("warn"), "bold yellow"),
    NOT_RUN: ("—", N_("skip"), "dim"),
    "running": ("▶", N_("run"), "bold"),
    "queued": ("…", N_("wait"), ""),
    "": ("·", "", "dim"),
}


@dataclass(frozen=True)
class MatrixResult:
    outcome: Outcome


class _Buffer:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[MatrixEvent] = []

    def push(self, event: MatrixEvent) -> None:
        with self._lock:
            self._events.append(event)

    def drain(self) -> list[MatrixEvent]:
        with self._lock:
            out, self._events = self._events, []
            return out


def _clock_text(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


class MatrixPanel(ProjectView, Vertical):
    BINDINGS = [
        Binding("x", "run_cell", N_("Cell"), id="matrix.run_cell"),
        Binding("r", "run_row", N_("Row"), id="matrix.run_row"),
        Binding("o", "run_column", N_("Column"), id="matrix.run_column"),
        Binding("a", "run_all", N_("All"), id="matrix.run_all"),
        Binding("w", "widen", N_("All users"), id="matrix.widen"),
        Binding("c", "cancel", N_("Cancel"), id="matrix.cancel"),
    ]
    DEFAULT_CSS = """
    MatrixPanel { height: 1fr; }
    MatrixPanel > #matrix-info { height: 2; padding: 0 1; }
    MatrixPanel > DataTable { height: 1fr; }
    MatrixPanel > #matrix-detail { height: 3; padding: 0 1; color: $text-muted; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.clock: Callable[[], float] = time.monotonic
        self.buffer = _Buffer()
        self.latest: dict[tuple[str, str], Cell] = {}
        self.running_cells: dict[tuple[str, str], str] = {}  # (user, check) -> "queued" | "running"
        self.scope = "pilots"  # or "all"
        self.worker_running = False
        self.cancel_event: threading.Event | None = None
        self.progress: tuple[int, int, int] = (0, 0, 0)  # done, total, failed
        self.problem = ""
        self._run_t0 = 0.0
        self._timer: Timer | None = None
        self._loaded = False
        self._fixed = False  # show_results() was given fixed cells: do not reload from the database
        self._stamp: object = None
        self._closing = False

    @property
    def table(self) -> DataTable[Text]:
        return self.query_one("#matrix-table", DataTable)

    def compose(self) -> ComposeResult:
        yield Static(id="matrix-info")
        yield DataTable(cursor_type="cell", cell_padding=0, id="matrix-table")
        yield Static(id="matrix-detail")

    def on_mount(self) -> None:
        self._timer = self.set_interval(DRAIN_SECONDS, self._drain, pause=True)
        if not self.project.users or not any(u.role == "pilot" for u in self.project.users):
            self.scope = "all"
        self._load()
        self.rebuild()

    def on_unmount(self) -> None:
        self._closing = True
        if self.cancel_event is not None:
            self.cancel_event.set()

    def _load(self) -> None:
        """Read the latest cells from the results database (again when `mailmig test` changed it)."""
        try:
            path = db_path(self.mailmig.store.path, project_matrix_config(self.project, self.mailmig.store.path))
            wal = path.with_name(path.name + "-wal")
            stamp = (path.stat().st_mtime if path.exists() else None, wal.stat().st_mtime if wal.exists() else None)
        except (OSError, MailmigError) as exc:
            self.problem = str(exc)
            return
        if self._loaded and stamp == self._stamp:
            return
        self._loaded, self._stamp = True, stamp
        try:
            self.latest = latest_cells(self.mailmig.store.path, self.project)
        except Exception as exc:  # a bad [matrix] section or an unreadable database: say so, keep going
            self.problem = str(exc)

    # --- what is shown --------------------------------------------------------------------------

    def users(self) -> list[User]:
        if self.scope == "pilots":
            pilots = [u for u in self.project.users if u.role == "pilot"]
            if pilots:
                return pilots
        return list(self.project.users)

    def show_results(self, latest: dict[tuple[str, str], Cell]) -> None:
        """Replace what the grid shows (tests and screenshots pass fixed cells)."""
        self._loaded = self._fixed = True
        self.latest = {(u.lower(), c): cell for (u, c), cell in latest.items()}
        self.rebuild()

    def refresh_project(self) -> None:
        if self.is_mounted and not self.worker_running:
            if not self._fixed:
                self._load()
            self.rebuild()

    def rebuild(self) -> None:
        if not self.is_mounted:
            return
        table = self.table
        cursor = table.cursor_coordinate
        table.clear(columns=True)
        table.add_column(Text(_("User"), style="bold"), key="user", width=USER_WIDTH)
        for check in CHECK_IDS:
            table.add_column(Text(title(check), style="bold"), key=check, width=CELL_WIDTH)
        for user in self.users():
            table.add_row(*self._row(user.email), key=user.email.lower())
        if table.row_count:
            row = min(cursor.row, table.row_count - 1)
            column = min(cursor.column, len(table.columns) - 1)
            table.move_cursor(row=row, column=max(column, 0), animate=False)
        self._show_info()
        self._show_detail()

    def _look(self, email: str, check: str) -> tuple[str, str, str]:
        state = self.running_cells.get((email.lower(), check))
        if state:
            return LOOK[state]
        cell = self.latest.get((email.lower(), check))
        return LOOK[cell.status if cell else ""]

    def _cell_text(self, email: str, check: str) -> Text:
        symbol, word, style = self._look(email, check)
        text = Text(f" {symbol} {_(word)}" if word else f" {symbol}", style=style)
        text.truncate(CELL_WIDTH, overflow="ellipsis")
        return text

    def _row(self, email: str) -> list[Text]:
        name = Text(email, no_wrap=True)
        name.truncate(USER_WIDTH, overflow="ellipsis")
        return [name, *(self._cell_text(email, check) for check in CHECK_IDS)]

    def _update_cell(self, email: str, check: str) -> None:
        table = self.table
        key = email.lower()
        if key in table.rows:
            table.update_cell(key, check, self._cell_text(email, check))

    def _counts(self, users: list[User]) -> tuple[int, int]:
        from mailmig_tui.core.matrix.results import user_passes

        return sum(user_passes(self.latest, u.email) for u in users), len(users)

    def _show_info(self) -> None:
        users = self.users()
        pilots = [u for u in self.project.users if u.role == "pilot"]
        if self.scope == "pilots" and pilots:
            scope = _("Pilots: {n} of {total} users · w shows everyone").format(n=len(users), total=len(self.project.users))
        else:
            scope = _("All {n} users").format(n=len(users)) + (_(" · w shows the pilots") if pilots else "")
        if self.worker_running:
            done, total, failed = self.progress
            second = _("▶ Running: {done}/{total} cells · {failed} failed · {time} · c cancels").format(
                done=done, total=total, failed=failed, time=_clock_text(self.clock() - self._run_t0))
        elif self.problem:
            second = "✗ " + self.problem
        else:
            passed, total = self._counts(users)
            second = dashboard_line(self.project) or _("Never run: a runs every check for these users.")
            if self.latest:
                second = _("{passed}/{total} of these users pass every check").format(passed=passed, total=total) + \
                    " · " + second
        self.query_one("#matrix-info", Static).update(Text(scope + "\n" + second, no_wrap=True, overflow="ellipsis"))

    def _highlighted(self) -> tuple[str, str] | None:
        table = self.table
        if not table.row_count:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate)
        except Exception:
            return None
        return str(key.row_key.value), str(key.column_key.value)

    def _show_detail(self) -> None:
        detail = self.query_one("#matrix-detail", Static)
        spot = self._highlighted()
        if spot is None:
            detail.update(_("No users yet: import them with `mailmig users import`."))
            return
        email, check = spot
        if check == "user":
            line = Text(email + " · " + _("r runs this row, a everything, Enter one cell; F1 explains the checks"))
            detail.update(line)
            return
        symbol, word, _style = self._look(email, check)
        cell = self.latest.get((email, check))
        state = self.running_cells.get((email, check))
        head = f"{symbol} {email} · {title(check)}"
        if state == "running":
            text = head + ": " + _("running…")
        elif state == "queued":
            text = head + ": " + _("waiting for its turn")
        elif cell is None:
            text = head + ": " + _("never run") + " · " + _(MEANINGS[check])
        else:
            when = cell.started.astimezone().strftime("%Y-%m-%d %H:%M:%S") if cell.started else "?"
            text = f"{head}: {_(word)} · {cell.reason} · " + _("{when}, took {s:.1f} s").format(when=when, s=cell.seconds)
        detail.update(Text(text, overflow="ellipsis"))

    def on_data_table_cell_highlighted(self, event: DataTable.CellHighlighted) -> None:
        self._show_detail()

    def on_data_table_cell_selected(self, event: DataTable.CellSelected) -> None:
        """Enter on a cell runs it (on the user column: the row), like x."""
        event.stop()
        if not self.worker_running:
            self.action_run_cell()

    # --- events ---------------------------------------------------------------------------------

    def apply_event(self, event: MatrixEvent, *, refresh: bool = True) -> None:
        if isinstance(event, MatrixStarted):
            for email in event.users:
                for check in event.checks:
                    self.running_cells[(email.lower(), check)] = "queued"
            self.progress = (0, len(event.users) * len(event.checks), 0)
            for email in event.users:
                for check in event.checks:
                    self._update_cell(email, check)
        elif isinstance(event, CellStarted):
            self.running_cells[(event.user.lower(), event.check)] = "running"
            self._update_cell(event.user, event.check)
        elif isinstance(event, CellDone):
            cell = event.cell
            key = (cell.user.lower(), cell.check)
            self.running_cells.pop(key, None)
            # A cell that could not run does not hide what it showed before (that stays the latest result).
            if cell.status != NOT_RUN or key not in self.latest:
                self.latest[key] = cell
            done, total, failed = self.progress
            self.progress = (done + 1, total, failed + (cell.status == FAILED))
            self._update_cell(cell.user, cell.check)
        elif isinstance(event, MatrixFinished):
            for (email, check) in list(self.running_cells):
                self.running_cells.pop((email, check))
                self._update_cell(email, check)
        if refresh and self.is_mounted:
            self._show_info()
            self._show_detail()

    def _drain(self) -> None:
        for event in self.buffer.drain():
            self.apply_event(event, refresh=False)
        self.redraw()

    def redraw(self) -> None:
        """The lines above and below the grid, from the current state."""
        if self.is_mounted:
            self._show_info()
            self._show_detail()

    # --- keys -----------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel":
            return self.worker_running
        if action in ("run_cell", "run_row", "run_column", "run_all", "widen"):
            return not self.worker_running
        return True

    def action_run_cell(self) -> None:
        spot = self._highlighted()
        if spot is None:
            return
        email, check = spot
        self._start([email], None if check == "user" else [check])

    def action_run_row(self) -> None:
        spot = self._highlighted()
        if spot is not None:
            self._start([spot[0]], None)

    def action_run_column(self) -> None:
        spot = self._highlighted()
        if spot is not None:
            self._start([u.email for u in self.users()], None if spot[1] == "user" else [spot[1]])

    def action_run_all(self) -> None:
        self._start([u.email for u in self.users()], None)

    def action_widen(self) -> None:
        if not any(u.role == "pilot" for u in self.project.users):
            self.app.notify(_("No pilot users in the project: every user is shown."), severity="information")
            self.scope = "all"
        else:
            self.scope = "all" if self.scope == "pilots" else "pilots"
        label = _("Pilots") if self.scope == "all" else _("All users")
        self._bindings.key_to_bindings["w"] = [
            dataclasses.replace(b, description=label) for b in self._bindings.key_to_bindings.get("w", [])]
        self.refresh_bindings()
        self.rebuild()

    def action_cancel(self) -> None:
        if not self.worker_running or self.cancel_event is None:
            return
        event = self.cancel_event

        def done(confirmed: bool | None) -> None:
            if confirmed and self.worker_running:
                event.set()

        self.app.push_screen(ConfirmDialog(_("Stop the test run? Cells still waiting are marked not run.")), done)

    def _start(self, emails: list[str], checks: list[str] | None) -> None:
        if self.worker_running or not emails:
            return
        try:
            check_settings(self.project, self.mailmig.store.path)
        except MailmigError as exc:
            self.problem = str(exc)
            self.app.notify(str(exc), title=_("Test matrix"), severity="error", timeout=10)
            self.redraw()
            return
        with_passphrase(self.app, partial(self._start_worker, emails, checks))

    def _start_worker(self, emails: list[str], checks: list[str] | None, passphrase: str | None) -> None:
        if self.worker_running:
            return
        store = self.mailmig.store
        project = Project.from_dict(store.project.to_dict())  # the worker's own copy
        wanted = {e.lower() for e in emails}
        users = [u for u in project.users if u.email.lower() in wanted]
        self.cancel_event = threading.Event()
        self.worker_running = True
        self.problem = ""
        self._run_t0 = self.clock()
        self.run_worker(partial(self._work, store.path, project, users, checks, prompt_for(passphrase), self.cancel_event),
                        name=_("Test matrix"), group="matrix", thread=True, exclusive=True, exit_on_error=False)
        if self._timer:
            self._timer.resume()
        self.refresh_bindings()
        self._show_info()

    def _work(self, path: Path, project: Project, users: list[User], checks: list[str] | None,
              prompt: PassphrasePrompt, cancel: threading.Event) -> MatrixResult:
        credentials = open_credentials(prompt)
        outcome = run_matrix(path, project, credentials, users, checks, self.buffer.push, cancel)
        return MatrixResult(outcome)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "matrix" or event.state in (WorkerState.PENDING, WorkerState.RUNNING):
            return
        self._drain()
        self.worker_running = False
        self.cancel_event = None
        if self._timer:
            self._timer.pause()
        for key in list(self.running_cells):
            self.running_cells.pop(key)
        result = event.worker.result
        if event.state == WorkerState.SUCCESS and isinstance(result, MatrixResult):
            outcome = result.outcome
            self.latest = dict(outcome.latest)
            self.mailmig.mutate(lambda p: record_run(p, outcome.cells, outcome.latest, outcome.started,
                                                     outcome.seconds, outcome.cancelled))
            failed = len(outcome.failed)
            self.app.notify(_("{n} cells tested: {failed} failed").format(n=len(outcome.cells), failed=failed),
                            title=_("Test matrix"), severity="error" if failed else "information")
        elif event.state == WorkerState.ERROR:
            self.problem = str(event.worker.error)
        self.refresh_bindings()
        self.rebuild()
