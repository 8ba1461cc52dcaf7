"""How headless commands report: readable lines for humans, or one JSON event per line (`--json`).

Every event has `event` (its kind) and `time`; the kinds each command emits are listed in the README.
"""

from __future__ import annotations

import json
import os
import sys
import time
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
