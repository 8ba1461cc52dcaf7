"""The copy engine and its commands against real Dovecot servers (the copy lab in conftest.py).

What reached the target is always compared with the corpus as generated (sha256 of every message,
with multiplicity), and flags/INTERNALDATE with the source server: never with the engine's own notes.
"Mid-copy" is defined by the engine's events or by a kill at an exact step, never by sleeping.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient

from mailmig_tui.core.backup.engine import BackupEngine, BackupOptions
from mailmig_tui.core.copy.engine import FolderCopied, UserFolders
from mailmig_tui.core.runs import UserDone
from mailmig_tui.core.store import load_project
from tests.backup_helpers import ROOT, cli_env, credentials, run_cli
from tests.copy.helpers import by_folder, copy_project, engine, hashes, mailbox

pytestmark = pytest.mark.lab


def _setup(copylab: Any, tmp_path: Path, user: str, inst: Any = None, **kw: Any) -> tuple[Path, str, Any]:
    inst = inst or copylab.new
    login, pw = copylab.fresh_login(inst, user.split("@")[0])
    return copy_project(tmp_path, copylab.old, inst, {user: (copylab.old_users[user], login, pw)}, **kw), login, inst


def _source_by_name(copylab: Any, user: str) -> dict[str, list[tuple[str, tuple[str, ...], Any, int]]]:
    return mailbox(copylab.old, user)


def test_hostile_names_to_an_inbox_prefix_server_byte_identical(copylab: Any, tmp_path: Path) -> None:
    user = "cp-hostile@corp.example"
    project, login, inst = _setup(copylab, tmp_path, user, copylab.newp)
    # --plan first: prints the mapping and writes nothing.
    code, events, err = run_cli(tmp_path, "copy", str(project), "--plan", "--json")
    assert code == 0, err
    plan = {f["source"]: f for e in events if e["event"] == "plan" for f in e["folders"]}
    assert plan["Sent"]["target"] == "INBOX.Sent Messages" and plan["Sent"]["role"] == "\\Sent"
    assert plan["Trash"]["target"] == "INBOX.Deleted Messages"
    assert plan["INBOX"]["target"] == "INBOX" and plan["INBOX/sub"]["target"] == "INBOX.sub"
    assert plan["客户/华东"]["target"] == "INBOX.客户.华东"
    assert plan["a.b"]["renamed"] and plan["a.b"]["target"] == "INBOX.a．b" and "'.'" in plan["a.b"]["reason"]
    assert plan[".."]["renamed"] and plan["Projects"]["action"] == "skip"
    assert plan["已发送"]["target"] == "INBOX.已发送"  # \Sent is already Sent's
    targets = [f["target"] for f in plan.values() if f["action"] == "copy"]
    assert len(targets) == len(set(targets))
    assert set(mailbox(inst, login)) == {"INBOX", "INBOX.Sent Messages", "INBOX.Drafts", "INBOX.Deleted Messages",
                                         "INBOX.Junk"}, "--plan wrote nothing"

    code, events, err = run_cli(tmp_path, "copy", str(project), "--json")
    assert code == 0, err
    assert events[-1]["event"] == "summary" and events[-1]["messages"] == sum(copylab.corpus_hashes(user).values())
    target = mailbox(inst, login)
    assert hashes(target) == copylab.corpus_hashes(user), "every message byte-identical, none twice"
    source = _source_by_name(copylab, user)
    # Per folder: same messages with the same flags (keywords included) and INTERNALDATE.
    for src_name, msgs in source.items():
        dst_name = plan[src_name]["target"]
        assert Counter((m[0], m[1], m[2]) for m in msgs) == Counter((m[0], m[1], m[2]) for m in target[dst_name]), src_name
    kw = [m for m in target["INBOX"] if "$Label1" in m[1]]
    assert kw and set(kw[0][1]) >= {"Work", "$Forwarded", "\\Draft", "\\Seen"}
    code, _e, err = run_cli(tmp_path, "verify", str(project), "--copy")
    assert code == 0, err


def test_duplicates_with_identical_headers_are_all_copied(copylab: Any, tmp_path: Path) -> None:
    user = "cp-dups@corp.example"
    project, login, inst = _setup(copylab, tmp_path, user)
    summary = engine(tmp_path, project).run()
    assert summary.users_ok == 1, summary.errors
    target = mailbox(inst, login)
    assert hashes(target) == copylab.corpus_hashes(user)
    assert max(hashes(target).values()) == 3, "three byte-identical copies in INBOX, all kept"
    assert len(target["INBOX"]) == 5 and len(target["Sent"]) == 2


def test_rerun_copies_nothing_and_saves_the_result(copylab: Any, tmp_path: Path) -> None:
    user = "cp-small@corp.example"
    project, login, inst = _setup(copylab, tmp_path, user)
    code, events, err = run_cli(tmp_path, "copy", str(project), "--json")
    assert code == 0, err
    first = mailbox(inst, login)
    code, events, err = run_cli(tmp_path, "copy", str(project), "--json")
    assert code == 0, err
    assert events[-1]["messages"] == 0
    assert all(e["copied"] == 0 for e in events if e["event"] == "folder_done")
    assert mailbox(inst, login) == first
    section = load_project(project).sections["copy"]
    assert section["last_run"]["users_ok"] == 1 and section["users"][user]["state"] == "done"
    # a dry run counts and writes nothing
    code, events, err = run_cli(tmp_path, "copy", str(project), "--dry-run", "--json")
    assert code == 0 and next(e for e in events if e["event"] == "user_planned")["messages"] == 0, err


def test_kill_9_mid_copy_then_rerun_nothing_lost_nothing_twice(copylab: Any, tmp_path: Path) -> None:
    user = "cp-bulk@corp.example"
    project, login, inst = _setup(copylab, tmp_path, user)
    proc = subprocess.Popen([sys.executable, "-m", "mailmig_tui", "copy", str(project), "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=cli_env(tmp_path), cwd=tmp_path)
    assert proc.stdout is not None
    for line in proc.stdout:
        if json.loads(line)["event"] == "progress":
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    partial = hashes(mailbox(inst, login))
    assert 0 < sum(partial.values()) < sum(copylab.corpus_hashes(user).values()), "killed mid-copy"
    code, _events, err = run_cli(tmp_path, "copy", str(project), "--json")
    assert code == 0, err
    assert hashes(mailbox(inst, login)) == copylab.corpus_hashes(user)
    code, _e, err = run_cli(tmp_path, "verify", str(project), "--copy")
    assert code == 0, err


CRASH = r"""
import os, signal, sys
import mailmig_tui.core.copy.engine as E
import mailmig_tui.core.imap.append as A
mode = sys.argv[1]
calls = [0]
if mode == "after_intent":
    def boom(*a, **k):
        os.kill(os.getpid(), signal.SIGKILL)
    E.append_messages = boom
elif mode == "mid_literal":
    real_send = A._send_body
    def half(imap, msg):
        calls[0] += 1
        if calls[0] == 3:
            h = msg.open()
            imap.send(h.read(msg.size // 2))
            os.kill(os.getpid(), signal.SIGKILL)
        real_send(imap, msg)
    A._send_body = half
elif mode == "after_append":
    real = E.append_messages
    def after(*a, **k):
        real(*a, **k)
        os.kill(os.getpid(), signal.SIGKILL)
    E.append_messages = after
from mailmig_tui.cli import main
sys.exit(main(["copy", sys.argv[2]]))
"""


@pytest.mark.parametrize("mode", ["after_intent", "mid_literal", "after_append", "power_cut"])
def test_crash_between_steps_leaves_a_consistent_map(copylab: Any, tmp_path: Path, mode: str) -> None:
    """kill -9 exactly: after the intents are committed, in the middle of a message's literal, and after
    the server stored the batch but before the map says so. `power_cut`: the same, and the commits
    after the run's in-flight marker are lost too (what a power cut can do to un-synced WAL commits)."""
    user = "cp-small@corp.example"
    project, login, inst = _setup(copylab, tmp_path, user)
    crash = "after_append" if mode == "power_cut" else mode
    proc = subprocess.run([sys.executable, "-c", CRASH, crash, str(project)], env={**cli_env(tmp_path), "PYTHONPATH": str(ROOT)},
                          cwd=tmp_path, capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    db = sqlite3.connect(tmp_path / "corp.example.copy" / "idmap.sqlite", isolation_level=None)
    states = Counter(r[0] for r in db.execute("SELECT state FROM messages"))
    on_target = sum(hashes(mailbox(inst, login)).values())
    assert states["intent"] > 0 and states["done"] == 0, "the batch in flight is recorded as intents only"
    assert on_target == (states["intent"] if crash == "after_append" else 0)
    assert next(iter(db.execute("SELECT count(*) FROM inflight")))[0] > 0
    if mode == "power_cut":
        db.execute("DELETE FROM messages")
    events: list[Any] = []
    summary = engine(tmp_path, project, events).run()
    assert summary.users_ok == 1, summary.errors
    assert hashes(mailbox(inst, login)) == copylab.corpus_hashes(user)
    recovered = sum(e.recovered for e in events if isinstance(e, FolderCopied))
    assert recovered == (states["intent"] if crash == "after_append" else 0)
    assert not list(db.execute("SELECT 1 FROM messages WHERE state != 'done'"))


def test_uidvalidity_reset_on_the_source(copylab: Any, tmp_path: Path) -> None:
    user = "cp-uidv@corp.example"
    project, login, inst = _setup(copylab, tmp_path, user)
    assert engine(tmp_path, project).run().users_ok == 1
    old = copylab.old
    before = mailbox(old, user)
    sent_before = list(before["Sent"])
    inbox_v = _uidvalidity(old, user, "INBOX")
    old.doveadm("mailbox", "update", "-u", user, "--uid-validity", str(inbox_v + 1000), "INBOX")
    # Sent re-created: new UIDVALIDITY and new UIDs for the same messages, plus one new message.
    with IMAPClient("127.0.0.1", old.imap_port, ssl=False) as c:
        c.login(user, old.users[user])
        c.select_folder("Sent")
        msgs = c.fetch(c.search("ALL"), ["BODY.PEEK[]", "FLAGS", "INTERNALDATE"])
        c.close_folder()
        c.delete_folder("Sent")
        c.create_folder("Sent")
        for _uid, d in sorted(msgs.items()):
            c.append("Sent", d[b"BODY[]"], [f for f in d[b"FLAGS"] if f != b"\\Recent"], d[b"INTERNALDATE"])
        c.append("Sent", b"Subject: after the reset\r\nMessage-ID: <new-after-reset@x>\r\n\r\nnew\r\n")
    try:
        events: list[Any] = []
        summary = engine(tmp_path, project, events).run()
        assert summary.users_ok == 1 and summary.messages == 1, "matched by hash, not sent again"
        assert sum(e.rekeyed for e in events if isinstance(e, FolderCopied)) == len(before["INBOX"]) + len(sent_before)
        assert hashes(mailbox(inst, login)) == hashes(mailbox(old, user))
        assert engine(tmp_path, project).run().messages == 0
    finally:
        _restore_sent(old, user, sent_before)


def _uidvalidity(inst: Any, login: str, folder: str, password: str | None = None) -> int:
    with IMAPClient("127.0.0.1", inst.imap_port, ssl=False) as c:
        c.login(login, password or inst.users[login])
        return int(c.select_folder(folder, readonly=True)[b"UIDVALIDITY"])


def _restore_sent(inst: Any, user: str, _sent: list[Any]) -> None:
    """Take the extra message out again, so other tests see the corpus as generated."""
    with IMAPClient("127.0.0.1", inst.imap_port, ssl=False) as c:
        c.login(user, inst.users[user])
        c.select_folder("Sent")
        uids = c.search(["HEADER", "Message-ID", "new-after-reset@x"])
        if uids:
            c.delete_messages(uids)
            c.expunge()


def test_uidvalidity_reset_and_recreated_folder_on_the_target(copylab: Any, tmp_path: Path) -> None:
    user = "cp-small@corp.example"
    project, login, inst = _setup(copylab, tmp_path, user)
    assert engine(tmp_path, project).run().users_ok == 1
    pw = inst.users[login]
    inst.doveadm("mailbox", "update", "-u", login, "--uid-validity", str(_uidvalidity(inst, login, "INBOX") + 77), "INBOX")
    with IMAPClient("127.0.0.1", inst.imap_port, ssl=False) as c:
        c.login(login, pw)
        c.delete_folder("Sent")  # the admin re-created the folder on the new side: empty now
        c.create_folder("Sent")
    n_sent = len(mailbox(copylab.old, user)["Sent"])
    events: list[Any] = []
    summary = engine(tmp_path, project, events).run()
    assert summary.users_ok == 1, summary.errors
    copied = {e.folder: e.copied for e in events if isinstance(e, FolderCopied)}
    assert copied["INBOX"] == 0 and copied["Sent"] == n_sent
    assert hashes(mailbox(inst, login)) == copylab.corpus_hashes(user)


def test_wrong_new_side_password_fails_that_user_alone(copylab: Any, tmp_path: Path) -> None:
    good, bad = "cp-small@corp.example", "cp-flags@corp.example"
    l1, p1 = copylab.fresh_login(copylab.new, "good")
    l2, _p2 = copylab.fresh_login(copylab.new, "bad")
    project = copy_project(tmp_path, copylab.old, copylab.new, {
        good: (copylab.old_users[good], l1, p1), bad: (copylab.old_users[bad], l2, "not-the-password")})
    code, events, err = run_cli(tmp_path, "copy", str(project), "--json")
    assert code == 1, err
    done = {e["user"]: e for e in events if e["event"] == "user_done"}
    assert done[good]["state"] == "done" and done[good]["messages"] == sum(copylab.corpus_hashes(good).values())
    assert done[bad]["state"] == "failed"
    assert "new provider" in done[bad]["error"] and "login refused" in done[bad]["error"]
    assert "Traceback" not in err
    assert hashes(mailbox(copylab.new, l1)) == copylab.corpus_hashes(good)


def test_source_archive_gives_the_same_target_as_source_old(copylab: Any, tmp_path: Path) -> None:
    user = "cp-hostile@corp.example"
    l_old, p_old = copylab.fresh_login(copylab.new, "from-old")
    l_arc, p_arc = copylab.fresh_login(copylab.new, "from-archive")
    a = tmp_path / "a"
    b = tmp_path / "b"
    a.mkdir()
    b.mkdir()
    proj_old = copy_project(a, copylab.old, copylab.new, {user: (copylab.old_users[user], l_old, p_old)})
    proj_arc = copy_project(b, copylab.old, copylab.new, {user: (copylab.old_users[user], l_arc, p_arc)})
    archive = b / "archive"
    backup = BackupEngine(load_project(proj_arc), credentials(b), BackupOptions(archive)).run()
    assert backup.users_ok == 1
    assert engine(a, proj_old).run().users_ok == 1
    code, events, err = run_cli(b, "copy", str(proj_arc), "--source", "archive", "--archive", str(archive), "--json")
    assert code == 0, err
    assert by_folder(mailbox(copylab.new, l_old)) == by_folder(mailbox(copylab.new, l_arc))
    # The identity map's keys are the old server's: a delta from the old server now copies nothing.
    code, events, err = run_cli(b, "copy", str(proj_arc), "--json")
    assert code == 0 and events[-1]["messages"] == 0, err
    code, _e, err = run_cli(b, "verify", str(proj_arc), "--copy", "--source", "archive", "--dest", str(archive))
    assert code == 0, err


def test_flag_changes_on_the_source_are_carried_over(copylab: Any, tmp_path: Path) -> None:
    user = "cp-flags@corp.example"
    project, login, inst = _setup(copylab, tmp_path, user)
    assert engine(tmp_path, project).run().users_ok == 1
    old = copylab.old
    with IMAPClient("127.0.0.1", old.imap_port, ssl=False) as c:
        c.login(user, old.users[user])
        c.select_folder("INBOX")
        uids = c.search("ALL")
        c.add_flags(uids[:3], [b"\\Flagged", b"Important"])
        c.remove_flags(uids[3:5], [b"\\Seen"])
    try:
        events: list[Any] = []
        summary = engine(tmp_path, project, events).run()
        assert summary.messages == 0
        assert sum(e.flags_updated for e in events if isinstance(e, FolderCopied)) >= 3
        src, dst = mailbox(old, user), mailbox(inst, login)
        assert by_folder(src)["INBOX"] == by_folder(dst)["INBOX"]
        code, _e, err = run_cli(tmp_path, "verify", str(project), "--copy")
        assert code == 0, err
    finally:
        with IMAPClient("127.0.0.1", old.imap_port, ssl=False) as c:
            c.login(user, old.users[user])
            c.select_folder("INBOX")
            c.remove_flags(uids[:3], [b"\\Flagged", b"Important"])


def test_verify_lists_missing_extra_and_different(copylab: Any, tmp_path: Path) -> None:
    user = "cp-small@corp.example"
    project, login, inst = _setup(copylab, tmp_path, user)
    assert engine(tmp_path, project).run().users_ok == 1
    with IMAPClient("127.0.0.1", inst.imap_port, ssl=False) as c:
        c.login(login, inst.users[login])
        c.select_folder("INBOX")
        uids = c.search("ALL")
        c.delete_messages(uids[:1])
        c.expunge()
        c.add_flags(uids[1:2], [b"$Tampered"])
        c.append("INBOX", b"Subject: not from the old side\r\nMessage-ID: <extra@x>\r\n\r\nhello\r\n")
    code, events, err = run_cli(tmp_path, "verify", str(project), "--copy", "--json")
    assert code == 1, err
    inbox = next(e for e in events if e["event"] == "folder" and e["folder"] == "INBOX")
    assert (inbox["missing"], inbox["extra"], inbox["different"]) == (1, 1, 1)
    assert "<extra@x>" in inbox["extra_list"][0] and "$Tampered" in inbox["different_list"][0]
    others = [e for e in events if e["event"] == "folder" and e["folder"] != "INBOX"]
    assert all(e["missing"] == e["extra"] == e["different"] == 0 for e in others)
    assert load_project(project).sections["copy"]["users"][user]["verify"] == "different"


def test_without_uidplus_messages_are_found_by_hash(copylab: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A target without UIDPLUS (no APPENDUID): each message is found again by size and sha256."""
    from mailmig_tui.core.imap.append import Capabilities

    real = Capabilities.of
    monkeypatch.setattr(Capabilities, "of", classmethod(lambda cls, c: cls(**{**real(c).__dict__, "uidplus": False,
                                                                                "multiappend": False, "literal_plus": False})))
    user = "cp-dups@corp.example"
    project, login, inst = _setup(copylab, tmp_path, user)
    summary = engine(tmp_path, project).run()
    assert summary.users_ok == 1, summary.errors
    assert hashes(mailbox(inst, login)) == copylab.corpus_hashes(user)
    assert engine(tmp_path, project).run().messages == 0


def test_exclude_and_override_from_the_project_file(copylab: Any, tmp_path: Path) -> None:
    user = "cp-small@corp.example"
    project, login, inst = _setup(copylab, tmp_path, user, copy_section={
        "exclude": ["Archive/*"], "folders": {"Sent": "Old/Sent from the old side"}})
    events: list[Any] = []
    assert engine(tmp_path, project, events, config=_config(project)).run().users_ok == 1
    plan = {m.source_name: m for e in events if isinstance(e, UserFolders) for m in e.mappings}
    assert plan["Archive/2024"].action == "exclude"
    target = mailbox(inst, login)
    assert "Old.Sent from the old side" in target and "Archive.2024" not in target
    assert len(target["Old.Sent from the old side"]) == len(mailbox(copylab.old, user)["Sent"])


def _config(project: Path) -> Any:
    from mailmig_tui.core.copy.config import project_copy_config

    return project_copy_config(load_project(project), project)


def test_bad_copy_section_names_line_and_key(tmp_path: Path) -> None:
    from mailmig_tui.core.model import User
    from mailmig_tui.core.project_factory import new_project
    from mailmig_tui.core.store import ProjectStore

    path = tmp_path / "corp.example.mailmig.toml"
    project = new_project("corp.example", "generic-imap", "generic-imap")
    project.users = [User("a@corp.example")]
    ProjectStore.create(path, project).close()
    text = path.read_text() + '\n[copy]\nexclude = "Junk"\n'
    path.write_text(text)
    line = text.splitlines().index('exclude = "Junk"') + 1
    code, _e, err = run_cli(tmp_path, "copy", str(path), "--plan")
    assert code == 3, err
    assert f"line {line}" in err and "copy.exclude" in err and "Traceback" not in err
    assert path.read_text() == text, "never written over"


def test_big_message_streams_with_flat_memory(copylab: Any, tmp_path: Path) -> None:
    """The 3 MB message arrives byte-identical; the copy's peak RSS stays far below what holding
    bodies would need (the bench measures it on 450 MB)."""
    user = "cp-big@corp.example"
    project, login, inst = _setup(copylab, tmp_path, user)
    code, _events, err = run_cli(tmp_path, "copy", str(project), "--json")
    assert code == 0, err
    assert hashes(mailbox(inst, login)) == copylab.corpus_hashes(user)


def test_user_done_reason_for_a_missing_new_password(copylab: Any, tmp_path: Path) -> None:
    user = "cp-small@corp.example"
    project, login, _inst = _setup(copylab, tmp_path, user)
    credentials(tmp_path).delete("corp.example", "new", login)
    events: list[Any] = []
    engine(tmp_path, project, events).run()
    done = next(e for e in events if isinstance(e, UserDone))
    assert done.state == "failed" and "no new provider password stored" in done.error


def test_new_server_restarted_mid_copy_is_retried_without_duplicates(copylab: Any, tmp_path: Path) -> None:
    """The new provider drops every connection in the middle of the copy: the user is retried with
    backoff, the batch in flight is reconciled, and the target ends exact."""
    from mailmig_tui.core.runs import Progress, Retrying

    user = "cp-bulk@corp.example"
    project, login, inst = _setup(copylab, tmp_path, user)
    events: list[Any] = []
    restarted = []

    def on_event(e: Any) -> None:
        events.append(e)
        if isinstance(e, Progress) and not restarted:
            restarted.append(True)
            inst.restart()

    eng = engine(tmp_path, project, events)
    eng.on_event = on_event
    summary = eng.run()
    assert restarted and summary.users_ok == 1, summary.errors
    assert any(isinstance(e, Retrying) for e in events)
    assert hashes(mailbox(inst, login)) == copylab.corpus_hashes(user)


def test_a_rerun_selects_no_unchanged_folder_but_follows_every_change(copylab: Any, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """An unchanged folder costs nothing on a re-run (its STATUS from the listing equals the one before the
    last complete pass); new mail, a flag change or an expunge on the source is still copied across."""
    from mailmig_tui.core.copy import sources

    user = "cp-flags@corp.example"
    project, login, inst = _setup(copylab, tmp_path, user)
    assert engine(tmp_path, project).run().users_ok == 1
    opened: list[bytes] = []
    real = sources.OldServerSource.open_folder

    def counting(self: Any, folder: Any) -> tuple[int, int]:
        opened.append(folder.raw)
        return real(self, folder)

    monkeypatch.setattr(sources.OldServerSource, "open_folder", counting)
    events: list[Any] = []
    assert engine(tmp_path, project, events).run().messages == 0
    assert opened == [], "no source folder selected when nothing changed"
    assert sum(e.already for e in events if isinstance(e, FolderCopied)) == sum(
        len(v) for v in by_folder(mailbox(copylab.old, user)).values())
    old = copylab.old
    with IMAPClient("127.0.0.1", old.imap_port, ssl=False) as c:
        c.login(user, old.users[user])
        c.select_folder("INBOX")
        uids = c.search("ALL")
        c.add_flags(uids[:2], [b"$Rerun"])
        c.append("INBOX", b"From: a@corp.example\r\nSubject: arrived after the copy\r\n\r\nbody\r\n", [b"\\Seen"])
    try:
        events = []
        assert engine(tmp_path, project, events).run().messages == 1
        assert set(opened) == {b"INBOX"}, "only the folder that changed is selected"
        assert sum(e.flags_updated for e in events if isinstance(e, FolderCopied)) == 2
        assert by_folder(mailbox(old, user))["INBOX"] == by_folder(mailbox(inst, login))["INBOX"]
        opened.clear()
        assert engine(tmp_path, project).run().messages == 0
        assert opened == []
    finally:
        with IMAPClient("127.0.0.1", old.imap_port, ssl=False) as c:
            c.login(user, old.users[user])
            c.select_folder("INBOX")
            c.remove_flags(uids[:2], [b"$Rerun"])
            new = [u for u in c.search("ALL") if u not in uids]
            c.delete_messages(new)
            c.expunge()
