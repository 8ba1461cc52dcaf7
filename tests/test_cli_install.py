"""A broken install (a library mailmig needs is missing) says so in one line, without a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Hide tomlkit from the child, as in a virtual environment made before it became a dependency.
HIDE = ("import sys, importlib.abc\n"
        "class Hide(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'tomlkit' or name.startswith('tomlkit.'):\n"
        "            raise ModuleNotFoundError(\"No module named 'tomlkit'\", name='tomlkit')\n"
        "sys.meta_path.insert(0, Hide())\n"
        "from mailmig_tui.cli import main\n"
        "sys.exit(main(['--help']))\n")


def test_a_missing_library_is_one_line_not_a_traceback() -> None:
    done = subprocess.run([sys.executable, "-c", HIDE], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "MAILMIG_LANG": "en"})
    assert done.returncode == 70
    assert "a library mailmig needs is not installed: tomlkit" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
