"""The backup against real Dovecot servers, beyond the first run: a server down for minutes, repairs,
incremental re-runs (flags, keywords, deletions, unchanged folders), the archive opened by Dovecot
itself, and archives written with the first folder naming.

No timed assertions: "the server has been down long enough" is read from the engine's own events.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient

from mailmig_tui.core.backup import engine as engine_module
from mailmig_tui.core.backup.engine import BackupEngine, BackupOptions, Reconnected, Retrying, UserPlanned
from mailmig_tui.core.backup.names import folder_dirname_v1, user_dirname
from mailmig_tui.core.imap.fetch import parse_internaldate
from mailmig_tui.lab.corpus import bulk_corpus, fill_mailbox
from mailmig_tui.lab.dovecot import DovecotInstance
from tests.backup_helpers import as_project, cli_env, credentials, make_project, run_cli, server_state

pytestmark = pytest.mark.lab

OLD_LIMIT = 3.5  # what the first engine waited for a server it had never reached, in all


def _traversable_dir() -> Path:
    """A folder Dovecot's unprivileged processes can reach (pytest's tmp_path is 0700)."""
    root = Path(tempfile.mkdtemp(prefix="mailmig-robust-"))
    root.chmod(0o711)
    return root


@pytest.fixture
def solo() -> Iterator[DovecotInstance]:
    """A Dovecot of this test's own, which it may stop and start (the session lab is shared)."""
    from mailmig_tui.lab.dovecot import dovecot_binary

    if dovecot_binary() is None:
        pytest.skip("dovecot is not installed")
    root = _traversable_dir()
    inst = DovecotInstance("solo", root / "solo", users={"down@corp.example": "pw-down"})
    inst.root.mkdir(parents=True)
    inst.root.chmod(0o711)
    inst.write_config()
    inst.start()
    try:
        fill_mailbox("127.0.0.1", inst.imap_port, "down@corp.example", "pw-down", bulk_corpus(80, seed=5))
        yield inst
    finally:
        inst.stop()
        shutil.rmtree(root, ignore_errors=True)


def _index(dest: Path) -> sqlite3.Connection:
    return sqlite3.connect(dest / "index.sqlite")


# --- a server down for longer than a few seconds ---------------------------------------------------------

def test_server_down_for_long_then_back_is_waited_for(solo: DovecotInstance, tmp_path: Path) -> None:
    """The server is stopped before the run, stays down longer than the first engine ever waited (3.5 s),
    then comes back: the user is shown waiting (JSON `retry` events with reason and next try) and the
    backup completes. `[backup] retry_for` in the project file sets how long to wait."""
    user = "down@corp.example"
    project = make_project(tmp_path, solo, {user: "pw-down"})
    text = project.read_text()
    project.write_text(text + '\n[backup]\nretry_for = "2m"\nretry_max_delay = 1\n')
    dest = tmp_path / "archive"
    solo.stop()
    proc = subprocess.Popen([sys.executable, "-m", "mailmig_tui", "backup", str(project), "--dest", str(dest), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(tmp_path), cwd=tmp_path)
    assert proc.stdout is not None
    events: list[dict[str, Any]] = []
    restarted = False
    for line in proc.stdout:
        event = json.loads(line)
        events.append(event)
        if event["event"] == "retry" and not restarted:
            assert event["state"] == "waiting" and event["reason"] and event["next_try"] and event["give_up_at"]
            from datetime import datetime

            waited = datetime.fromisoformat(event["next_try"]) - datetime.fromisoformat(event["waiting_since"])
            if waited.total_seconds() > OLD_LIMIT + 1:
                solo.start()  # down for longer than the old limit, by the engine's own clock
                restarted = True
    proc.wait(timeout=120)
    assert proc.returncode == 0, (events[-3:], proc.stderr.read() if proc.stderr else "")
    proc.stderr.close() if proc.stderr else None
    proc.stdout.close()
    assert restarted
    assert any(e["event"] == "reconnected" for e in events)
    assert events[-1]["event"] == "summary" and events[-1]["messages"] == 80
    assert not [e for e in events if e["event"] == "error"]


def test_retry_for_is_the_limit(solo: DovecotInstance, tmp_path: Path) -> None:
    """Past retry_for the user fails with the reason; the engine says how long it tried."""
    user = "down@corp.example"
    project = make_project(tmp_path, solo, {user: "pw-down"})
    solo.stop()
    events: list[Any] = []
    summary = BackupEngine(as_project(project), credentials(tmp_path),
                           BackupOptions(tmp_path / "archive", retry_for=1.0, backoff=0.1, retry_max_delay=0.3),
                           on_event=events.append).run()
    assert summary.users_failed == 1
    assert "cannot be reached" in summary.errors[0][1] and "retried for" in summary.errors[0][1]
    tries = [e for e in events if isinstance(e, Retrying)]
    assert len(tries) >= 2 and all(e.give_up_at - e.waiting_since == pytest.approx(1.0) for e in tries)
    assert all(e.next_try <= e.give_up_at + 0.01 for e in tries)


def test_server_restarted_mid_backup_reports_reconnected(solo: DovecotInstance, tmp_path: Path) -> None:
    user = "down@corp.example"
    project = make_project(tmp_path, solo, {user: "pw-down"})
    events: list[Any] = []
    done = threading.Event()

    def on_event(e: Any) -> None:
        events.append(e)
        if isinstance(e, UserPlanned) and not done.is_set():
            done.set()
            solo.restart()

    summary = BackupEngine(as_project(project), credentials(tmp_path),
                           BackupOptions(tmp_path / "archive", backoff=0.1, batch_messages=10), on_event=on_event).run()
    assert summary.users_ok == 1 and summary.messages == 80, summary
    assert any(isinstance(e, Reconnected) for e in events)


# --- verify --repair ----------------------------------------------------------------------------------

def test_verify_repair_refetches_exactly_the_bad_messages(lab: Any, tmp_path: Path) -> None:
    """Corrupt one archived file by one byte and delete another: verify finds both, `verify --repair`
    fetches those two again (and nothing else), and a verify afterwards is clean."""
    inst = lab.lab.old
    user = "u2@corp.example"
    project = make_project(tmp_path, inst, {user: lab.old_users[user]})
    dest = tmp_path / "archive"
    assert BackupEngine(as_project(project), credentials(tmp_path), BackupOptions(dest)).run().users_ok == 1
    rows = _index(dest).execute("SELECT path, sha256 FROM messages ORDER BY folder, uid LIMIT 2").fetchall()
    (corrupt, corrupt_sha), (deleted, deleted_sha) = rows
    data = bytearray((dest / corrupt).read_bytes())
    data[len(data) // 2] ^= 0x01
    (dest / corrupt).write_bytes(bytes(data))
    (dest / deleted).unlink()
    others = {p: (dest / p).stat().st_mtime_ns for (p,) in _index(dest).execute("SELECT path FROM messages")
              if p not in (corrupt, deleted)}

    code, events, _out = run_cli(tmp_path, "verify", str(project), "--dest", str(dest), "--json")
    assert code == 1
    (row,) = [e for e in events if e["event"] == "user"]
    assert row["corrupt_files"] == 1 and row["missing_files"] == 1 and row["repairable"] == 2

    code, events, out = run_cli(tmp_path, "verify", str(project), "--dest", str(dest), "--repair", "--json")
    assert code == 0, out
    repair = [e for e in events if e["event"] == "repair"]
    assert repair and repair[0]["messages"] == 2
    summaries = [e for e in events if e["event"] == "summary"]
    assert any(e.get("messages") == 2 for e in summaries), "the repair run fetched exactly two messages"
    after = [e for e in events if e["event"] == "user" and e.get("pass") == "after repair"]
    assert after and after[0]["ok"]
    # Both files are back with the bytes the index expects; nothing else was touched.
    db = _index(dest)
    for sha in (corrupt_sha, deleted_sha):
        (path,) = db.execute("SELECT path FROM messages WHERE sha256=?", (sha,)).fetchone()
        assert hashlib.sha256((dest / path).read_bytes()).hexdigest() == sha
    assert {p: (dest / p).stat().st_mtime_ns for p in others} == others
    code, _events, out = run_cli(tmp_path, "verify", str(project), "--dest", str(dest))
    assert code == 0, out


# --- incremental re-runs -------------------------------------------------------------------------------

def test_rerun_with_nothing_new_selects_no_folder(lab: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unchanged folder costs nothing but its line in one LIST-STATUS answer: no SELECT, no FETCH."""
    inst = lab.lab.old
    user = "u1@corp.example"
    project = make_project(tmp_path, inst, {user: lab.old_users[user]})
    dest = tmp_path / "archive"
    assert BackupEngine(as_project(project), credentials(tmp_path), BackupOptions(dest)).run().users_ok == 1
    selects: list[bytes] = []
    real = IMAPClient.select_folder

    def counting(self: IMAPClient, folder: Any, readonly: bool = False) -> Any:
        selects.append(folder)
        return real(self, folder, readonly)

    monkeypatch.setattr(IMAPClient, "select_folder", counting)
    events: list[Any] = []
    summary = BackupEngine(as_project(project), credentials(tmp_path), BackupOptions(dest), on_event=events.append).run()
    assert summary.users_ok == 1 and summary.messages == 0
    assert selects == []
    (planned,) = [e for e in events if isinstance(e, UserPlanned)]
    assert planned.unchanged == len(server_state(inst, user)) and planned.folders == 0


def test_flag_keyword_and_deletion_changes_reach_the_archive(lab: Any, tmp_path: Path) -> None:
    """Changes made on the server since the last run: a message read, one unread again, a keyword set, a
    message deleted. The re-run renames the files (Maildir info letters, dovecot-keywords), updates the
    index, and keeps the deleted message, marked, which verify reports as deleted on the server."""
    inst = lab.lab.old
    user = _fresh_user(inst, "flags@corp.example", 30)
    project = make_project(tmp_path, inst, {user: inst.users[user]})
    dest = tmp_path / "archive"
    assert BackupEngine(as_project(project), credentials(tmp_path), BackupOptions(dest)).run().users_ok == 1
    with IMAPClient("127.0.0.1", inst.imap_port, ssl=False) as c:
        c.login(user, inst.users[user])
        c.select_folder("INBOX")
        uids = sorted(c.search("ALL"))
        seen = c.get_flags(uids)
        read_now = next(u for u in uids if b"\\Seen" not in seen[u])
        unread_now = next(u for u in uids if b"\\Seen" in seen[u] and u != read_now)
        keyword, gone = [u for u in uids if u not in (read_now, unread_now)][:2]
        c.add_flags([read_now], [b"\\Seen"])
        c.remove_flags([unread_now], [b"\\Seen"])
        c.add_flags([keyword], [b"Project-X", b"\\Flagged"])
        c.delete_messages([gone])
        c.expunge()
    events: list[Any] = []
    summary = BackupEngine(as_project(project), credentials(tmp_path), BackupOptions(dest), on_event=events.append).run()
    assert summary.users_ok == 1 and summary.messages == 0
    (planned,) = [e for e in events if isinstance(e, UserPlanned)]
    assert planned.deleted_on_server == 1
    db = _index(dest)

    def row(uid: int) -> tuple[str, str, str]:
        flags, path, deleted = db.execute("SELECT flags, path, deleted_on_server FROM messages WHERE user=? AND folder=? "
                                          "AND uid=?", (user, b"INBOX", uid)).fetchone()
        return flags, path, deleted

    flags, path, _d = row(read_now)
    assert "\\Seen" in flags.split() and path.endswith(":2,S") and (dest / path).exists()
    flags, path, _d = row(unread_now)
    assert "\\Seen" not in flags.split() and "S" not in path.split(":2,")[1] and (dest / path).exists()
    flags, path, _d = row(keyword)
    root = dest / "users" / user_dirname(user)
    letters = {line.split()[1]: chr(ord("a") + int(line.split()[0]))
               for line in (root / "dovecot-keywords").read_text().splitlines()}
    assert "Project-X" in flags.split() and letters["Project-X"] in path.split(":2,")[1] and "F" in path.split(":2,")[1]
    _f, path, deleted = row(gone)
    assert deleted and (dest / path).exists(), "a message deleted on the server stays in the archive, marked"
    code, events_json, out = run_cli(tmp_path, "verify", str(project), "--dest", str(dest), "--json")
    assert code == 0, out
    (check,) = [e for e in events_json if e["event"] == "user"]
    assert check["archived_only"] == 1 and check["deleted_on_server"] == 1
    code, _e, out = run_cli(tmp_path, "verify", str(project), "--dest", str(dest))
    assert "no longer on the server" in out and "deleted on server" in out


def _fresh_user(inst: DovecotInstance, email: str, messages: int) -> str:
    """A lab user of this test's own (so changing its mailbox disturbs no other test)."""
    if email not in inst.users:
        inst.add_user(email, f"pw-{email}")
        fill_mailbox("127.0.0.1", inst.imap_port, email, inst.users[email], bulk_corpus(messages, seed=11))
    return email


# --- the archive read by other tools ---------------------------------------------------------------

def test_dovecot_opens_the_archive_with_every_folder_message_and_keyword(lab: Any) -> None:
    """The README's recipe: a Dovecot whose mail_location is the archive (Maildir++, UTF-8 names,
    listescape with `%`) lists every folder under its real name, with every message, flag and keyword."""
    inst = lab.lab.old
    user = "hostile@corp.example"
    work = _traversable_dir()
    try:
        project = make_project(work, inst, {user: lab.old_users[user]})
        dest = work / "archive"
        summary = BackupEngine(as_project(project), credentials(work), BackupOptions(dest)).run()
        assert summary.users_ok == 1
        server = server_state(inst, user)
        reader = _archive_reader(work, dest, {user: "reader-pw"})
        try:
            got = _mailboxes(reader, user, "reader-pw")
            # Someone reads a message in the opened archive: Dovecot renames its file (new flags).
            with IMAPClient("127.0.0.1", reader.imap_port, ssl=False) as c:
                c.login(user, "reader-pw")
                c.select_folder("Sent")
                c.add_flags(c.search("ALL")[:1], [b"\\Flagged", b"Seen-In-Archive"])
        finally:
            reader.stop()
        from mailmig_tui.core.backup.engine import _decode_name

        want = {_decode_name(raw): sorted((m[0], tuple(sorted(f for f in m[1] if f != "\\Recent")), _epoch(m[2]))
                                          for m in info["messages"].values())
                for raw, info in server.items()}
        assert set(got) == set(want), (sorted(set(want) - set(got)), sorted(set(got) - set(want)))
        for name, messages in want.items():
            assert got[name] == messages, name
        assert any("Work" in flags for msgs in got.values() for _s, flags, _d in msgs), "keywords read by Dovecot"
        # mailmig carries on with the archive Dovecot touched: nothing fetched again, nothing lost.
        again = BackupEngine(as_project(project), credentials(work), BackupOptions(dest)).run()
        assert again.users_ok == 1 and again.messages == 0
        code, _e, out = run_cli(work, "verify", str(project), "--dest", str(dest))
        assert code == 0, out
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _epoch(value: Any) -> int:
    return int(value.timestamp())


def _archive_reader(work: Path, dest: Path, users: dict[str, str]) -> DovecotInstance:
    root = work / "reader"
    root.mkdir()
    root.chmod(0o711)
    reader = DovecotInstance(
        "reader", root, separator="/", users=users,
        # INBOX= names the Maildir root (else Dovecot makes a `.INBOX`); no CONTROL=, so Dovecot reads
        # the archive's dovecot-keywords (it adds its dovecot-uidlist beside it, which mailmig ignores).
        mail_location=f"maildir:{dest}/users/%u:LAYOUT=Maildir++:UTF-8:INBOX={dest}/users/%u:INDEX={root}/index/%u",
        mail_plugins="listescape", plugin_settings='  listescape_char = "%%"')
    reader.write_config()
    # Dovecot's mail processes must own the Maildirs they open (INBOX is checked for write access):
    # as in the README, the reader runs as the archive's owner.
    for path in [dest / "users", *(dest / "users").rglob("*")]:
        shutil.chown(path, "mail", "mail")
    for sub in ("index",):
        (root / sub).mkdir()
        shutil.chown(root / sub, "mail", "mail")
    reader.start()
    return reader


def _mailboxes(inst: DovecotInstance, login: str, password: str) -> dict[str, list[tuple[int, tuple[str, ...], int]]]:
    out: dict[str, list[tuple[int, tuple[str, ...], int]]] = {}
    with IMAPClient("127.0.0.1", inst.imap_port, ssl=False) as c:
        c.login(login, password)
        c.normalise_times = False
        for flags, _delim, name in c.list_folders():
            if b"\\Noselect" in flags:
                continue
            try:
                info = c.select_folder(name, readonly=True)
            except IMAPClient.Error as exc:
                out[name] = [(-1, (str(exc),), 0)]
                continue
            msgs = []
            if info[b"EXISTS"]:
                for d in c.fetch(c.search("ALL"), ["RFC822.SIZE", "FLAGS", "INTERNALDATE"]).values():
                    msgs.append((d[b"RFC822.SIZE"], tuple(sorted(f.decode() for f in d[b"FLAGS"] if f != b"\\Recent")),
                                 _epoch(d[b"INTERNALDATE"])))
            out[name] = sorted(msgs)
    return out


# --- archives written with the first naming ---------------------------------------------------------

def test_archive_with_v1_names_is_moved_not_downloaded_again(lab: Any, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    inst = lab.lab.old
    user = "hostile@corp.example"
    project = make_project(tmp_path, inst, {user: lab.old_users[user]})
    dest = tmp_path / "archive"
    with monkeypatch.context() as m:
        m.setattr(engine_module, "folder_dirname", folder_dirname_v1)
        first = BackupEngine(as_project(project), credentials(tmp_path), BackupOptions(dest)).run()
    assert first.users_ok == 1
    root = dest / "users" / user_dirname(user)
    assert (root / ".%63on").is_dir() and not (root / ".con").exists()
    again = BackupEngine(as_project(project), credentials(tmp_path), BackupOptions(dest)).run()
    assert again.users_ok == 1 and again.messages == 0, "moved, not fetched again"
    assert (root / ".con").is_dir() and not (root / ".%63on").exists()
    assert not [p for p in root.iterdir() if re.search(r"[^%]~[0-9a-f]{20}$", p.name)], "no v1 (cut) name left"
    db = _index(dest)
    for (path,) in db.execute("SELECT path FROM messages WHERE user=?", (user,)):
        assert (dest / path).is_file(), path
    code, _e, out = run_cli(tmp_path, "verify", str(project), "--dest", str(dest))
    assert code == 0, out


def test_internaldate_fast_parser_matches_imapclient() -> None:
    from imapclient.datetime_util import parse_to_datetime

    for raw in (b"17-Jul-1996 02:44:25 -0700", b" 1-Jan-2024 09:30:00 +0800", b"29-Feb-2024 23:59:59 +0000",
                b"03-Feb-2001 04:05:06 +0530"):
        when = parse_to_datetime(raw, normalise=False)
        assert parse_internaldate(raw) == (int(when.timestamp()), when.isoformat())
    assert parse_internaldate(b"garbage") is None


@pytest.mark.xfail(reason="after merging the mail lab's Dovecot changes, the unreadable user file no longer makes "
                          "this Dovecot answer NO [UNAVAILABLE] (the login succeeds at once); the fault injection "
                          "needs another way in. The engine's handling is unchanged.", strict=False)
def test_a_temporary_login_refusal_is_waited_for_not_failed(solo: DovecotInstance, tmp_path: Path) -> None:
    """A server that answers the login with NO [UNAVAILABLE] (here: Dovecot's auth cannot read its user
    database for a while) is throttling or in maintenance: wait and retry, never "login refused"."""
    import os

    user = "down@corp.example"
    project = make_project(tmp_path, solo, {user: "pw-down"})
    users_file = solo.root / "users.passwd"
    good = users_file.read_bytes()

    def swap(readable: bool) -> None:  # a new file (new mtime), so Dovecot's auth reads it again
        tmp = solo.root / "users.passwd.swap"
        tmp.write_bytes(good)
        if readable:
            from mailmig_tui.lab.dovecot import _readable_by_auth

            _readable_by_auth(tmp)
        else:
            os.chmod(tmp, 0)
        os.utime(tmp, (time.time() + (2 if readable else 1),) * 2)
        os.replace(tmp, users_file)

    swap(readable=False)
    events: list[Any] = []
    restored = []

    def on_event(e: Any) -> None:
        events.append(e)
        if isinstance(e, Retrying) and e.attempt >= 2 and not restored:
            restored.append(True)
            swap(readable=True)

    try:
        summary = BackupEngine(as_project(project), credentials(tmp_path),
                               BackupOptions(tmp_path / "archive", backoff=0.2, retry_max_delay=1, retry_for=60),
                               on_event=on_event).run()
    finally:
        if not restored:
            swap(readable=True)
    tries = [e for e in events if isinstance(e, Retrying)]
    assert tries and "UNAVAILABLE" in tries[0].reason.upper(), ([e.reason for e in tries], summary)
    assert "login refused" not in tries[0].reason
    assert summary.users_ok == 1 and summary.messages == 80, summary
