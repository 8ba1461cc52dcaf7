"""How headless commands report: readable lines for humans, or one JSON event per line (`--json`).

Every event has `event` (its kind) and `time`; the kinds each command emits are listed in the README.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import Any, TextIO


def _default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if hasattr(value, "value"):
        return value.value
    return str(value)


class Reporter:
    def __init__(self, json_mode: bool = False, stream: TextIO | None = None) -> None:
        self.json_mode = json_mode
        self.stream = stream or sys.stdout
        self._last_progress = 0.0

    def event(self, kind: str, human: str | None = None, **fields: Any) -> None:
        """Emit an event: as JSON in --json mode, else as `human` (skipped when None)."""
        if self.json_mode:
            record = {"event": kind, "time": datetime.now().astimezone().isoformat(timespec="seconds"), **fields}
            self.stream.write(json.dumps(record, ensure_ascii=False, default=_default) + "\n")
            self.stream.flush()
        elif human is not None:
            self.stream.write(human + "\n")
            self.stream.flush()

    def progress(self, kind: str, human: str, min_interval: float = 0.5, force: bool = False, **fields: Any) -> None:
        """Like event(), but at most one every `min_interval` seconds so a fast engine cannot flood."""
        now = time.monotonic()
        if not force and now - self._last_progress < min_interval:
            return
        self._last_progress = now
        self.event(kind, human, **fields)


def error_line(message: str, stream: TextIO | None = None) -> None:
    (stream or sys.stderr).write(f"mailmig: {message}\n")


def have_terminal() -> bool:
    """Whether the TUI can open here: a terminal on stdin, stdout and stderr (Textual draws on stderr), or
    Textual's web driver (`mailmig serve`)."""
    if os.environ.get("TEXTUAL_DRIVER"):
        return True
    try:
        return sys.stdin.isatty() and sys.stdout.isatty() and sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class RunPrinter:
    """What the backup and copy commands print alike for the per-user run events of core/runs.py: the
    planned and done totals, the coalesced progress line, and a failed user's error line. Each command
    adds the events that read differently for it."""

    def __init__(self, out: Reporter) -> None:
        self.out = out
        self.planned_msgs = 0
        self.planned_bytes = 0
        self.done_msgs = 0
        self.done_bytes = 0
        self.start = time.monotonic()

    def planned(self, messages: int, size: int) -> None:
        self.planned_msgs += messages
        self.planned_bytes += size

    def progress(self, e: Any) -> None:
        """A Progress event: add it up and print the cumulative line (at most one a second, 4/s in JSON)."""
        from mailmig_tui.core.backup.summary import human_bytes
        from mailmig_tui.core.i18n import _

        out = self.out
        self.done_msgs += e.messages
        self.done_bytes += e.bytes
        secs = max(time.monotonic() - self.start, 1e-6)
        out.progress("progress", _("  {done}/{total} messages, {bytes} of {total_bytes}, {rate:.0f} msg/s, {mbs:.1f} MB/s").format(
            done=self.done_msgs, total=self.planned_msgs, bytes=human_bytes(self.done_bytes),
            total_bytes=human_bytes(self.planned_bytes), rate=self.done_msgs / secs, mbs=self.done_bytes / 1e6 / secs),
            min_interval=0.25 if out.json_mode else 1.0, user=e.user, folder=e.folder, messages=self.done_msgs,
            bytes=self.done_bytes, messages_total=self.planned_msgs, bytes_total=self.planned_bytes)

    def failed(self, e: Any) -> None:
        """A UserDone event: a failed user's error line (before its user_done event)."""
        from mailmig_tui.core.i18n import _

        if e.state == "failed":
            self.out.event("error", _("{user}: FAILED: {reason}").format(user=e.user, reason=e.error),
                           user=e.user, reason=e.error)


@contextlib.contextmanager
def first_ctrl_c_stops(out: Reporter, stop: Callable[[], None], message: str) -> Iterator[None]:
    """While the block runs, the first Ctrl-C says `message` (an "interrupt" event) and calls `stop` so the
    run ends cleanly; a second one aborts at once (KeyboardInterrupt). The previous handler comes back after."""

    def on_sigint(signum: int, frame: object) -> None:
        out.event("interrupt", message)
        stop()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
