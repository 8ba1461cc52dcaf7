"""The backup engine and its commands against real Dovecot servers (the session lab in conftest.py).

No timed assertions: "mid-backup" is defined by the events the engine emits, never by sleeping.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient

from mailmig_tui.core.backup.engine import BackupEngine, BackupOptions, Controls, Progress, Retrying, UserDone
from mailmig_tui.core.backup.names import parts_from_dirname, user_dirname
from mailmig_tui.core.model import Auth
from tests.backup_helpers import (
    as_project,
    assert_archive_matches_corpus,
    cli_env,
    credentials,
    make_project,
    run_cli,
    server_state,
)

pytestmark = pytest.mark.lab


def _engine(tmp_path: Path, project_path: Path, dest: Path, events: list[Any] | None = None,
            controls: Controls | None = None, **opts: Any) -> BackupEngine:
    sink = events if events is not None else []
    return BackupEngine(as_project(project_path), credentials(tmp_path), BackupOptions(dest, **opts),
                        on_event=sink.append, controls=controls)


def _index(dest: Path) -> sqlite3.Connection:
    return sqlite3.connect(dest / "index.sqlite")


def _assert_complete(dest: Path, inst: Any, user: str, extra: dict[tuple[str, ...], list[bytes]] | None = None) -> None:
    """The archive holds exactly the server's messages: every UID once, one file each, sizes equal, and
    every file's bytes are a message the corpus generated (its sha256 recorded before mailmig ran)."""
    server = server_state(inst, user)
    db = _index(dest)
    for raw, info in server.items():
        rows = db.execute("SELECT uid, size, path FROM messages WHERE user=? AND folder=? AND uidvalidity=?",
                          (user, raw, info["uidvalidity"])).fetchall()
        assert {r[0]: r[1] for r in rows} == {uid: m[0] for uid, m in info["messages"].items()}, raw
        for _uid, size, path in rows:
            assert (dest / path).stat().st_size == size
    files = [p for p in (dest / "users" / user_dirname(user)).rglob("*") if p.parent.name == "cur"]
    (count,) = db.execute("SELECT count(*) FROM messages WHERE user=?", (user,)).fetchone()
    assert len(files) == count, "a file without an index row, or a row without a file"
    assert not [p for p in (dest / "users" / user_dirname(user)).rglob("*") if p.parent.name == "tmp"]
    assert_archive_matches_corpus(dest, user, extra, port=inst.imap_port)


def test_hostile_corpus_backup_round_trips_names_flags_dates(lab: Any, tmp_path: Path) -> None:
    inst = lab.lab.old
    user = "hostile@corp.example"
    project = make_project(tmp_path, inst, {user: lab.old_users[user]})
    dest = tmp_path / "archive"
    code, events, err = run_cli(tmp_path, "backup", str(project), "--dest", str(dest), "--json")
    assert code == 0, err
    summary = events[-1]
    assert summary["event"] == "summary" and summary["messages"] == lab.counts[user]

    server = server_state(inst, user)
    db = _index(dest)
    root = dest / "users" / user_dirname(user)
    dirs = set()
    for raw, info in server.items():
        name, delim, dirname = db.execute("SELECT name, delimiter, dirname FROM folders WHERE user=? AND raw_name=?",
                                          (user, raw)).fetchone()
        assert dirname not in dirs
        dirs.add(dirname)
        assert "/" not in dirname and dirname not in (".", "..")
        decoded = parts_from_dirname(dirname)
        assert decoded is None or decoded == name.split(delim) or decoded == ["INBOX"]
        assert (root / dirname).resolve().parent == root.resolve() or dirname == ""
        for uid, size, flags, path in db.execute(
                "SELECT uid, size, flags, path FROM messages WHERE user=? AND folder=?", (user, raw)):
            s_size, s_flags, s_date = info["messages"][uid]
            assert size == s_size
            assert set(flags.split()) == set(s_flags) - {"\\Recent"}
            assert int((dest / path).stat().st_mtime) == int(s_date.timestamp())
            assert (dest / path).resolve().is_relative_to(dest.resolve())
    names = {r[0] for r in db.execute("SELECT name FROM folders WHERE user=?", (user,))}
    assert {"已发送", "客户/华东", "..", "con", "x:y", "a.b"} <= names
    # Keywords: letters in the file name, names in dovecot-keywords (what Dovecot itself reads).
    keywords = (root / "dovecot-keywords").read_text()
    assert "Work" in keywords and "$Label1" in keywords
    (kw_path,) = db.execute("SELECT path FROM messages WHERE user=? AND flags LIKE '%Work%'", (user,)).fetchone()
    assert kw_path.split(":2,")[1].startswith("D") and any(c.islower() for c in kw_path.split(":2,")[1])
    # The multi-MB attachments arrived whole (they were fetched in partial chunks).
    big = db.execute("SELECT uid, path FROM messages WHERE user=? AND size > 3000000", (user,)).fetchall()
    assert len(big) == 2
    with IMAPClient("127.0.0.1", inst.imap_port, ssl=False) as c:
        c.login(user, inst.users[user])
        c.select_folder("INBOX", readonly=True)
        for uid, path in big:
            assert c.fetch([uid], ["BODY.PEEK[]"])[uid][b"BODY[]"] == (dest / path).read_bytes()
    # Messages without or with duplicate Message-IDs are all there.
    ids = [r[0] for r in db.execute("SELECT message_id FROM messages WHERE user=? AND folder=?", (user, b"INBOX"))]
    assert ids.count("<dup@lab.example>") == 2 and "" in ids
    # Every message, small ones included, is byte for byte what the corpus generated.
    assert_archive_matches_corpus(dest, user, port=inst.imap_port)
    # Manifest beside the Maildir.
    manifest = json.loads((root / "mailmig-folders.json").read_text())
    assert {f["name"] for f in manifest["folders"]} >= {"已发送", ".."}

    # verify agrees; a second run fetches nothing.
    code, events, err = run_cli(tmp_path, "verify", str(project), "--dest", str(dest), "--json")
    assert code == 0, (events, err)
    code, events, _err = run_cli(tmp_path, "backup", str(project), "--dest", str(dest), "--json")
    assert code == 0 and events[-1]["messages"] == 0
    # The summary is in the project, and no secret is.
    text = project.read_text()
    assert "[backup.last_run]" in text and lab.old_users[user] not in text


def test_folder_names_with_slash_on_a_dot_separator_server(lab: Any, tmp_path: Path) -> None:
    inst = lab.lab.new  # separator "."
    user = "hostile2@corp.example"
    project = make_project(tmp_path, inst, {user: lab.new_users[user]}, tls="starttls")
    dest = tmp_path / "archive"
    summary = _engine(tmp_path, project, dest).run()
    assert summary.users_ok == 1 and summary.messages == lab.counts[user]
    names = {r[0] for r in _index(dest).execute("SELECT name FROM folders")}
    assert {"a/b", "/etc/passwd", "客户.华东"} <= names
    assert not (tmp_path / "etc").exists() and not Path("/etc/passwd.mailmig").exists()
    _assert_complete(dest, inst, user)


def test_kill_9_at_any_moment_then_resume(lab: Any, tmp_path: Path) -> None:
    inst = lab.lab.old
    user = "kill9@corp.example"
    project = make_project(tmp_path, inst, {user: lab.old_users[user]})
    dest = tmp_path / "archive"
    args = [sys.executable, "-m", "mailmig_tui", "backup", str(project), "--dest", str(dest), "--json"]
    kills = 0
    # Kill right after login/scan, then after the first committed batch, then again: each at a point the
    # engine itself announced, so "mid-backup" is certain without timing.
    for trigger in ("user_planned", "progress", "progress"):
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=cli_env(tmp_path))
        assert proc.stdout is not None
        for line in proc.stdout:
            if json.loads(line)["event"] in (trigger, "summary"):
                break
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
        proc.stdout.close()
    assert kills >= 2
    (partial,) = _index(dest).execute("SELECT count(*) FROM messages").fetchone()
    code, events, err = run_cli(tmp_path, "backup", str(project), "--dest", str(dest), "--json")
    assert code == 0, err
    assert events[-1]["messages"] == lab.counts[user] - partial
    _assert_complete(dest, inst, user)
    code, _events, err = run_cli(tmp_path, "verify", str(project), "--dest", str(dest))
    assert code == 0, err


def test_dovecot_restarted_mid_backup(lab: Any, tmp_path: Path) -> None:
    inst = lab.lab.old
    user = "restart@corp.example"
    project = make_project(tmp_path, inst, {user: lab.old_users[user]})
    dest = tmp_path / "archive"
    events: list[Any] = []
    restarted = []

    def on_event(e: Any) -> None:
        events.append(e)
        if isinstance(e, Progress) and not restarted:
            restarted.append(True)
            inst.restart()  # the worker's connection dies with the old server processes

    engine = BackupEngine(as_project(project), credentials(tmp_path), BackupOptions(dest, backoff=0.2), on_event=on_event)
    summary = engine.run()
    assert restarted and summary.users_ok == 1, summary
    assert any(isinstance(e, Retrying) for e in events)
    _assert_complete(dest, inst, user)


AFTER_RESET = b"Subject: after the reset\r\nMessage-ID: <new@x>\r\n\r\nnew\r\n"


def test_uidvalidity_change_is_handled_without_loss_or_duplicates(lab: Any, tmp_path: Path) -> None:
    inst = lab.lab.old
    user = "uidv@corp.example"
    project = make_project(tmp_path, inst, {user: lab.old_users[user]})
    dest = tmp_path / "archive"
    assert _engine(tmp_path, project, dest).run().users_ok == 1
    (before,) = _index(dest).execute("SELECT count(*) FROM messages").fetchone()

    # 1. doveadm resets INBOX's UIDVALIDITY (same UIDs): nothing to download again.
    old_v = server_state(inst, user)[b"INBOX"]["uidvalidity"]
    inst.doveadm("mailbox", "update", "-u", user, "--uid-validity", str(old_v + 1000), "INBOX")
    # 2. "Sent" is deleted and recreated (new UIDVALIDITY, new UIDs), with one new message added.
    with IMAPClient("127.0.0.1", inst.imap_port, ssl=False) as c:
        c.login(user, inst.users[user])
        c.select_folder("Sent")
        msgs = c.fetch(c.search("ALL"), ["BODY.PEEK[]", "FLAGS", "INTERNALDATE"])
        c.close_folder()
        c.delete_folder("Sent")
        c.create_folder("Sent")
        for d in msgs.values():
            c.append("Sent", d[b"BODY[]"], [f for f in d[b"FLAGS"] if f != b"\\Recent"], d[b"INTERNALDATE"])
        c.append("Sent", AFTER_RESET)
    summary = _engine(tmp_path, project, dest).run()
    assert summary.users_ok == 1 and summary.messages == 1, "re-keyed, not downloaded again"
    (after,) = _index(dest).execute("SELECT count(*) FROM messages").fetchone()
    assert after == before + 1
    _assert_complete(dest, inst, user, extra={("Sent",): [AFTER_RESET]})
    code, _events, err = run_cli(tmp_path, "verify", str(project), "--dest", str(dest))
    assert code == 0, err


def test_wrong_password_fails_that_user_only(lab: Any, tmp_path: Path) -> None:
    inst = lab.lab.old
    project = make_project(tmp_path, inst, {"u1@corp.example": lab.old_users["u1@corp.example"],
                                            "u2@corp.example": "not-the-password"})
    dest = tmp_path / "archive"
    code, events, _err = run_cli(tmp_path, "backup", str(project), "--dest", str(dest), "--json")
    assert code == 1
    errors = [e for e in events if e["event"] == "error"]
    assert [e["user"] for e in errors] == ["u2@corp.example"]
    assert "login refused" in errors[0]["reason"]
    done = {e["user"]: e["state"] for e in events if e["event"] == "user_done"}
    assert done == {"u1@corp.example": "done", "u2@corp.example": "failed"}
    _assert_complete(dest, inst, "u1@corp.example")
    assert "not-the-password" not in project.read_text()


@pytest.mark.parametrize("tls", ["ssl", "starttls"])
def test_self_signed_certificate_refused_by_default_accepted_by_setting(lab: Any, tmp_path: Path, tls: str) -> None:
    inst = lab.lab.old
    users = {"u1@corp.example": lab.old_users["u1@corp.example"]}
    for verify, pin, ok in ((True, False, False), (False, False, True), (True, True, True)):
        project = make_project(tmp_path, inst, users, tls=tls, verify=verify, pin=pin)
        events: list[Any] = []
        summary = _engine(tmp_path, project, tmp_path / f"a-{verify}-{pin}", events).run()
        assert (summary.users_ok == 1) is ok, summary
        if not ok:
            assert "not trusted" in summary.errors[0][1]
    # A pinned fingerprint that does not match is refused even though the CA check is off.
    project = make_project(tmp_path, inst, users, tls=tls)
    p = as_project(project)
    p.old.imap.tls_fingerprint = "sha256:" + "00" * 32
    engine = BackupEngine(p, credentials(tmp_path), BackupOptions(tmp_path / "b"))
    summary = engine.run()
    assert summary.users_failed == 1 and "fingerprint" in summary.errors[0][1]


@pytest.mark.parametrize("method", ["master", "authzid"])
def test_admin_login(lab: Any, tmp_path: Path, method: str) -> None:
    from mailmig_tui.lab.dovecot import MASTER_PASSWORD, MASTER_USER

    inst = lab.lab.old
    project = make_project(tmp_path, inst, {}, auth=Auth(method, MASTER_USER),
                           extra_secrets={MASTER_USER: MASTER_PASSWORD})
    p = as_project(project)
    from mailmig_tui.core.model import User

    p.users = [User("u2@corp.example")]  # no password of u2's own is stored
    summary = BackupEngine(p, credentials(tmp_path), BackupOptions(tmp_path / "archive")).run()
    assert summary.users_ok == 1 and summary.messages == lab.counts["u2@corp.example"]


def test_verify_detects_tampered_and_missing_files(lab: Any, tmp_path: Path) -> None:
    inst = lab.lab.old
    user = "u1@corp.example"
    project = make_project(tmp_path, inst, {user: lab.old_users[user]})
    dest = tmp_path / "archive"
    assert _engine(tmp_path, project, dest).run().users_ok == 1
    paths = [r[0] for r in _index(dest).execute("SELECT path FROM messages ORDER BY uid LIMIT 2")]
    data = bytearray((dest / paths[0]).read_bytes())
    data[-3] ^= 1
    (dest / paths[0]).write_bytes(bytes(data))
    (dest / paths[1]).unlink()
    code, events, _err = run_cli(tmp_path, "verify", str(project), "--dest", str(dest), "--json")
    assert code == 1
    (row,) = [e for e in events if e["event"] == "user"]
    assert row["corrupt_files"] == 1 and row["missing_files"] == 1 and not row["ok"]
    code, _events, output = run_cli(tmp_path, "verify", str(project), "--dest", str(dest))
    assert code == 1 and "DIFFERENT" in output and "missing file" in output and "--repair" in output
    # A backup run brings the missing message back (its folder's row lost its file: the folder is scanned
    # even though the server says nothing changed); the corrupt one is verify --repair's job (below).
    assert _engine(tmp_path, project, dest).run().messages == 1


def test_pause_cancel_and_resume(lab: Any, tmp_path: Path) -> None:
    inst = lab.lab.old
    users = {u: lab.old_users[u] for u in ("u1@corp.example", "u2@corp.example")}
    project = make_project(tmp_path, inst, users)
    dest = tmp_path / "archive"
    controls = Controls()
    events: list[Any] = []

    def on_event(e: Any) -> None:
        events.append(e)
        if isinstance(e, Progress):
            controls.cancel()

    engine = BackupEngine(as_project(project), credentials(tmp_path), BackupOptions(dest, batch_messages=10, workers=1),
                          on_event=on_event, controls=controls)
    summary = engine.run()
    assert summary.users_cancelled >= 1
    assert any(isinstance(e, UserDone) and e.state == "cancelled" for e in events)
    again = _engine(tmp_path, project, dest).run()
    assert again.users_ok == 2
    for u in users:
        _assert_complete(dest, inst, u)


def _age_archive(dest: Path) -> None:
    """As if the archive had been left alone for a while: every Maildir directory's times an hour back."""
    old = os.stat(dest).st_mtime - 3600
    for sub in dest.rglob("*"):
        if sub.is_dir() and sub.name in ("cur", "new", "tmp"):
            os.utime(sub, (old, old))


def test_a_re_run_lists_no_unchanged_archive_folder_but_sees_any_change_in_one(lab: Any, tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    inst = lab.lab.old
    user = "u1@corp.example"
    project = make_project(tmp_path, inst, {user: lab.old_users[user]})
    dest = tmp_path / "archive"
    assert _engine(tmp_path, project, dest).run().users_ok == 1
    _age_archive(dest)
    assert _engine(tmp_path, project, dest).run().messages == 0
    selectable = _index(dest).execute("SELECT count(*), sum(settled != '') FROM folders WHERE user=? AND selectable=1",
                                      (user,)).fetchone()
    assert selectable[0] >= 3 and selectable[0] == selectable[1], "every folder stamped once its files settled"

    from mailmig_tui.core.backup import engine as engine_mod

    listed: list[bytes] = []
    real = engine_mod._UserJob._reconcile

    def counting(self: Any, raw: bytes, folder: Any) -> bool:
        listed.append(raw)
        return bool(real(self, raw, folder))

    monkeypatch.setattr(engine_mod._UserJob, "_reconcile", counting)
    assert _engine(tmp_path, project, dest).run().messages == 0
    assert listed == [], "a folder nothing touched is not listed again"

    # A file deleted by hand: its folder's directory changed, so it is listed and the message fetched again.
    path, folder = _index(dest).execute("SELECT path, folder FROM messages WHERE user=? ORDER BY uid LIMIT 1",
                                        (user,)).fetchone()
    (dest / path).unlink()
    assert _engine(tmp_path, project, dest).run().messages == 1
    assert listed == [bytes(folder)]
    # A file another tool renamed (mutt marking it replied): the row follows it.
    _age_archive(dest)
    assert _engine(tmp_path, project, dest).run().messages == 0  # (ageing changed the stamps: listed once)
    listed.clear()
    (path,) = _index(dest).execute("SELECT path FROM messages WHERE user=? ORDER BY uid LIMIT 1", (user,)).fetchone()
    renamed = path.split(":2,")[0] + ":2,RS"
    os.rename(dest / path, dest / renamed)
    assert _engine(tmp_path, project, dest).run().messages == 0
    assert listed == [bytes(folder)]
    assert _index(dest).execute("SELECT count(*) FROM messages WHERE path=?", (renamed,)).fetchone() == (1,)
    # What a killed run leaves in tmp/ is cleared.
    (path,) = _index(dest).execute("SELECT path FROM messages WHERE user=? ORDER BY uid LIMIT 1", (user,)).fetchone()
    _age_archive(dest)
    assert _engine(tmp_path, project, dest).run().messages == 0
    leftover = dest / Path(path).parent.parent / "tmp" / "incoming.1.2.3"
    leftover.write_bytes(b"half a message")
    assert _engine(tmp_path, project, dest).run().messages == 0
    assert not leftover.exists()
    _assert_complete(dest, inst, user)
