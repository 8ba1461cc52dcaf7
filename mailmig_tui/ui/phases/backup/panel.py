"""The Backup tab: back up every mailbox from the old provider, watch it, pause, cancel, resume, verify.

The engine (core/backup/engine.py) and the verifier run in a Textual thread worker. Their threads push
events into an `EventBuffer`, which merges Progress events per user as they arrive; a timer drains the
buffer four times a second and redraws once. So a full-speed backup costs the UI a few small redraws a
second whatever the engine's event rate, and the UI thread never waits on the network.

Everything the tab shows comes from `apply_event`, which tests and screenshots call with a fixed
sequence of events and a fake clock (`panel.clock`) to get the same picture every time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.events import Resize
from textual.timer import Timer
from textual.widgets import DataTable, Static
from textual.worker import Worker, WorkerState

from mailmig_tui.core import clock
from mailmig_tui.core.backup.engine import (
    BackupEngine,
    BackupOptions,
    Controls,
    FolderStarted,
    Progress,
    Retrying,
    RunStarted,
    RunSummary,
    UserDone,
    UserPlanned,
    UserStarted,
    default_dest,
)
from mailmig_tui.core.backup.summary import last_run_line, record_result, run_record, verify_record
from mailmig_tui.core.backup.verify import FolderCheck, UserCheck, verify_archive
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

if TYPE_CHECKING:
    pass

DRAIN_SECONDS = 0.25

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


class EventBuffer:
    """Where the engine's threads leave events for the UI. Thread-safe and coalescing: Progress events
    of a user are summed, and only a user's latest FolderCheck is kept, until the next other event (so
    the order of everything else is preserved). `drain()` hands over what arrived since the last call."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[Any] = []
        self._progress: dict[str, list[Any]] = {}  # user -> [messages, bytes, folder]
        self._checking: dict[str, FolderCheck] = {}
        self.pushed = 0

    def push(self, event: Any) -> None:
        with self._lock:
            self.pushed += 1
            if isinstance(event, Progress):
                pending = self._progress.get(event.user)
                if pending is None:
                    self._progress[event.user] = [event.messages, event.bytes, event.folder]
                else:
                    pending[0] += event.messages
                    pending[1] += event.bytes
                    pending[2] = event.folder
            elif isinstance(event, FolderCheck):
                self._checking[event.user] = event
            else:
                self._flush()
                self._events.append(event)

    def _flush(self) -> None:
        self._events.extend(Progress(user, folder, messages, size) for user, (messages, size, folder) in self._progress.items())
        self._events.extend(self._checking.values())
        self._progress.clear()
        self._checking.clear()

    def drain(self) -> list[Any]:
        with self._lock:
            self._flush()
            out, self._events = self._events, []
            return out


# --- one row per user ---------------------------------------------------------------------------

# state -> (symbol, word, style): the symbol and the word carry the meaning, colour only helps.
STATES: dict[str, tuple[str, str, str]] = {
    "idle": ("○", N_("idle"), "dim"),
    "waiting": ("·", N_("waiting"), ""),
    "running": ("▶", N_("running"), "bold"),
    "retrying": ("↻", N_("retrying"), "bold yellow"),
    "paused": ("‖", N_("paused"), "bold yellow"),
    "done": ("✓", N_("done"), "bold green"),
    "failed": ("✗", N_("failed"), "bold red"),
    "cancelled": ("■", N_("stopped"), "bold yellow"),
}


@dataclass
class UserRow:
    email: str
    state: str = "idle"
    planned: bool = False
    messages_total: int = 0  # still to fetch when this run started (the engine is incremental)
    bytes_total: int = 0
    messages: int = 0
    bytes: int = 0
    folder: str = ""
    note: str = ""  # why it failed, or the connection problem being retried
    started: float | None = None  # active run seconds (pauses left out) when the user started
    finished: float | None = None
    verify: UserCheck | None = None
    verifying: bool = False

    def fraction(self) -> float:
        if self.state == "done":
            return 1.0
        if self.bytes_total:
            return min(1.0, self.bytes / self.bytes_total)
        if self.messages_total:
            return min(1.0, self.messages / self.messages_total)
        return 0.0


def text_bar(fraction: float, width: int) -> str:
    """A bar made of characters (█ done, ░ to do): readable without colour."""
    full = max(0, min(width, round(fraction * width)))
    return "█" * full + "░" * (width - full)


def count(n: float) -> str:
    """A message count in at most 5 cells: 9,999 · 12.3k · 123k · 1.2M."""
    if n < 10_000:
        return f"{n:,.0f}"
    if n < 100_000:
        return f"{n / 1000:.1f}k"
    if n < 1_000_000:
        return f"{n / 1000:.0f}k"
    return f"{n / 1e6:.1f}M"


def megabytes(n: float) -> str:
    """Bytes as MB in at most 4 cells: 20.8 · 208 · 1.2G."""
    mb = n / 1e6
    if mb < 100:
        return f"{mb:.1f}"
    if mb < 1000:
        return f"{mb:.0f}"
    return f"{mb / 1000:.1f}G"


def duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def _cell(value: str | Text, width: int, *, right: bool = False, lead: bool = True, style: str = "") -> Text:
    """Exactly `width` cells: a separating space, then the value cut with … or aligned."""
    text = value.copy() if isinstance(value, Text) else Text(value, style=style)
    inner = width - (1 if lead else 0)
    text.truncate(inner, overflow="ellipsis")
    text.align("right" if right else "left", inner)
    return Text(" ") + text if lead else text


# (key, header, width in cells including the separating space, right-aligned); the folder column
# takes what the others leave.
COLUMNS: list[tuple[str, str, int, bool]] = [
    ("user", N_("User"), 11, False),
    ("state", N_("State"), 10, False),
    ("progress", N_("Progress"), 12, False),
    ("messages", N_("Messages"), 12, True),
    ("mb", N_("MB"), 10, True),
    ("rate", N_("Rate"), 7, True),
    ("folder", N_("Folder"), 0, False),
    ("verify", N_("Verify"), 7, False),
]
MIN_FOLDER = 10


class BackupPanel(ProjectView, Vertical):
    """Per-user progress of a backup of the old provider, with an overall line, and the verify result."""

    BINDINGS = [
        Binding("b", "start", N_("Back up"), id="backup.start"),
        Binding("r", "resume", N_("Resume"), id="backup.resume"),
        Binding("p", "pause", N_("Pause"), id="backup.pause"),
        Binding("c", "stop", N_("Cancel"), id="backup.cancel"),
        Binding("v", "verify", N_("Verify"), id="backup.verify"),
    ]
    DEFAULT_CSS = """
    BackupPanel { height: 1fr; }
    BackupPanel > #backup-info { height: auto; padding: 0 1; }
    BackupPanel > #backup-overall { height: 2; padding: 0 1; }
    BackupPanel > DataTable { height: 1fr; }
    BackupPanel > #backup-detail { height: auto; max-height: 2; padding: 0 1; color: $text-muted; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.clock: Callable[[], float] = time.monotonic  # tests and screenshots set a fake one
        self.engine_options: dict[str, Any] = {}  # BackupOptions overrides (tests: small batches)
        self.buffer = EventBuffer()
        self.rows: dict[str, UserRow] = {}
        self.controls: Controls | None = None
        self._verify_stop = threading.Event()
        self.worker_running = False  # a backup or verify worker is running (what the keys may do)
        self.paused = False
        self.stopping = False
        self.resumable = False  # the last run was cancelled: r starts it again
        self.run_active = False  # between RunStarted and RunSummary
        self.verify_active = False
        self.summary: RunSummary | None = None
        self.verify_result: tuple[int, int] | None = None
        self.problem = ""  # the last run's or verify's failure, shown until the next start
        self.credentials_text = ""
        self._run_t0 = 0.0
        self._paused_at: float | None = None
        self._paused_total = 0.0
        self._dirty: set[str] = set()
        self._table_users: list[str] = []
        self._folder_width = MIN_FOLDER
        self._closing = False
        self._timer: Timer | None = None

    @property
    def table(self) -> DataTable[Text]:
        return self.query_one("#backup-table", DataTable)

    def compose(self) -> ComposeResult:
        yield Static(id="backup-info")
        yield Static(id="backup-overall")
        yield DataTable(cursor_type="row", cell_padding=0, id="backup-table")
        yield Static(id="backup-detail")

    def on_mount(self) -> None:
        self._timer = self.set_interval(DRAIN_SECONDS, self._drain, pause=True)
        self.refresh_project()

    def on_unmount(self) -> None:
        # The app is closing: stop the engine at its next checkpoint so the process can end cleanly
        # (what is already on disk is kept and a later run resumes it).
        self._closing = True
        if self.controls is not None:
            self.controls.cancel()
        self._verify_stop.set()

    def on_resize(self, event: Resize) -> None:
        fixed = sum(w for _k, _h, w, _r in COLUMNS)
        width = max(MIN_FOLDER, event.size.width - fixed - 1)  # 1: the vertical scrollbar
        if width != self._folder_width:
            self._folder_width = width
            self._table_users = []  # rebuild with the new width
            self.refresh_view()

    # --- what the project says ------------------------------------------------------------------

    def refresh_project(self) -> None:
        """The project changed (or the tab was built): new users show up while nothing runs."""
        if not (self.run_active or self.worker_running):
            known = {r.email: r for r in self.rows.values()}
            self.rows = {u.email: known.get(u.email) or UserRow(u.email) for u in self.project.users}
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

    def _row(self, email: str) -> UserRow:
        row = self.rows.get(email)
        if row is None:
            row = self.rows[email] = UserRow(email)
        self._dirty.add(email)
        return row

    def _active(self, now: float) -> float:
        """Seconds the run has been going, pauses left out."""
        paused = self._paused_total + (now - self._paused_at if self._paused_at is not None else 0.0)
        return max(0.0, now - self._run_t0 - paused)

    def apply_event(self, event: Any, at: float | None = None, *, refresh: bool = True) -> None:
        """Take one event of the engine, the verifier or this tab into the rows (and redraw)."""
        now = self.clock() if at is None else at
        if isinstance(event, RunStarted):
            self.rows = {email: UserRow(email, "waiting") for email in event.users}
            self._table_users = []
            self.run_active, self.summary, self.verify_result = True, None, None
            self._run_t0, self._paused_total = now, 0.0
            self._paused_at = now if self.paused else None
        elif isinstance(event, UserStarted):
            row = self._row(event.user)
            row.state, row.started = "running", self._active(now)
        elif isinstance(event, UserPlanned):
            row = self._row(event.user)
            row.planned, row.messages_total, row.bytes_total = True, event.messages, event.bytes
        elif isinstance(event, FolderStarted):
            row = self._row(event.user)
            row.folder = event.folder
        elif isinstance(event, Progress):
            row = self._row(event.user)
            row.messages += event.messages
            row.bytes += event.bytes
            row.folder = event.folder
            if row.state == "retrying":
                row.state, row.note = "running", ""
        elif isinstance(event, Retrying):
            row = self._row(event.user)
            row.state = "retrying"
            row.note = _("retry {n} in {delay:.0f}s: {reason}").format(n=event.attempt, delay=event.delay, reason=event.reason)
        elif isinstance(event, UserDone):
            row = self._row(event.user)
            row.state, row.finished = event.state, self._active(now)
            row.messages, row.bytes = event.messages, event.bytes
            row.note = event.error if event.state == "failed" else ""
            if event.state == "done":
                row.folder = ""
        elif isinstance(event, RunSummary):
            self.summary, self.run_active = event, False
            if self._paused_at is not None:
                self._paused_total += now - self._paused_at
                self._paused_at = None
        elif isinstance(event, CredentialsReady):
            self.credentials_text = tilde(event.description)
        elif isinstance(event, VerifyStarted):
            self.verify_active, self.verify_result = True, None
            for email in event.users:
                row = self._row(email)
                row.verify, row.verifying = None, True
        elif isinstance(event, FolderCheck):
            self._row(event.user).verifying = True
        elif isinstance(event, UserCheck):
            row = self._row(event.user)
            row.verify, row.verifying = event, False
        elif isinstance(event, VerifyFinished):
            self.verify_active, self.verify_result = False, (event.users, event.users_ok)
            for row in self.rows.values():
                row.verifying = False
            self._dirty.update(self.rows)
        if refresh:
            self.refresh_view(now)

    def _drain(self) -> None:
        now = self.clock()
        for event in self.buffer.drain():
            self.apply_event(event, now, refresh=False)
        self.refresh_view(now)

    # --- drawing --------------------------------------------------------------------------------

    def refresh_view(self, now: float | None = None) -> None:
        if not self.is_mounted:
            return
        now = self.clock() if now is None else now
        info = Text(_("Credentials: {where}").format(where=self._credentials()), no_wrap=True, overflow="ellipsis")
        for line in self._tls_warnings():
            info.append("\n" + line, style="bold yellow")
        self.query_one("#backup-info", Static).update(info)
        self.query_one("#backup-overall", Static).update(self._overall(now))
        self._refresh_table(now)
        self._show_detail()

    def _state_of(self, row: UserRow) -> str:
        if self.paused and row.state in ("running", "waiting", "retrying"):
            return "paused"
        return row.state

    def _overall(self, now: float) -> Text:
        rows = list(self.rows.values())
        if not (self.run_active or self.summary):
            first = Text(_("Archive: {dest}").format(dest=tilde(default_dest(self.mailmig.store.path, self.project))))
            second = last_run_line(self.project) or _("No backup yet: press b to back up all {n} users.").format(n=len(rows))
            if self.verify_active or self.verify_result or self.problem:
                second = self._status_words()
            return Text(first.plain + "\n" + second, no_wrap=True, overflow="ellipsis")
        done_msgs = sum(r.messages for r in rows)
        done_bytes = sum(r.bytes for r in rows)
        total_msgs = sum(r.messages_total for r in rows)
        total_bytes = sum(r.bytes_total for r in rows)
        planned = [r for r in rows if r.planned]
        unplanned = [r for r in rows if not r.planned and r.state not in ("failed", "cancelled")]
        if self.summary is not None:
            fraction = 1.0 if not self.summary.users_failed and not self.summary.users_cancelled else (
                done_bytes / total_bytes if total_bytes else 0.0)
        else:
            fraction = done_bytes / total_bytes if total_bytes else 0.0
            if unplanned:  # users not scanned yet: estimate their share from the ones that were
                fraction = fraction * len(planned) / (len(planned) + len(unplanned)) if planned else 0.0
        first = Text(no_wrap=True, overflow="ellipsis")
        first.append(text_bar(fraction, 20), style="bold")
        first.append(f" {fraction * 100:3.0f}%  ")
        first.append(_("{done}/{total} msgs · {done_mb}/{total_mb} MB").format(
            done=f"{done_msgs:,}", total=f"{total_msgs:,}" + ("+" if unplanned else ""),
            done_mb=megabytes(done_bytes), total_mb=megabytes(total_bytes) + ("+" if unplanned else "")))
        elapsed = self.summary.seconds if self.summary else self._active(now)
        msg_rate = done_msgs / elapsed if elapsed > 0 else 0.0
        byte_rate = done_bytes / elapsed if elapsed > 0 else 0.0
        parts = [self._status_words(),
                 _("{rate} msg/s").format(rate=count(msg_rate)),
                 _("{rate:.1f} MB/s").format(rate=byte_rate / 1e6)]
        if self.summary is None:
            remaining = float(total_bytes - done_bytes)
            if unplanned and planned:
                remaining += len(unplanned) * total_bytes / len(planned)
            eta = duration(remaining / byte_rate) if byte_rate > 0 and planned else "…"
            parts.append(_("ETA {eta}").format(eta=("~" if unplanned else "") + eta))
        else:
            parts.append(_("took {time}").format(time=duration(self.summary.seconds)))
        failed = sum(r.state == "failed" for r in rows)
        errors = _("errors: {n}").format(n=failed)
        first.append("\n" + " · ".join([*parts, errors]))
        if failed:
            first.highlight_words([errors], style="bold red")
        return first

    def _status_words(self) -> str:
        if self.verify_active:
            done = sum(r.verify is not None for r in self.rows.values())
            return "⟳ " + _("verifying {done}/{n}…").format(done=done, n=len(self.rows))
        if self.problem:
            return "✗ " + self.problem
        if self.run_active:
            if self.stopping:
                return "■ " + _("stopping after the current batch…")
            return "‖ " + _("paused") if self.paused else "▶ " + _("running")
        if self.verify_result is not None:
            users, ok = self.verify_result
            if ok == users:
                return "✓ " + _("verified {ok}/{n}").format(ok=ok, n=users)
            return "✗ " + _("verify: {n} differ").format(n=users - ok)
        if self.summary is not None:
            if self.summary.users_cancelled:
                return "■ " + _("stopped (r resumes)")
            return ("✓ " if not self.summary.users_failed else "✗ ") + _("finished")
        return ""

    def _refresh_table(self, now: float) -> None:
        table = self.table
        emails = list(self.rows)
        if emails != self._table_users:
            cursor = table.cursor_row
            table.clear(columns=True)
            for key, header, width, right in COLUMNS:
                width = width or self._folder_width
                table.add_column(_cell(_(header), width, right=right, lead=key != "user", style="bold"), key=key, width=width)
            for email in emails:
                table.add_row(*self._cells(self.rows[email], now), key=email)
            self._table_users = emails
            self._dirty.clear()
            if emails:
                table.move_cursor(row=min(cursor, len(emails) - 1))
            return
        self._dirty.update(e for e, r in self.rows.items() if r.state in ("running", "retrying"))  # rates move
        for email in self._dirty:
            if email in self.rows:
                for (key, *_rest), value in zip(COLUMNS, self._cells(self.rows[email], now), strict=True):
                    table.update_cell(email, key, value)
        self._dirty.clear()

    def _short_user(self, email: str) -> str:
        local, _at, domain = email.partition("@")
        return local if domain.lower() == self.project.domain.lower() else email

    def _cells(self, row: UserRow, now: float) -> list[Text]:
        state = self._state_of(row)
        symbol, word, style = STATES[state]
        widths = {k: (w or self._folder_width) for k, _h, w, _r in COLUMNS}
        active = row.state not in ("idle",)
        if row.started is not None and row.state in ("running", "retrying", "done"):
            end = row.finished if row.finished is not None else self._active(now)
            seconds = end - row.started
            rate = count(row.messages / seconds) + "/s" if seconds > 0 and row.messages else ""
        else:
            rate = ""
        if row.state == "failed" or row.state == "retrying":
            folder = Text(row.note, style="red" if row.state == "failed" else "yellow")
        else:
            folder = Text(row.folder if row.state == "running" else "")
        if row.verifying:
            check = Text("…")
        elif row.verify is None:
            check = Text("")
        elif row.verify.ok:
            check = Text("✓ " + _("ok"), style="bold green")
        else:
            check = Text("✗ " + (_("error") if row.verify.error else _("differs")), style="bold red")
        total = "?" if not row.planned else count(row.messages_total)
        return [
            _cell(self._short_user(row.email), widths["user"], lead=False),
            _cell(Text(f"{symbol} {_(word)}", style=style), widths["state"]),
            _cell(f"{text_bar(row.fraction(), 6)} {row.fraction() * 100:3.0f}%" if active else "", widths["progress"]),
            _cell(f"{count(row.messages)}/{total}" if active else "", widths["messages"], right=True),
            _cell(f"{megabytes(row.bytes)}/{megabytes(row.bytes_total) if row.planned else '?'}" if active else "",
                  widths["mb"], right=True),
            _cell(rate, widths["rate"], right=True),
            _cell(folder, widths["folder"]),
            _cell(check, widths["verify"]),
        ]

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        table = self.table
        row = None
        if table.row_count:
            try:
                row = self.rows.get(str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value))
            except Exception:
                row = None
        detail = self.query_one("#backup-detail", Static)
        if row is None:
            detail.update(_("No users yet: import them with `mailmig users import`."))
            return
        symbol, word, _style = STATES[self._state_of(row)]
        text = f"{symbol} {row.email}: {_(word)}"
        if row.note:
            text += f": {row.note}"
        elif row.folder and row.state in ("running", "retrying"):
            text += " · " + _("folder {folder}").format(folder=row.folder)
        check = row.verify
        if check is not None:
            if check.ok:
                text += " · " + _("verify ✓ {folders} folders, {n} messages on the server, all archived, every file matches").format(
                    folders=check.folders, n=f"{check.on_server:,}")
            else:
                text += " · " + _("verify ✗ {what}").format(what="; ".join(([check.error] if check.error else []) + check.details[:2]))
        elif row.state == "idle":
            text = f"{row.email} · " + _("b backs up every user, v verifies the archive, F1 explains")
        detail.update(Text(text))

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
        if action == "verify":
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
        self.paused = self.stopping = self.resumable = False
        self.problem = ""
        self.worker_running = True
        self.run_worker(partial(self._backup_work, store, project, options, self.controls, prompt_for(passphrase)),
                        name=_("Backup"), group="backup", thread=True, exclusive=True, exit_on_error=False)
        if self._timer:
            self._timer.resume()
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
        now = self.clock()
        if self.paused:
            self.controls.resume()
            if self._paused_at is not None:
                self._paused_total += now - self._paused_at
            self._paused_at = None
        else:
            self.controls.pause()
            self._paused_at = now
        self.paused = not self.paused
        self._dirty.update(self.rows)
        self._after_state_change()

    def action_stop(self) -> None:
        if not self.worker_running:
            return
        question = (_("Stop verifying?") if self.controls is None else
                    _("Stop the backup? Messages already saved are kept; r resumes where it stopped."))

        def done(confirmed: bool | None) -> None:
            if not confirmed or not self.worker_running:
                return
            self.stopping = True
            if self.controls is not None:
                self.controls.cancel()
            self._verify_stop.set()
            self._after_state_change()

        self.app.push_screen(ConfirmDialog(question), done)

    def action_verify(self) -> None:
        if self.worker_running:
            return
        self._with_passphrase(self._start_verify)

    def _start_verify(self, passphrase: str | None) -> None:
        if self.worker_running:
            return
        store = self.mailmig.store
        project = Project.from_dict(store.project.to_dict())
        self.controls = None
        self._verify_stop = threading.Event()
        self.paused = self.stopping = False
        self.problem = ""
        self.worker_running = True
        self.run_worker(partial(self._verify_work, project, default_dest(store.path, project), prompt_for(passphrase),
                                self._verify_stop),
                        name=_("Verify"), group="backup", thread=True, exclusive=True, exit_on_error=False)
        if self._timer:
            self._timer.resume()
        self._after_state_change()

    def _verify_work(self, project: Project, dest: Path, prompt: PassphrasePrompt, stop: threading.Event) -> VerifyResult:
        credentials = open_credentials(prompt)
        self.buffer.push(CredentialsReady(credentials.description))
        self.buffer.push(VerifyStarted(tuple(u.email for u in project.users)))

        def on_event(event: Any) -> None:
            if stop.is_set():
                raise _VerifyStopped
            self.buffer.push(event)

        results = verify_archive(project, credentials, dest, None, 0, on_event)
        self.buffer.push(VerifyFinished(len(results), sum(r.ok for r in results)))
        return VerifyResult(results, clock.now(), dest)

    # --- the end of a run -----------------------------------------------------------------------

    def worker_error_handled(self, worker: Worker[Any]) -> bool:
        return isinstance(worker.error, _VerifyStopped)  # a stop the user asked for, not a failure

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "backup" or event.state in (WorkerState.PENDING, WorkerState.RUNNING):
            return
        self._drain()
        self.worker_running = self.stopping = self.paused = False
        self._paused_at = None
        if self._timer:
            self._timer.pause()
        result = event.worker.result
        if event.state == WorkerState.SUCCESS and isinstance(result, BackupResult):
            self._finished_backup(result)
        elif event.state == WorkerState.SUCCESS and isinstance(result, VerifyResult):
            self.mailmig.mutate(lambda p: record_result(p, "last_verify", verify_record(result.results, result.at),
                                                        result.dest))
        elif event.state == WorkerState.ERROR and isinstance(event.worker.error, _VerifyStopped):
            self.verify_active = False
            for row in self.rows.values():
                row.verifying = False
            self.problem = _("verify stopped")
        elif event.state == WorkerState.ERROR:
            self.run_active = self.verify_active = False
            self.problem = str(event.worker.error)  # and ProjectView reports it through the app
        self._dirty.update(self.rows)
        self._after_state_change()

    def _finished_backup(self, result: BackupResult) -> None:
        summary = result.summary
        self.resumable = bool(summary.users_cancelled)
        self.mailmig.mutate(lambda p: record_result(p, "last_run", run_record(summary, result.started, result.finished),
                                                    result.dest))
        self.app.notify(_("{ok} users backed up, {failed} failed, {stopped} stopped: {messages} messages").format(
            ok=summary.users_ok, failed=summary.users_failed, stopped=summary.users_cancelled,
            messages=f"{summary.messages:,}"), title=_("Backup"),
            severity="error" if summary.users_failed else "information")
