"""The three locks, by what they do for users, across real processes:

- the project lock: a second writer is refused with the holder named (in the store and on the CLI,
  exit 4); a lock left by a process that died is taken over; no lock file is left after a clean exit;
- the backup archive lock: `mailmig backup` exits 4 while another backup holds the archive, and runs
  once the holder is gone (even killed);
- the credential file lock: a second writer waits for the first to finish its read-modify-write, so
  neither loses the other's secret.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from mailmig_tui.core import checklist
from mailmig_tui.core.credentials import EncryptedFileBackend
from mailmig_tui.core.errors import ProjectLockedError
from mailmig_tui.core.store import ProjectStore, load_project

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "MAILMIG_LANG": "en"}

HOLD_PROJECT = """
import sys
from pathlib import Path
from mailmig_tui.core.store import ProjectStore
store = ProjectStore.open(Path(sys.argv[1]), allow_readonly_fallback=False)
print("holding", flush=True)
sys.stdin.readline()
store.close()
"""


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def process_state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "gone"


@contextmanager
def holder(path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another mailmig process that has the project open for writing until the block ends."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD_PROJECT, str(path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "holding", proc.stderr
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream:
                stream.close()


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mailmig_tui", *args], capture_output=True, text=True,
                          env=env or ENV, cwd=cwd, timeout=110)


# --- the project lock ------------------------------------------------------------------------------


def test_a_second_writer_is_refused_with_the_holder_named(demo_path: Path, tmp_path: Path) -> None:
    csv_file = tmp_path / "users.csv"
    csv_file.write_text("email,old_password\nnew.one@corp.example,pw\n", encoding="utf-8")
    before = demo_path.read_text()
    with holder(demo_path) as other:
        named = f"pid {other.pid} on {socket.gethostname()}"
        with pytest.raises(ProjectLockedError, match=named):
            ProjectStore.open(demo_path, allow_readonly_fallback=False)
        with ProjectStore.open(demo_path) as reader:  # the TUI's fallback: read-only, saying who has it
            assert reader.readonly and named in reader.lock_message
            with pytest.raises(ProjectLockedError):
                reader.update(lambda p: checklist.toggle(p, "backup-run"))
        env = {**ENV, "MAILMIG_CREDENTIALS_FILE": str(tmp_path / "creds.enc"), "MAILMIG_PASSPHRASE": "pp",
               "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
        result = run_cli("users", "import", str(demo_path), str(csv_file), env=env)
        assert result.returncode == 4, result.stdout + result.stderr
        assert named in result.stderr and "Traceback" not in result.stderr
    assert demo_path.read_text() == before


def test_the_lock_of_a_process_that_died_is_taken_over(demo_path: Path) -> None:
    with holder(demo_path) as other:
        other.send_signal(signal.SIGKILL)
        other.wait(timeout=30)
    # what a dead holder leaves behind, whatever the lock's mechanism
    with ProjectStore.open(demo_path, allow_readonly_fallback=False) as store:
        assert not store.readonly
        store.update(lambda p: checklist.toggle(p, "backup-run"))
        with pytest.raises(ProjectLockedError, match=f"pid {os.getpid()} "):
            ProjectStore.open(demo_path, allow_readonly_fallback=False)
    assert load_project(demo_path).item("backup-run").done


def _lock_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".lock"))


@pytest.mark.xfail(strict=True, reason="fixed on branch edges")
def test_no_lock_file_is_left_after_a_clean_exit(demo_path: Path, tmp_path: Path) -> None:
    folder = demo_path.parent
    assert _lock_files(folder) == []  # the fixture's ProjectStore.create(...).close() left none
    with ProjectStore.open(demo_path) as store:
        store.update(lambda p: checklist.toggle(p, "backup-run"))
    assert _lock_files(folder) == []
    result = run_cli("status", str(demo_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert _lock_files(folder) == [] and _lock_files(tmp_path) == []


# --- the backup archive lock -----------------------------------------------------------------------


@pytest.mark.lab
def test_backup_exits_4_while_another_backup_holds_the_archive(lab: Any, tmp_path: Path) -> None:
    from tests.backup_helpers import assert_archive_matches_corpus, cli_env, make_project
    from tests.backup_helpers import run_cli as backup_cli

    user = "kill9@corp.example"
    project = make_project(tmp_path, lab.lab.old, {user: lab.old_users[user]})
    dest = tmp_path / "archive"
    first = subprocess.Popen([sys.executable, "-m", "mailmig_tui", "backup", str(project), "--dest", str(dest), "--json"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=cli_env(tmp_path))
    try:
        assert first.stdout is not None
        for line in first.stdout:  # mid-backup by the engine's own account, not by timing
            if json.loads(line)["event"] in ("progress", "summary"):
                break
        assert first.poll() is None, "the first backup ended before the test could hold it"
        first.send_signal(signal.SIGSTOP)  # it holds the archive and does nothing
        code, _events, out = backup_cli(tmp_path, "backup", str(project), "--dest", str(dest))
        assert code == 4, out
        assert "another mailmig is using the archive" in out and "Traceback" not in out
        first.send_signal(signal.SIGKILL)  # a holder that dies leaves nothing that blocks
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(timeout=30)
        if first.stdout:
            first.stdout.close()
    code, _events, out = backup_cli(tmp_path, "backup", str(project), "--dest", str(dest), "--json")
    assert code == 0, out
    assert_archive_matches_corpus(dest, user)


# --- the credential file lock ----------------------------------------------------------------------

STOP_INSIDE_WRITE = """
import os, signal, sys
from pathlib import Path
from mailmig_tui.core.credentials import EncryptedFileBackend
from tests.durability import install
path = Path(sys.argv[1])
backend = EncryptedFileBackend(path, "pp")
def hook(_index, step, when):
    # Stop in the middle of the read-modify-write: read done, new file not yet in place.
    if when == "before" and step.name in ("replace", "rename") and step.target == os.path.realpath(path):
        os.kill(os.getpid(), signal.SIGSTOP)
install(path.parent, hook)
backend.set("svc", sys.argv[2], sys.argv[3])
"""

SET_ONE = """
import sys
from pathlib import Path
from mailmig_tui.core.credentials import EncryptedFileBackend
EncryptedFileBackend(Path(sys.argv[1]), "pp").set("svc", sys.argv[2], sys.argv[3])
"""


def waiting_for_a_lock(pid: int) -> bool:
    """True if `pid` is blocked waiting for a file lock (a `->` line of /proc/locks names it)."""
    with open("/proc/locks") as handle:
        return any("->" in line and f" {pid} " in line for line in handle)


def test_a_second_credential_writer_waits_and_neither_secret_is_lost(tmp_path: Path) -> None:
    path = tmp_path / "creds.enc"
    EncryptedFileBackend(path, "pp").set("svc", "existing", "s0")
    first = subprocess.Popen([sys.executable, "-c", STOP_INSIDE_WRITE, str(path), "alice", "s1"], env=ENV)
    second: subprocess.Popen[bytes] | None = None
    try:
        wait_until(lambda: process_state(first.pid) in ("T", "gone"), "the first writer to stop inside its write")
        assert first.poll() is None, "the first writer ended instead of stopping"
        second = subprocess.Popen([sys.executable, "-c", SET_ONE, str(path), "bob", "s2"], env=ENV)
        wait_until(lambda: second.poll() is not None or waiting_for_a_lock(second.pid),
                   "the second writer to block on the lock or finish")
        assert second.poll() is None, "the second writer did not wait for the first to finish its write"
        first.send_signal(signal.SIGCONT)
        assert first.wait(timeout=60) == 0
        assert second.wait(timeout=60) == 0
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
    backend = EncryptedFileBackend(path, "pp")
    assert [backend.get("svc", login) for login in ("existing", "alice", "bob")] == ["s0", "s1", "s2"]
