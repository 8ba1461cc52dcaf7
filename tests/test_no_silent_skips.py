"""No silent skips and no hangs: the labs find Debian's daemons in /usr/sbin, a missing server or tool
fails a CI run (CI=true) instead of skipping it, and every test has a timeout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mailmig_tui.lab.tools import find_tool
from tests.servers import missing_server, require_tools

ROOT = Path(__file__).resolve().parent.parent
USER_PATH = "/usr/local/bin:/usr/bin:/bin"  # a normal user's PATH: no sbin folder


def test_lab_tools_are_found_without_sbin_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    require_tools("nsd", "unbound", "nsd-control", "unbound-control", "dovecot")
    monkeypatch.setenv("PATH", USER_PATH)
    for tool in ("nsd", "unbound", "nsd-control", "unbound-control", "dovecot"):
        found = find_tool(tool)
        assert found is not None and os.access(found, os.X_OK), tool
    assert find_tool("no-such-server-mailmig") is None


def test_missing_server_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true and imaginary-server is not installed"):
        missing_server("imaginary-server")
    monkeypatch.setenv("CI", "")
    with pytest.raises(pytest.skip.Exception, match="imaginary-server is not installed"):
        missing_server("imaginary-server")


# Probes, run only by the tests below in a child pytest (MAILMIG_PROBE names the probe to act).
def test_probe_missing_server() -> None:
    if os.environ.get("MAILMIG_PROBE") == "missing":
        require_tools("no-such-server-mailmig")


def test_probe_plain_skip() -> None:
    if os.environ.get("MAILMIG_PROBE") == "skip":
        pytest.skip("a skip someone added later")


def _child(probe: str, test: str, ci: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MAILMIG_PROBE": probe, "CI": ci, "PATH": USER_PATH}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           f"tests/test_no_silent_skips.py::{test}"],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=110)


@pytest.mark.parametrize(("probe", "test"), [("missing", "test_probe_missing_server"),
                                             ("skip", "test_probe_plain_skip")])
def test_a_skip_fails_the_run_under_ci(probe: str, test: str) -> None:
    ci = _child(probe, test, "true")
    assert ci.returncode == 1, ci.stdout + ci.stderr
    assert "1 failed" in ci.stdout and "CI=true" in ci.stdout, ci.stdout
    local = _child(probe, test, "")
    assert local.returncode == 0 and "1 skipped" in local.stdout, local.stdout + local.stderr


def test_every_test_has_a_timeout(pytestconfig: pytest.Config) -> None:
    assert pytestconfig.pluginmanager.hasplugin("timeout")
    assert float(pytestconfig.getoption("timeout") or 0) > 0, "pyproject addopts must set --timeout"
