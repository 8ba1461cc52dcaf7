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


# Probes: they act only in the child pytest the test below starts (MAILMIG_PROBE=act).
def test_probe_missing_server() -> None:
    if os.environ.get("MAILMIG_PROBE") == "act":
        require_tools("no-such-server-mailmig")


def test_probe_plain_skip() -> None:
    if os.environ.get("MAILMIG_PROBE") == "act":
        pytest.skip("a skip someone added later")


def _child(ci: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MAILMIG_PROBE": "act", "CI": ci, "PATH": USER_PATH}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:textual-snapshot",
                           "tests/test_no_silent_skips.py::test_probe_missing_server",
                           "tests/test_no_silent_skips.py::test_probe_plain_skip"],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=110)


def test_a_skip_fails_the_run_under_ci() -> None:
    ci = _child("true")
    assert ci.returncode == 1, ci.stdout + ci.stderr
    assert "2 failed" in ci.stdout and "CI=true" in ci.stdout, ci.stdout
    local = _child("")
    assert local.returncode == 0 and "2 skipped" in local.stdout, local.stdout + local.stderr


def test_a_module_skipped_at_import_fails_the_run_under_ci(tmp_path: Path) -> None:
    probe = tmp_path / "test_needs_a_missing_module.py"
    probe.write_text('import pytest\npytest.importorskip("no_such_module_mailmig")\n\n\ndef test_x() -> None:\n    pass\n')
    def run(ci: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:textual-snapshot", "-p", "tests.conftest",
                               str(probe)], capture_output=True, text=True, cwd=ROOT,
                              env={**os.environ, "CI": ci, "PYTHONPATH": str(ROOT)}, timeout=110)

    ci = run("true")
    assert ci.returncode not in (0, 5) and "skipped under CI=true" in ci.stdout, ci.stdout + ci.stderr
    local = run("")  # exit 5: nothing left to run, which is what a skipped module means here
    assert local.returncode == 5 and "1 skipped" in local.stdout, local.stdout + local.stderr


def test_every_test_has_a_timeout(pytestconfig: pytest.Config) -> None:
    assert pytestconfig.pluginmanager.hasplugin("timeout")
    assert float(pytestconfig.getoption("timeout") or 0) > 0, "pyproject addopts must set --timeout"
