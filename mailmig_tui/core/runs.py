"""What every per-user run (backup, copy, test matrix…) tells its caller, and how it is steered.

Engines run users in parallel and emit small frozen events (one per batch at most, so they are cheap to
forward or coalesce); the TUI's shared run view and the CLI's printers read the same vocabulary.
`Controls` pauses, resumes and cancels a running engine from any thread.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

# --- events: small, frozen, cheap ---------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class RunStarted:
    users: tuple[str, ...]
    dest: str
    workers: int
    phase: str = ""  # the copy's "prestage" (before the MX cutover) or "delta" (after); "" for others


@dataclass(frozen=True, slots=True)
class UserStarted:
    user: str


@dataclass(frozen=True, slots=True)
class UserPlanned:
    """After the user's folders are scanned: what this run still has to fetch."""

    user: str
    folders: int
    messages: int
    bytes: int


@dataclass(frozen=True, slots=True)
class FolderStarted:
    user: str
    folder: str
    messages: int  # to fetch in this folder
    bytes: int
    on_server: int


@dataclass(frozen=True, slots=True)
class Progress:
    """Messages and bytes just made durable (deltas; add them up)."""

    user: str
    folder: str
    messages: int
    bytes: int


@dataclass(frozen=True, slots=True)
class Retrying:
    user: str
    reason: str
    attempt: int
    delay: float


@dataclass(frozen=True, slots=True)
class UserDone:
    user: str
    state: str  # done | failed | cancelled
    messages: int
    bytes: int
    seconds: float
    error: str = ""


@dataclass(frozen=True, slots=True)
class RunSummary:
    users_ok: int
    users_failed: int
    users_cancelled: int
    messages: int
    bytes: int
    seconds: float
    errors: tuple[tuple[str, str], ...]
    dest: str

    @property
    def messages_per_second(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0

    @property
    def megabytes_per_second(self) -> float:
        return self.bytes / 1e6 / self.seconds if self.seconds > 0 else 0.0


Event = RunStarted | UserStarted | UserPlanned | FolderStarted | Progress | Retrying | UserDone | RunSummary



class Controls:
    """Pause, resume and cancel a running engine from any thread (the TUI's buttons, the CLI's Ctrl-C)."""

    def __init__(self) -> None:
        self.cancelled = threading.Event()
        self.running = threading.Event()
        self.running.set()

    def pause(self) -> None:
        self.running.clear()

    def resume(self) -> None:
        self.running.set()

    def cancel(self) -> None:
        self.cancelled.set()
        self.running.set()  # wake paused workers so they can stop

    def checkpoint(self) -> None:
        """Called by workers between batches: blocks while paused, raises if cancelled."""
        self.running.wait()
        if self.cancelled.is_set():
            raise Cancelled


class Cancelled(Exception):
    """Raised by `Controls.checkpoint()` once a run is cancelled."""
