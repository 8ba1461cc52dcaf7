"""The archive index (SQLite) is as durable as the files it describes: WAL with synchronous at least
NORMAL, and a process killed between publishing message files and committing their rows leaves an index
that points only at whole files; the next run removes the orphans and ends with every message once."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.backup_helpers import assert_archive_matches_corpus, cli_env, make_project, run_cli

INDEX = "index.sqlite"


def test_index_uses_wal_and_syncs_at_least_normal(tmp_path: Path) -> None:
    from mailmig_tui.core.backup.index import Index

    index = Index(tmp_path / INDEX)
    try:
        (mode,) = index.db.execute("PRAGMA journal_mode").fetchone()
        (sync,) = index.db.execute("PRAGMA synchronous").fetchone()
    finally:
        index.close()
    assert mode == "wal"
    assert sync >= 1, "synchronous=OFF: a crash could corrupt the index"
    # WAL is a property of the file: every later connection (verify, other tools) gets it too
    db = sqlite3.connect(tmp_path / INDEX)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


CHILD = """
import os, signal, sys, threading
from tests.durability import install_matching
at, moment = int(sys.argv[1]), sys.argv[2]  # the at-th publish, "before" or "after" it
count = [0]
lock = threading.Lock()
def hook(_index, _step, when):
    with lock:
        if when == "before":
            count[0] += 1
        if count[0] >= at and when == moment:
            os.kill(os.getpid(), signal.SIGKILL)
install_matching(lambda s: s.name in ("rename", "replace", "link")
                 and os.path.basename(os.path.dirname(s.target)) in ("cur", "new"), hook)
from mailmig_tui.cli import main
sys.exit(main(sys.argv[3:]))
"""


def _rows_point_at_whole_files(dest: Path, user: str) -> tuple[int, int]:
    """(rows, files without a row); fails if a row names a missing or different file."""
    db = sqlite3.connect(dest / INDEX)
    rows = db.execute("SELECT path, size, sha256 FROM messages WHERE user=?", (user,)).fetchall()
    db.close()
    for path, size, sha in rows:
        data = (dest / path).read_bytes()  # a row whose file is gone fails here
        assert len(data) == size and hashlib.sha256(data).hexdigest() == sha, path
    files = {str(p.relative_to(dest)) for p in (dest / "users").rglob("*") if p.parent.name in ("cur", "new")}
    return len(rows), len(files - {r[0] for r in rows})


@pytest.mark.lab
@pytest.mark.parametrize(("user", "at", "moment"), [("u2@corp.example", 1, "after"), ("u2@corp.example", 2, "before"),
                                                    ("kill9@corp.example", 700, "after")])
def test_a_kill_between_publishing_files_and_committing_rows(lab: Any, tmp_path: Path, user: str, at: int,
                                                             moment: str) -> None:
    project = make_project(tmp_path, lab.lab.old, {user: lab.old_users[user]})
    dest = tmp_path / "archive"
    child = subprocess.run([sys.executable, "-c", CHILD, str(at), moment, "backup", str(project), "--dest", str(dest),
                            "--workers", "1"], capture_output=True, text=True, env=cli_env(tmp_path), cwd=tmp_path,
                           timeout=110)
    assert child.returncode == -9, child.stdout + child.stderr
    rows, orphans = _rows_point_at_whole_files(dest, user)
    assert orphans >= 1, "the kill must land after a file was published and before its row was committed"
    assert rows < at <= rows + orphans + (moment == "before")
    code, events, out = run_cli(tmp_path, "backup", str(project), "--dest", str(dest), "--json")
    assert code == 0, out
    assert events[-1]["messages"] == lab.counts[user] - rows, "exactly the uncommitted messages are fetched again"
    rows, orphans = _rows_point_at_whole_files(dest, user)
    assert (rows, orphans) == (lab.counts[user], 0)
    assert_archive_matches_corpus(dest, user)
