"""What the bench scripts share: reading a process's peak RSS, timing mailmig as installed, and starting
every timed run with the disk settled."""

from __future__ import annotations

import compileall
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def hwm(pid: int) -> float:
    """The process's RSS high-water mark (VmHWM) in MB. Not wait4's ru_maxrss: after fork that counts
    the parent's (this big Python's) RSS too."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def compile_package() -> None:
    """Byte-compile mailmig_tui, as `pip install` does. In an editable checkout with
    PYTHONDONTWRITEBYTECODE set (this machine sets it), a module changed since its .pyc was written is
    compiled from source again by every `mailmig` run: 30-40 ms of CPU that an installed copy never spends,
    and that the timings would otherwise include."""
    compileall.compile_dir(str(ROOT / "mailmig_tui"), quiet=1)


def settle() -> None:
    """Write back what earlier runs left dirty in the page cache before the next timed run starts.
    Otherwise a run pays for the writeback of the runs before it (hundreds of MB of archive or target
    mail), which measured a backup at 8.0 s right after the copy bench and 4.6 s on a settled disk."""
    os.sync()
