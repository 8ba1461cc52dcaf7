"""What every lab daemon wrapper needs: its pid from a pid file, whether a process still runs, stopping it
(SIGTERM, a wait, SIGKILL for what is left), whether a port answers, and the JSON of its settings."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar


def alive(pid: int) -> bool:
    """True if `pid` runs and is not a zombie (exited daemons linger as zombies here)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    if int(handle.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, ValueError, IndexError):
                continue
    return found


def running_pid(pid_file: Path) -> int | None:
    """The pid the file names, if that process runs."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if alive(pid) else None


def terminate(pid: int, timeout: float, *, with_children: bool = False, reap: bool = False) -> float:
    """SIGTERM, wait up to `timeout` for it (and, with_children, the children it had) to go, SIGKILL what
    is left. `reap`: `pid` is our own child, collected while waiting so it does not linger as a zombie.
    Returns the deadline, for a caller that waits for something more (its ports closing)."""
    family = (pid, *children(pid)) if with_children else (pid,)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(p) for p in family):
        if reap:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)
    for p in family:
        if alive(p):
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)
    return deadline


def accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


_T = TypeVar("_T", bound="RootedJson")


class RootedJson:
    """to_json/from_json for a lab dataclass whose `root` is a Path (lab.json keeps it as a string)."""

    root: Path

    def to_json(self) -> dict[str, object]:
        data = asdict(self)  # type: ignore[call-overload]
        data["root"] = str(self.root)
        return dict(data)

    @classmethod
    def from_json(cls: type[_T], data: dict[str, object]) -> _T:
        kwargs: dict[str, Any] = dict(data)
        kwargs["root"] = Path(str(kwargs["root"]))
        return cls(**kwargs)
