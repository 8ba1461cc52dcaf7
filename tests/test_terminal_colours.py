"""The real app in a real terminal (tmux): readable with 16 colours and with NO_COLOR, at 80x24."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.servers import require_tools


@pytest.fixture(autouse=True)
def _tmux() -> None:
    require_tools("tmux")

SGR = re.compile(r"\x1b\[([0-9;]*)m")


def run_in_tmux(project: Path, env: dict[str, str], keys: list[str]) -> str:
    session = f"mailmig-test-{os.getpid()}"
    socket = f"mailmig-test-{os.getpid()}"
    environment = " ".join(f"{k}={v}" for k, v in env.items())
    command = (f"env {environment} PYTHONPATH={Path(__file__).parents[1]} MAILMIG_OPERATOR=tester "
               f"{sys.executable} -m mailmig_tui {project}; sleep 5")
    subprocess.run(["tmux", "-L", socket, "new-session", "-d", "-s", session, "-x", "80", "-y", "24", command], check=True)
    try:
        screen = ""
        for _ in range(100):  # wait until the app has drawn its footer
            time.sleep(0.1)
            screen = subprocess.run(["tmux", "-L", socket, "capture-pane", "-p", "-t", session],
                                    capture_output=True, text=True).stdout
            if "palette" in screen:
                break
        for key in keys:
            subprocess.run(["tmux", "-L", socket, "send-keys", "-t", session, key], check=True)
            time.sleep(0.4)
        return subprocess.run(["tmux", "-L", socket, "capture-pane", "-e", "-p", "-t", session],
                              capture_output=True, text=True, check=True).stdout
    finally:
        subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True)


def colour_codes(screen: str) -> set[str]:
    """The colour parameters of every SGR sequence on the screen (attributes like bold are left out)."""
    found = set()
    for params in SGR.findall(screen):
        parts = params.split(";") if params else ["0"]
        i = 0
        while i < len(parts):
            p = parts[i]
            if p in ("38", "48"):
                found.add(";".join(parts[i:i + (3 if parts[i + 1] == "5" else 5)]))
                i += 3 if parts[i + 1] == "5" else 5
                continue
            if p and (30 <= int(p) <= 49 or 90 <= int(p) <= 107):
                found.add(p)
            i += 1
    return found


def plain(screen: str) -> str:
    return SGR.sub("", screen)


def test_sixteen_colours_only(demo_path: Path) -> None:
    screen = run_in_tmux(demo_path, {"TEXTUAL_COLOR_SYSTEM": "standard", "TERM": "xterm-256color"}, ["1"])
    codes = colour_codes(screen)
    assert codes, "expected some colour"
    extended = {c for c in codes if c.startswith(("38", "48"))}
    assert not extended, f"colours beyond the 16 ANSI ones: {sorted(extended)}"
    text = plain(screen)
    assert "Checklist:" in text and "Tick" in text and "[x]" in text
    assert len(text.splitlines()) <= 24 and all(len(line) <= 80 for line in text.splitlines())


def is_grey(code: str) -> bool:
    parts = code.split(";")
    if parts[0] in ("38", "48") and parts[1] == "5":
        n = int(parts[2])
        return n in (0, 7, 8, 15, 16, 231) or 232 <= n <= 255
    if parts[0] in ("38", "48") and parts[1] == "2":
        return parts[2] == parts[3] == parts[4]
    return code in ("30", "37", "39", "40", "47", "49", "90", "97", "100", "107")


def test_no_color_has_no_colour_and_stays_readable(demo_path: Path) -> None:
    screen = run_in_tmux(demo_path, {"NO_COLOR": "1", "TERM": "xterm-256color"}, ["1"])
    # Textual honours NO_COLOR by rendering in monochrome: greys only, no hue anywhere.
    hues = {c for c in colour_codes(screen) if not is_grey(c)}
    assert not hues, f"colours despite NO_COLOR: {sorted(hues)}"
    text = plain(screen)
    # status and the cursor row are told by symbols and reverse video, not colour
    assert "[x]" in text and "[ ]" in text and "Tick" in text
    assert "\x1b[7m" in screen or ";7m" in screen or ";7;" in screen, "the cursor row must show without colour"
