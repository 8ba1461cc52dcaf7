"""Watching and breaking the file-system steps of a save, by patching `os` functions only.

A save that promises durability and atomicity does, in some order: write a temp file, fsync it, maybe
chmod it, rename it over the target, fsync the folder. These helpers record every such call that
touches a given folder (which file, which fd), so a test can assert the order, and inject a failure
(an exception in-process, or SIGKILL in a child process) before or after any one of them, so a test can
check that the target file is always either the old or the new one, whole. They patch `os` functions,
never a module's private helpers, so they keep working when the save's implementation changes.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# (name, how many leading path arguments)
STEP_FUNCTIONS = {"fsync": 0, "fdatasync": 0, "fchmod": 0, "chmod": 1, "replace": 2, "rename": 2, "link": 2,
                  "unlink": 1}


@dataclass
class Step:
    name: str  # the os function
    path: str  # the file or folder it acted on (for fsync: what the fd is open on)
    target: str = ""  # for replace/rename/link: the destination
    completed: bool = False  # False if it raised (unlink of a file that is not there)

    def __str__(self) -> str:
        return f"{self.name}({self.path}{' -> ' + self.target if self.target else ''})"


class InjectedCrash(Exception):
    """Raised in place of a step by `record_steps(..., fail=...)`."""


def _fd_path(fd: int) -> str:
    try:
        return os.path.realpath(os.readlink(f"/proc/self/fd/{fd}").removesuffix(" (deleted)"))
    except OSError:
        return f"<fd {fd}>"


def _describe(name: str, args: tuple[object, ...]) -> Step:
    if STEP_FUNCTIONS[name] == 0:
        return Step(name, _fd_path(int(args[0])))  # type: ignore[call-overload]
    path = os.path.realpath(os.fspath(args[0]))  # type: ignore[call-overload]
    target = os.path.realpath(os.fspath(args[1])) if STEP_FUNCTIONS[name] == 2 else ""  # type: ignore[call-overload]
    return Step(name, path, target)


def install(folder: Path, hook: Callable[[int, Step, str], None]) -> Callable[[], None]:
    """Wrap the os step functions; `hook(index, step, "before"|"after")` runs around each step that
    touches `folder` (the folder itself or a file directly in it). Returns an undo function."""
    folder_s = os.path.realpath(folder)

    def concerns(step: Step) -> bool:
        return any(p == folder_s or os.path.dirname(p) == folder_s for p in (step.path, step.target) if p)

    return install_matching(concerns, hook)


def install_matching(concerns: Callable[[Step], bool], hook: Callable[[int, Step, str], None]) -> Callable[[], None]:
    """Like `install`, for the steps `concerns(step)` picks (e.g. every rename into a Maildir cur/)."""
    originals = {name: getattr(os, name) for name in STEP_FUNCTIONS}
    count = [0]

    def wrap(name: str) -> Callable[..., object]:
        real = originals[name]

        def wrapper(*args: object, **kwargs: object) -> object:
            step = _describe(name, args)
            if not concerns(step):
                return real(*args, **kwargs)
            index = count[0]
            count[0] += 1
            hook(index, step, "before")
            result = real(*args, **kwargs)
            hook(index, step, "after")
            return result

        return wrapper

    for name in STEP_FUNCTIONS:
        setattr(os, name, wrap(name))

    def undo() -> None:
        for name, real in originals.items():
            setattr(os, name, real)

    return undo


@contextlib.contextmanager
def record_steps(folder: Path, fail: tuple[int, str] | None = None) -> Iterator[list[Step]]:
    """Record the steps touching `folder`; with `fail=(i, "before"|"after")` raise InjectedCrash there."""
    steps: list[Step] = []

    def hook(index: int, step: Step, when: str) -> None:
        if when == "before":
            steps.append(step)
        else:
            steps[index].completed = True
        if fail == (index, when):
            raise InjectedCrash(f"{when} {step}")

    undo = install(folder, hook)
    try:
        yield steps
    finally:
        undo()


def kill_in_child(folder: Path, at: tuple[int, str]) -> None:
    """In a child process: SIGKILL this process before or after step `at` in `folder`."""

    def hook(index: int, _step: Step, when: str) -> None:
        if (index, when) == at:
            os.kill(os.getpid(), signal.SIGKILL)

    install(folder, hook)


def crash_points(steps: list[Step]) -> list[tuple[int, str]]:
    """Before every step, and after every step that completed."""
    return [(i, when) for i, step in enumerate(steps) for when in ("before", "after")
            if when == "before" or step.completed]


def assert_old_or_new(path: Path, old: str, new: str, where: object) -> None:
    if not path.exists():
        pytest.fail(f"crash {where}: {path.name} is gone")
    text = path.read_text(encoding="utf-8")
    assert text in (old, new), f"crash {where}: {path.name} is neither the old nor the new file (half written?)"
