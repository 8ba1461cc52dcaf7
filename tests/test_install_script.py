"""scripts/install.sh says when ~/.local/bin is not on PATH, and how to add it."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _hint(path: str, shell: str = "/bin/bash") -> str:
    return subprocess.run(["bash", "-c", f'. "{ROOT}/scripts/lib/path_hint.sh"; path_hint /home/li/.local/bin'],
                          capture_output=True, text=True, check=True,
                          env={"PATH": path, "SHELL": shell, "HOME": "/home/li"}).stdout


def test_says_when_local_bin_is_not_on_path_and_how_to_add_it() -> None:
    out = _hint("/usr/bin:/bin")
    assert "/home/li/.local/bin is not on your PATH" in out
    assert """echo 'export PATH="/home/li/.local/bin:$PATH"' >> ~/.bashrc""" in out
    assert "~/.zshrc" in _hint("/usr/bin:/bin", "/usr/bin/zsh")


def test_silent_when_it_is() -> None:
    assert _hint("/usr/bin:/home/li/.local/bin:/bin") == ""
    assert _hint("/home/li/.local/bin/:/usr/bin") == ""


def test_install_script_uses_the_hint() -> None:
    script = (ROOT / "scripts" / "install.sh").read_text()
    assert 'path_hint "$HOME/.local/bin"' in script and "scripts/lib/path_hint.sh" in script
    assert subprocess.run(["bash", "-n", str(ROOT / "scripts" / "install.sh")]).returncode == 0
