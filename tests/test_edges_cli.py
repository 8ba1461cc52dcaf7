"""The rough edges a new user hit at the command line (issue 12): credentials, endpoints, locks,
terminals, exit codes, the README's commands, and pinning a self-signed certificate."""

from __future__ import annotations

import errno
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from mailmig_tui.cli import build_parser, main
from mailmig_tui.core.model import User
from mailmig_tui.core.project_factory import new_project
from mailmig_tui.core.store import ProjectStore
from tests.backup_helpers import ROOT, cli_env, make_project, run_cli


def _run(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mailmig_tui", *args], capture_output=True, text=True,
                          env=cli_env(tmp_path), cwd=tmp_path, input=stdin, timeout=60)


def test_readme_commands_exist() -> None:
    """Every `mailmig WORD …` the README shows is a command `mailmig --help` lists, with its sub-actions."""
    readme = (ROOT / "README.md").read_text()
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    commands = sub.choices  # type: ignore[attr-defined]
    for match in re.finditer(r"`?mailmig ((?:[a-z][a-z-]+)(?: [a-z][a-z-]+)?)", readme):
        words = match.group(1).split()
        if words[0] not in commands:
            continue  # `mailmig corp.example.mailmig.toml`, `mailmig project file` …: not a command word
        cmd = commands[words[0]]
        actions = [a for a in cmd._actions if a.__class__.__name__ == "_SubParsersAction"]
        if actions and len(words) > 1 and words[1] not in actions[0].choices and words[1] != "project":
            raise AssertionError(f"README shows `mailmig {' '.join(words)}`: no such action of `mailmig {words[0]}`")
    assert "mailmig users credentials" not in readme


def test_bogus_command_leaves_no_lock_and_exits_3(tmp_path: Path) -> None:
    proc = _run(tmp_path, "bogus")
    assert proc.returncode == 3 and "no such project file" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_new_and_normal_exits_leave_no_lock_files(tmp_path: Path) -> None:
    assert _run(tmp_path, "new", "corp.example").returncode == 0
    project = tmp_path / "corp.example.mailmig.toml"
    assert _run(tmp_path, "provider", "set", str(project), "old", "--imap-host", "imap.corp.example").returncode == 0
    assert _run(tmp_path, "status", str(project)).returncode == 0
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".lock")]
    # and the lock still works across processes after a holder removed its file
    with ProjectStore.open(project) as first:
        assert not first.readonly
        assert ProjectStore.open(project).readonly
    assert not project.with_name(project.name + ".lock").exists()


def test_lock_taken_after_the_holder_unlinked_it_is_retaken(tmp_path: Path) -> None:
    """A process that opened the lock file just before the holder removed it must not think it holds it."""
    project = tmp_path / "corp.example.mailmig.toml"
    ProjectStore.create(project, new_project("corp.example", "generic-imap", "generic-imap")).close()
    first = ProjectStore.open(project)
    lock_path = project.with_name(project.name + ".lock")
    stale = os.open(lock_path, os.O_RDWR)  # opened before the release, like a racing second mailmig
    first.close()
    import fcntl

    fcntl.flock(stale, fcntl.LOCK_EX | fcntl.LOCK_NB)  # it gets the old inode's lock …
    second = ProjectStore.open(project)  # … which guards nothing: a new opener gets the real one
    assert not second.readonly
    third = ProjectStore.open(project)
    assert third.readonly
    second.close()
    os.close(stale)


def test_new_into_an_unwritable_folder_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    real_open = os.open

    def deny(path: Any, *args: Any, **kwargs: Any) -> int:
        # root ignores the mode bits: refuse as a read-only file system would
        if str(path).startswith(str(folder)):
            raise PermissionError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, *args, **kwargs)

    if os.geteuid() == 0:
        monkeypatch.setattr(os, "open", deny)
    code = main(["new", "corp.example", "--dir", str(folder)])
    err = capsys.readouterr().err
    assert code == 3, err
    assert err.count("\n") == 1 and "cannot write" in err and "internal error" not in err
    assert list(folder.iterdir()) == []


def test_demo_without_a_terminal_does_not_open_the_tui(tmp_path: Path) -> None:
    proc = _run(tmp_path, "demo", "--dir", str(tmp_path / "d"))
    assert proc.returncode == 2
    assert "not a terminal" in proc.stderr and "\x1b[" not in proc.stdout + proc.stderr
    assert proc.stdout.strip().endswith(".mailmig.toml") and Path(proc.stdout.strip()).is_file()


def test_open_without_a_terminal_says_so(tmp_path: Path) -> None:
    project = tmp_path / "corp.example.mailmig.toml"
    ProjectStore.create(project, new_project("corp.example", "generic-imap", "generic-imap")).close()
    proc = _run(tmp_path, str(project))
    assert proc.returncode == 2 and "not a terminal" in proc.stderr and "\x1b[" not in proc.stdout
    assert not project.with_name(project.name + ".lock").exists()


@pytest.mark.parametrize("command", ["backup", "verify"])
def test_unknown_user_in_users_is_a_usage_error(tmp_path: Path, command: str) -> None:
    project = tmp_path / "corp.example.mailmig.toml"
    p = new_project("corp.example", "generic-imap", "generic-imap")
    p.users = [User("li.na@corp.example")]
    ProjectStore.create(project, p).close()
    proc = _run(tmp_path, command, str(project), "--users", "nobody@corp.example")
    assert proc.returncode == 2, proc.stderr
    assert "nobody@corp.example is not a user of this project" in proc.stderr


def test_new_and_provider_set_write_the_endpoints(tmp_path: Path) -> None:
    proc = _run(tmp_path, "new", "corp.example", "--from", "generic-imap", "--old-imap", "imap.old.example:143")
    assert proc.returncode == 0, proc.stderr
    assert "mailmig provider set" in proc.stdout  # the new side has no server yet: say how to set it
    project = tmp_path / "corp.example.mailmig.toml"
    data = tomllib.loads(project.read_text())
    assert data["old_provider"]["imap"] == {"host": "imap.old.example", "port": 143, "tls": "starttls"}
    proc = _run(tmp_path, "provider", "set", str(project), "new", "--imap-host", "imap.new.example", "--imap-port",
                "993", "--tls", "ssl", "--smtp-host", "smtp.new.example", "--smtp-port", "587",
                "--auth", "master", "--master-user", "admin")
    assert proc.returncode == 0, proc.stderr
    new = tomllib.loads(project.read_text())["new_provider"]
    assert new["imap"] == {"host": "imap.new.example", "port": 993, "tls": "ssl"}
    assert new["smtp"] == {"host": "smtp.new.example", "port": 587, "tls": "starttls"}
    assert new["auth"] == {"method": "master", "master_user": "admin"}
    before = project.read_text()
    for bad in (["--imap-port", "70000"], ["--imap-host", "bad host!"], []):
        proc = _run(tmp_path, "provider", "set", str(project), "new", *bad)
        assert proc.returncode == 2 and proc.stderr.startswith("mailmig: ") and proc.stderr.count("\n") == 1
    assert project.read_text() == before


def test_credentials_set_admin_needs_an_admin_login(tmp_path: Path) -> None:
    project = tmp_path / "corp.example.mailmig.toml"
    ProjectStore.create(project, new_project("corp.example", "generic-imap", "generic-imap")).close()
    proc = _run(tmp_path, "credentials", "set", str(project), "--admin", "old", stdin="secret\n")
    assert proc.returncode == 2 and "master_user" in proc.stderr
    assert _run(tmp_path, "credentials").returncode == 0


@pytest.mark.lab
def test_admin_password_from_the_cli_lets_every_user_back_up(lab: Any, tmp_path: Path) -> None:
    from mailmig_tui.lab.dovecot import MASTER_PASSWORD, MASTER_USER

    inst = lab.lab.old
    project = make_project(tmp_path, inst, {"u2@corp.example": "unused"})
    assert _run(tmp_path, "provider", "set", str(project), "old", "--auth", "master",
                "--master-user", MASTER_USER).returncode == 0
    # u2's own password is wrong: only the admin login can open the mailbox
    code, events, output = run_cli(tmp_path, "backup", str(project), "--json")
    assert code == 1 and "mailmig credentials set" in output  # the error says how to fix it
    proc = _run(tmp_path, "credentials", "set", str(project), "--admin", "old", stdin=MASTER_PASSWORD + "\n")
    assert proc.returncode == 0, proc.stderr
    assert MASTER_PASSWORD not in proc.stdout + proc.stderr and MASTER_PASSWORD not in project.read_text()
    code, events, output = run_cli(tmp_path, "backup", str(project), "--json")
    assert code == 0, output
    (summary,) = [e for e in events if e["event"] == "summary"]
    assert summary["messages"] == lab.counts["u2@corp.example"]


@pytest.mark.lab
@pytest.mark.parametrize("tls", ["ssl", "starttls"])
def test_untrusted_certificate_message_gives_the_line_to_pin_it(lab: Any, tmp_path: Path, tls: str) -> None:
    inst = lab.lab.old
    project = make_project(tmp_path, inst, {"u1@corp.example": lab.old_users["u1@corp.example"]}, tls=tls,
                           pin=False)
    code, _events, output = run_cli(tmp_path, "backup", str(project))
    assert code == 1 and "not trusted" in output
    line = f'tls_fingerprint = "{inst.fingerprint}"'
    assert line in output and "[old_provider.imap]" in output
    # doing exactly what the message says works
    text = project.read_text().replace("[old_provider.imap]\n", f"[old_provider.imap]\n{line}\n", 1)
    project.write_text(text)
    code, _events, output = run_cli(tmp_path, "backup", str(project))
    assert code == 0, output
