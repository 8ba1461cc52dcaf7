"""Waiting for state, never for time: poll a condition with a deadline, so a busy machine makes a test
slower, not red, and a regression fails with what was awaited instead of hanging."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot

DEADLINE = 30.0


async def wait_for(pilot: Pilot[Any], condition: Callable[[], object], what: str, timeout: float = DEADLINE) -> None:
    """Let the app run until `condition()` is true; fail naming `what` after `timeout` seconds."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await pilot.pause(0.02)


def wait_until(condition: Callable[[], object], what: str, timeout: float = DEADLINE, step: float = 0.05) -> None:
    """The same outside an app (a process, a terminal): poll `condition()` until true or fail."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(step)
