"""`mailmig serve`: the TUI in a real browser (Debian's Chromium, headless), bound to localhost.

Chromium draws xterm.js on a canvas, which a test cannot read; the page is loaded with canvas and WebGL
denied to the terminal, so xterm.js falls back to its DOM renderer and the rows the user would see are
text in the page. MAILMIG_UPDATE_SCREENSHOTS=1 copies the screenshot to screenshots/serve-browser.png.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mailmig_tui.core.project_factory import create_demo

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  # the page asks a web font service: nothing may leave loopback
                  "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
                  "--window-size=1280,720"]
DOM_RENDERER = """
const original = HTMLCanvasElement.prototype.getContext;
HTMLCanvasElement.prototype.getContext = function (kind, ...rest) {
  if (kind === 'webgl' || kind === 'webgl2' || (kind === '2d' && this.closest && this.closest('.xterm-screen'))) {
    return null;
  }
  return original.call(this, kind, ...rest);
};
"""
ROWS = "(document.querySelector('.xterm-rows') || {}).innerText || ''"


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed (scripts/install-system-packages.sh installs it)")
        pytest.skip("chromium is not installed (scripts/install-system-packages.sh installs it)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(proc: subprocess.Popen[Any]) -> None:
    """Stop a process we started in its own session, and its children, by its process group id."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "MAILMIG_LANG": "en", "MAILMIG_FAKE_NOW": "2026-11-27T10:00:00+00:00",
            "MAILMIG_OPERATOR": "zhang.wei", "TZ": "UTC", "HOME": str(tmp_path)}


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, int, Path]]:
    for key, value in _env(tmp_path).items():
        if key.startswith(("MAILMIG_", "TZ")):
            monkeypatch.setenv(key, value)
    project = create_demo(tmp_path)
    port = free_port()
    log = tmp_path / "serve.log"
    proc = subprocess.Popen([sys.executable, "-m", "mailmig_tui", "serve", str(project), "--port", str(port)],
                            stdout=log.open("w"), stderr=subprocess.STDOUT, env=_env(tmp_path), cwd=tmp_path,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("mailmig serve did not start: " + log.read_text()) from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", port, project
    finally:
        _stop(proc)


def _listening_addresses(port: int) -> set[str]:
    """Local addresses with a listening TCP socket on `port`, from /proc/net/tcp{,6}."""
    found = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(name) as table:
            for line in table.readlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                address, hex_port = local.split(":")
                if state == "0A" and int(hex_port, 16) == port:
                    found.add(address)
    return found


async def _browse(browser: str, url: str, shot: Path) -> tuple[str, str]:
    import aiohttp  # textual-serve's own dependency

    debug_port = free_port()
    profile = tempfile.mkdtemp(prefix="mailmig-chromium-")
    proc = subprocess.Popen([browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                             f"--remote-debugging-port={debug_port}", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        async with aiohttp.ClientSession() as http:
            targets: list[dict[str, Any]] = []
            for _ in range(200):
                try:
                    async with http.get(f"http://127.0.0.1:{debug_port}/json/list") as response:
                        targets = await response.json()
                    if any(t["type"] == "page" for t in targets):
                        break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
            page = next(t for t in targets if t["type"] == "page")
            async with http.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                counter = 0

                async def call(method: str, **params: Any) -> dict[str, Any]:
                    nonlocal counter
                    counter += 1
                    await ws.send_json({"id": counter, "method": method, "params": params})
                    while True:
                        message = await ws.receive_json()
                        if message.get("id") == counter:
                            return message.get("result", {})

                async def rows_when(text: str, timeout: float = 30) -> str:
                    deadline = time.monotonic() + timeout
                    rows = ""
                    while time.monotonic() < deadline:
                        result = await call("Runtime.evaluate", expression=ROWS, returnByValue=True)
                        rows = result["result"].get("value", "").replace("\xa0", " ")
                        if text in rows:
                            return rows
                        await asyncio.sleep(0.2)
                    return rows

                await call("Page.enable")
                await call("Page.addScriptToEvaluateOnNewDocument", source=DOM_RENDERER)
                await call("Page.navigate", url=url)
                dashboard = await rows_when("Recent activity")
                shot.parent.mkdir(exist_ok=True)
                data = await call("Page.captureScreenshot", format="png")
                shot.write_bytes(base64.b64decode(data["data"]))
                # the keyboard works through the browser too: 1 opens Preparation
                await call("Runtime.evaluate", expression="document.querySelector('.xterm-helper-textarea').focus()")
                for kind in ("keyDown", "keyUp"):
                    await call("Input.dispatchKeyEvent", type=kind, key="1", code="Digit1", text="1" if kind == "keyDown" else "",
                               windowsVirtualKeyCode=49)
                preparation = await rows_when("Checklist")
                return dashboard, preparation
    finally:
        _stop(proc)
        shutil.rmtree(profile, ignore_errors=True)


def test_dashboard_appears_in_a_headless_browser(served: tuple[str, int, Path], tmp_path: Path) -> None:
    browser = chromium()
    url, port, _project = served
    assert _listening_addresses(port) == {"0100007F"}, "mailmig serve must listen on 127.0.0.1 only by default"
    shot = tmp_path / "serve-browser.png"
    dashboard, preparation = asyncio.run(_browse(browser, url, shot))
    assert shot.stat().st_size > 10_000
    if os.environ.get("MAILMIG_UPDATE_SCREENSHOTS"):  # the copy kept in the repository
        shutil.copy(shot, ROOT / "screenshots" / "serve-browser.png")
    for expected in ("Overview", "corp.example", "1 Preparation", "2 Backup", "Recent activity"):
        assert expected in dashboard, dashboard
    assert "Preparation" in preparation and "Checklist" in preparation, preparation


def test_serve_refuses_a_bad_project_and_a_busy_port(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "mailmig_tui", "serve", str(tmp_path / "nope.mailmig.toml")],
                          capture_output=True, text=True, env=_env(tmp_path), timeout=60)
    assert proc.returncode == 3 and "no such project file" in proc.stderr
    project = create_demo(tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "mailmig_tui", "serve", str(project), "--port", str(port)],
                              capture_output=True, text=True, env=_env(tmp_path), timeout=60)
    assert proc.returncode == 2 and "cannot listen on 127.0.0.1" in proc.stderr
