"""Finding the lab's server programs where Debian installs them.

Daemons such as `nsd`, `unbound`, `dovecot` and their control tools live in /usr/sbin, which a normal
user's PATH often lacks (and a login over SSH as a non-root user nearly always does). Looking only on
PATH made every DNS test skip for such a user; `find_tool` looks on PATH first, then in the sbin folders.
"""

from __future__ import annotations

import os
import shutil

SBIN_FOLDERS = ("/usr/sbin", "/usr/local/sbin", "/sbin")


def find_tool(name: str) -> str | None:
    """The full path of the program `name`: on PATH, else in /usr/sbin, /usr/local/sbin or /sbin."""
    found = shutil.which(name)
    if found:
        return found
    for folder in SBIN_FOLDERS:
        candidate = os.path.join(folder, name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def missing_tools(*names: str) -> list[str]:
    """Which of `names` cannot be found (empty when all are there)."""
    return [name for name in names if find_tool(name) is None]


def require_tool(name: str) -> str:
    """`find_tool(name)`, or a RuntimeError naming the program and how to install it."""
    found = find_tool(name)
    if found is None:
        raise RuntimeError(f"{name} is not installed (run scripts/install-system-packages.sh)")
    return found
