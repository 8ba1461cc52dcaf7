"""What a test does when a real server or tool it needs is not installed.

On a developer's machine it skips, saying what to install. Under CI (`CI=true`) it FAILS: a green CI
run must mean the real-server tests ran. `tests/conftest.py` also turns any other skip into a failure
under CI, so a new `pytest.skip`/`skipif` cannot quietly hide a missing server either.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

from mailmig_tui.lab.tools import missing_tools

INSTALL_HINT = "scripts/install-system-packages.sh installs it"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def missing_server(what: str) -> NoReturn:
    """Skip (on a developer's machine) or fail (under CI=true) because `what` is missing."""
    message = f"{what} is not installed ({INSTALL_HINT})"
    if in_ci():
        pytest.fail(f"CI=true and {message}: the real-server tests cannot run", pytrace=False)
    pytest.skip(message)


def require_tools(*names: str) -> None:
    """`missing_server` unless every program in `names` is found (on PATH or in /usr/sbin)."""
    missing = missing_tools(*names)
    if missing:
        missing_server(", ".join(missing))
