"""`mailmig test` against the mail lab: the table at 80 columns, JSON events, results saved, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mailmig_tui.core.credentials import EncryptedFileBackend, service_name
from mailmig_tui.core.store import load_project
from mailmig_tui.lab.mail import MailLab
from tests.matrix.conftest import USERS


@pytest.fixture
def cli_env(project_path: Path, good_zone: MailLab, tmp_path: Path) -> dict[str, str]:
    """The lab's passwords in the encrypted credential file the CLI opens (as on a jump host)."""
    env = {**os.environ, "MAILMIG_LANG": "en", "MAILMIG_PASSPHRASE": "matrix-tests",
           "MAILMIG_CREDENTIALS_FILE": str(tmp_path / "credentials.enc")}
    backend = EncryptedFileBackend(tmp_path / "credentials.enc", "matrix-tests")
    rows = []
    for email in USERS:
        rows += [(service_name("corp.test", "old"), email, good_zone.old.users[email]),
                 (service_name("corp.test", "new"), email, good_zone.new.users[email])]
    backend.set_many(rows)
    return env


def mailmig(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mailmig_tui", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def test_pilots_pass_and_the_table_fits_80_columns(project_path: Path, cli_env: dict[str, str]) -> None:
    result = mailmig(cli_env, "test", str(project_path))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    table = [line for line in lines if line.startswith(("ann@", "bob@"))]
    assert len(table) == 2 and all(line.count("✓ ok") == 8 for line in table)
    wide = [line for line in lines if len(line) > 80 and not line.startswith("Results: ")]
    assert not wide, wide
    assert "Pilots 2/2 pass; all 2/4" in result.stdout
    last = load_project(project_path).sections["matrix"]["last_run"]
    assert last["pilots_passed"] == 2 and last["failed"] == 0 and last["cells"] == 16
    assert (project_path.parent / "corp.test.matrix.sqlite").exists()


def test_json_events_and_exit_1_on_a_failed_cell(project_path: Path, cli_env: dict[str, str],
                                                 good_zone: MailLab) -> None:
    good_zone.apply_zone(mx="old")
    result = mailmig(cli_env, "test", str(project_path), "--users", "cat@corp.test", "--checks", "mx,new", "--json")
    assert result.returncode == 1, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert events[0]["event"] == "started"
    cells = {e["check"]: e for e in events if e["event"] == "cell"}
    assert set(cells) == {"new_login", "mx"}
    assert cells["mx"]["status"] == "failed" and "landed at the old provider" in cells["mx"]["reason"]
    assert events[-1]["event"] == "summary" and events[-1]["failed"] == 1


def test_usage_errors_are_one_line(project_path: Path, cli_env: dict[str, str]) -> None:
    result = mailmig(cli_env, "test", str(project_path), "--checks", "nope")
    assert result.returncode == 2 and "unknown check 'nope'" in result.stderr and "Traceback" not in result.stderr
    result = mailmig(cli_env, "test", str(project_path), "--users", "zed@corp.test")
    assert result.returncode == 2 and "zed@corp.test is not a user of this project" in result.stderr
