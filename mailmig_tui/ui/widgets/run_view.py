"""The per-user run view every per-user run shares (backup, copy, test matrix…): an event buffer, one
row per user and the progress table with an overall line above it and the highlighted user's detail
below it.

Engines' threads push their events (the vocabulary of `core/runs.py`) into an `EventBuffer`, which merges
Progress events per user as they arrive; a timer drains it four times a second and redraws once. So a
full-speed engine costs the UI a few small redraws a second whatever its event rate, and the UI thread
never waits on the network.

The owner (a phase's panel) chooses the columns (`Column`: the built-in ones by key, or its own with a
`cell` function), handles the events the view does not know (`extra_event`), and may add to the status
words, the idle lines and the detail line. Everything shown comes from `apply_event`, which tests and
screenshots call with a fixed sequence of events and a fake clock (`view.clock`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.events import Resize
from textual.timer import Timer
from textual.widgets import DataTable, Static

from mailmig_tui.core.i18n import N_, _
from mailmig_tui.core.runs import (
    FolderStarted,
    Progress,
    Retrying,
    RunStarted,
    RunSummary,
    UserDone,
    UserPlanned,
    UserStarted,
)

DRAIN_SECONDS = 0.25


class EventBuffer:
    """Where the engine's threads leave events for the UI. Thread-safe and coalescing: Progress events
    of a user are summed, and of the `latest` event types (each with a `user`) only a user's latest is
    kept, until the next other event (so the order of everything else is preserved). `drain()` hands over
    what arrived since the last call."""

    def __init__(self, latest: tuple[type, ...] = ()) -> None:
        self._lock = threading.Lock()
        self._latest = latest
        self._events: list[Any] = []
        self._progress: dict[str, list[Any]] = {}  # user -> [messages, bytes, folder]
        self._newest: dict[tuple[type, str], Any] = {}
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
            elif self._latest and isinstance(event, self._latest):
                self._newest[(type(event), getattr(event, "user", ""))] = event
            else:
                self._flush()
                self._events.append(event)

    def _flush(self) -> None:
        self._events.extend(Progress(user, folder, messages, size) for user, (messages, size, folder) in self._progress.items())
        self._events.extend(self._newest.values())
        self._progress.clear()
        self._newest.clear()

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
    messages_total: int = 0  # still to do when this run started (the engines are incremental)
    bytes_total: int = 0
    messages: int = 0
    bytes: int = 0
    folder: str = ""
    note: str = ""  # why it failed, or the connection problem being retried
    started: float | None = None  # active run seconds (pauses left out) when the user started
    finished: float | None = None
    check: Any = None  # the owner's per-user check after the run (a verify result…)
    checking: bool = False
    extra: dict[str, Any] = field(default_factory=dict)  # anything else an owner's columns show

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


def fit(value: str | Text, width: int, *, right: bool = False, lead: bool = True, style: str = "") -> Text:
    """Exactly `width` cells: a separating space, then the value cut with … or aligned."""
    inner = width - (1 if lead else 0)
    if isinstance(value, str) and cell_len(value) <= inner:  # the common case, without Text arithmetic
        pad = " " * (inner - cell_len(value))
        text = Text((" " if lead else "") + (pad + value if right else value + pad))
        if style:
            text.stylize(style, 1 if lead else 0)  # as below: the separating space stays plain
        return text
    text = value.copy() if isinstance(value, Text) else Text(value, style=style)
    text.truncate(inner, overflow="ellipsis")
    text.align("right" if right else "left", inner)
    return Text(" ") + text if lead else text


@dataclass(frozen=True)
class Column:
    """One column: `key` (a built-in one: user state progress messages mb rate folder, or the owner's with
    `cell`), its header (an N_() msgid), its width in cells including the separating space (0: takes what
    the others leave, at least MIN_FLEX), and whether it is right-aligned."""

    key: str
    header: str
    width: int
    right: bool = False
    cell: Callable[[UserRow], str | Text] | None = None


MIN_FLEX = 10

# The backup's layout; others pick from these and add their own.
STANDARD_COLUMNS: list[Column] = [
    Column("user", N_("User"), 11),
    Column("state", N_("State"), 10),
    Column("progress", N_("Progress"), 12),
    Column("messages", N_("Messages"), 12, right=True),
    Column("mb", N_("MB"), 10, right=True),
    Column("rate", N_("Rate"), 7, right=True),
    Column("folder", N_("Folder"), 0),
]


class RunView(Vertical):
    """Per-user progress of a run with an overall line above and the highlighted user's detail below.

    `prefix` names the parts (`#{prefix}-overall`, `#{prefix}-table`, `#{prefix}-detail`). Hooks, all
    optional: `extra_event(event, now)` sees every event after the view took it (the owner's own events
    included); `status()` the status words of
    the overall line (default `run_status()`); `idle_lines()` the two lines shown before any run;
    `describe(row, text)` the detail line of the highlighted user; `redraw(now)` what a drain redraws
    (default `refresh_view`, so an owner can redraw its own parts too).
    """

    DEFAULT_CSS = """
    RunView { height: 1fr; }
    RunView > .run-overall { height: 2; padding: 0 1; }
    RunView > DataTable { height: 1fr; }
    RunView > .run-detail { height: auto; max-height: 2; padding: 0 1; color: $text-muted; }
    """

    def __init__(self, columns: Sequence[Column] = STANDARD_COLUMNS, *, prefix: str = "run",
                 latest: tuple[type, ...] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.columns = list(columns)
        self.prefix = prefix
        self.clock: Callable[[], float] = time.monotonic  # tests and screenshots set a fake one
        self.buffer = EventBuffer(latest)
        self.rows: dict[str, UserRow] = {}
        self.domain = ""  # users of this domain are shown by their local part
        self.paused = False
        self.stopping = False
        self.resumable = False  # the last run was cancelled: r starts it again
        self.run_active = False  # between RunStarted and RunSummary
        self.summary: RunSummary | None = None
        self.no_users = _("No users yet: import them with `mailmig users import`.")
        self.extra_event: Callable[[Any, float], None] | None = None
        self.status: Callable[[], str] | None = None
        self.idle_lines: Callable[[], str] | None = None
        self.describe: Callable[[UserRow, str], str] | None = None
        self.redraw: Callable[[float | None], None] | None = None
        self.timer: Timer | None = None
        self._run_t0 = 0.0
        self._paused_at: float | None = None
        self._paused_total = 0.0
        self._dirty: set[str] = set()
        self._table_users: list[str] = []
        self._flex_width = MIN_FLEX

    @property
    def table(self) -> DataTable[Text]:
        return self.query_one(f"#{self.prefix}-table", DataTable)

    def compose(self) -> ComposeResult:
        yield Static(id=f"{self.prefix}-overall", classes="run-overall")
        yield DataTable(cursor_type="row", cell_padding=0, id=f"{self.prefix}-table")
        yield Static(id=f"{self.prefix}-detail", classes="run-detail")

    def on_mount(self) -> None:
        self.timer = self.set_interval(DRAIN_SECONDS, self.drain, pause=True)

    def on_resize(self, event: Resize) -> None:
        fixed = sum(c.width for c in self.columns)
        width = max(MIN_FLEX, event.size.width - fixed - 1)  # 1: the vertical scrollbar
        if width != self._flex_width or self._table_users != list(self.rows):
            self._flex_width = width
            self._table_users = []  # (re)build at this width
            self.refresh_view()

    # --- the owner steers -----------------------------------------------------------------------

    def set_users(self, emails: Sequence[str]) -> None:
        """The users to show while nothing runs (known rows keep their last state)."""
        if not self.run_active:
            known = self.rows
            self.rows = {e: known.get(e) or UserRow(e) for e in emails}

    def started(self) -> None:
        """A worker started: drain the buffer from now on."""
        self.stopping = self.resumable = False
        if self.timer:
            self.timer.resume()

    def stopped(self) -> None:
        """The worker ended: take what is left in the buffer and stop draining."""
        self.drain()
        self.stopping = False
        self.set_paused(False)
        if self.timer:
            self.timer.pause()

    def set_paused(self, paused: bool) -> None:
        now = self.clock()
        if paused and not self.paused:
            self._paused_at = now
        elif not paused and self._paused_at is not None:
            self._paused_total += now - self._paused_at
            self._paused_at = None
        self.paused = paused
        self._dirty.update(self.rows)

    def touch(self, email: str | None = None) -> None:
        """Redraw the row of `email` (every row when None) at the next refresh."""
        self._dirty.update(self.rows if email is None else [email])

    # --- events ---------------------------------------------------------------------------------

    def row(self, email: str) -> UserRow:
        row = self.rows.get(email)
        if row is None:
            row = self.rows[email] = UserRow(email)
        self._dirty.add(email)
        return row

    def active_seconds(self, now: float) -> float:
        """Seconds the run has been going, pauses left out."""
        paused = self._paused_total + (now - self._paused_at if self._paused_at is not None else 0.0)
        return max(0.0, now - self._run_t0 - paused)

    def apply_event(self, event: Any, at: float | None = None, *, refresh: bool = True) -> None:
        """Take one event into the rows (the owner's `extra_event` gets what the view does not know)."""
        now = self.clock() if at is None else at
        if isinstance(event, RunStarted):
            self.rows = {email: UserRow(email, "waiting") for email in event.users}
            self._table_users = []
            self.run_active, self.summary = True, None
            self._run_t0, self._paused_total = now, 0.0
            self._paused_at = now if self.paused else None
        elif isinstance(event, UserStarted):
            row = self.row(event.user)
            row.state, row.started = "running", self.active_seconds(now)
        elif isinstance(event, UserPlanned):
            row = self.row(event.user)
            row.planned, row.messages_total, row.bytes_total = True, event.messages, event.bytes
        elif isinstance(event, FolderStarted):
            self.row(event.user).folder = event.folder
        elif isinstance(event, Progress):
            row = self.row(event.user)
            row.messages += event.messages
            row.bytes += event.bytes
            row.folder = event.folder
            if row.state == "retrying":
                row.state, row.note = "running", ""
        elif isinstance(event, Retrying):
            row = self.row(event.user)
            row.state = "retrying"
            row.note = _("retry {n} in {delay:.0f}s: {reason}").format(n=event.attempt, delay=event.delay, reason=event.reason)
        elif isinstance(event, UserDone):
            row = self.row(event.user)
            row.state, row.finished = event.state, self.active_seconds(now)
            row.messages, row.bytes = event.messages, event.bytes
            row.note = event.error if event.state == "failed" else ""
            if event.state == "done":
                row.folder = ""
        elif isinstance(event, RunSummary):
            self.summary, self.run_active = event, False
            self.resumable = bool(event.users_cancelled)
            if self._paused_at is not None:
                self._paused_total += now - self._paused_at
                self._paused_at = None
        if self.extra_event is not None:  # every event: the owner may also care about the ones above
            self.extra_event(event, now)
        if refresh:
            self._redraw(now)

    def drain(self) -> None:
        now = self.clock()
        for event in self.buffer.drain():
            self.apply_event(event, now, refresh=False)
        self._redraw(now)

    def _redraw(self, now: float) -> None:
        (self.redraw or self.refresh_view)(now)

    # --- drawing --------------------------------------------------------------------------------

    def refresh_view(self, now: float | None = None) -> None:
        if not self.is_mounted:
            return
        now = self.clock() if now is None else now
        self.query_one(f"#{self.prefix}-overall", Static).update(self.overall(now))
        self._refresh_table(now)
        self.show_detail()

    def state_of(self, row: UserRow) -> str:
        if self.paused and row.state in ("running", "waiting", "retrying"):
            return "paused"
        return row.state

    def run_status(self) -> str:
        """The run's own status words: running, paused, stopping, stopped, finished."""
        if self.run_active:
            if self.stopping:
                return "■ " + _("stopping after the current batch…")
            return "‖ " + _("paused") if self.paused else "▶ " + _("running")
        if self.summary is not None:
            if self.summary.users_cancelled:
                return "■ " + _("stopped (r resumes)")
            return ("✓ " if not self.summary.users_failed else "✗ ") + _("finished")
        return ""

    def overall(self, now: float) -> Text:
        rows = list(self.rows.values())
        if not (self.run_active or self.summary):
            lines = self.idle_lines() if self.idle_lines else self.run_status()
            return Text(lines, no_wrap=True, overflow="ellipsis")
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
        elapsed = self.summary.seconds if self.summary else self.active_seconds(now)
        msg_rate = done_msgs / elapsed if elapsed > 0 else 0.0
        byte_rate = done_bytes / elapsed if elapsed > 0 else 0.0
        parts = [self.status() if self.status else self.run_status(),
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
        first.append("\n" + " · ".join([p for p in parts if p] + [errors]))
        if failed:
            first.highlight_words([errors], style="bold red")
        return first

    def _width(self, column: Column) -> int:
        return column.width or self._flex_width

    def _refresh_table(self, now: float) -> None:
        table = self.table
        emails = list(self.rows)
        if emails != self._table_users:
            if not self.size.width:  # not laid out yet: on_resize builds it once, at the real width
                return
            cursor = table.cursor_row
            table.clear(columns=True)
            for column in self.columns:
                width = self._width(column)
                table.add_column(fit(_(column.header), width, right=column.right, lead=column.key != "user", style="bold"),
                                 key=column.key, width=width)
            for email in emails:
                table.add_row(*self.cells(self.rows[email], now), key=email)
            self._table_users = emails
            self._dirty.clear()
            if emails:
                table.move_cursor(row=min(cursor, len(emails) - 1))
            return
        self._dirty.update(e for e, r in self.rows.items() if r.state in ("running", "retrying"))  # rates move
        for email in self._dirty:
            if email in self.rows:
                for column, value in zip(self.columns, self.cells(self.rows[email], now), strict=True):
                    table.update_cell(email, column.key, value)
        self._dirty.clear()

    def short_user(self, email: str) -> str:
        local, _at, domain = email.partition("@")
        return local if self.domain and domain.lower() == self.domain.lower() else email

    def cells(self, row: UserRow, now: float) -> list[Text]:
        return [fit(self._value(column, row, now), self._width(column), right=column.right, lead=column.key != "user")
                for column in self.columns]

    def _value(self, column: Column, row: UserRow, now: float) -> str | Text:
        if column.cell is not None:
            return column.cell(row)
        active = row.state != "idle"
        key = column.key
        if key == "user":
            return self.short_user(row.email)
        if key == "state":
            symbol, word, style = STATES[self.state_of(row)]
            return Text(f"{symbol} {_(word)}", style=style)
        if key == "progress":
            return f"{text_bar(row.fraction(), 6)} {row.fraction() * 100:3.0f}%" if active else ""
        if key == "messages":
            return f"{count(row.messages)}/{count(row.messages_total) if row.planned else '?'}" if active else ""
        if key == "mb":
            return f"{megabytes(row.bytes)}/{megabytes(row.bytes_total) if row.planned else '?'}" if active else ""
        if key == "rate":
            if row.started is not None and row.state in ("running", "retrying", "done"):
                end = row.finished if row.finished is not None else self.active_seconds(now)
                seconds = end - row.started
                return count(row.messages / seconds) + "/s" if seconds > 0 and row.messages else ""
            return ""
        if key == "folder":
            if row.state in ("failed", "retrying"):
                return Text(row.note, style="red" if row.state == "failed" else "yellow")
            return row.folder if row.state == "running" else ""
        return ""

    def highlighted(self) -> UserRow | None:
        table = self.table
        if not table.row_count:
            return None
        try:
            return self.rows.get(str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value))
        except Exception:
            return None

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_detail()

    def show_detail(self) -> None:
        row = self.highlighted()
        detail = self.query_one(f"#{self.prefix}-detail", Static)
        if row is None:
            detail.update(self.no_users)
            return
        symbol, word, _style = STATES[self.state_of(row)]
        text = f"{symbol} {row.email}: {_(word)}"
        if row.note:
            text += f": {row.note}"
        elif row.folder and row.state in ("running", "retrying"):
            text += " · " + _("folder {folder}").format(folder=row.folder)
        if self.describe is not None:
            text = self.describe(row, text)
        detail.update(Text(text))
