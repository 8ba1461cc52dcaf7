"""Staff notices sent by mail through the lab's Postfix (new and old provider), found in the recipients'
INBOXes; the send log stops a second send, after a finished run and after `kill -9` mid-run."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from imapclient import IMAPClient

from mailmig_tui.core.mailout import SendOptions, parse_mailout_section, send_notice, sendlog_path
from mailmig_tui.core.store import ProjectStore, load_project
from mailmig_tui.lab.mail import MailLab
from tests.backup_helpers import cli_env, credentials, run_cli
from tests.matrix.conftest import USERS, matrix_project

SENDER, SENDER_PW = "it@corp.test", "it-secret"


@pytest.fixture
def notice_project(good_zone: MailLab, tmp_path: Path) -> Iterator[Path]:
    for inst in (good_zone.new, good_zone.old):
        if SENDER not in inst.users:
            inst.add_user(SENDER, SENDER_PW)
    project = matrix_project(good_zone)
    project.sections["mailout"] = {"sender": SENDER, "sender_name": "IT", "rate_per_minute": 600}
    for user in project.users:
        user.display_name = user.email.split("@")[0].title()
    path = tmp_path / "corp.test.mailmig.toml"
    ProjectStore.create(path, project).close()
    creds = credentials(tmp_path)
    creds.set_many("corp.test", [("new", SENDER, SENDER_PW), ("old", SENDER, SENDER_PW)]
                   + [("new", e, pw[1]) for e, pw in USERS.items()] + [("old", e, pw[0]) for e, pw in USERS.items()])
    yield path
    clear_all(good_zone)  # the session's mail lab is shared: leave the mailboxes as they were


def clear_all(lab: MailLab) -> None:
    """Remove every notice these tests sent, from both providers (the matrix compares the two sides)."""
    for side in ("new", "old"):
        for notice in ("announcement", "cutover_reminder", "go_live"):
            clear(lab, side, notice)


def inbox_notices(lab: MailLab, side: str, email: str, notice: str) -> list[bytes]:
    inst = lab.new if side == "new" else lab.old
    with IMAPClient("127.0.0.1", inst.imap_port, ssl=False, timeout=10) as client:
        client.login(email, inst.users[email])
        client.select_folder("INBOX", readonly=True)
        uids = client.search(["HEADER", "X-Mailmig-Notice", notice])
        return [d[b"BODY[]"] for d in client.fetch(uids, ["BODY[]"]).values()] if uids else []


def wait_for_notices(lab: MailLab, side: str, notice: str, emails: list[str], timeout: float = 30) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while True:
        counts = {e: len(inbox_notices(lab, side, e, notice)) for e in emails}
        if all(counts.values()) or time.monotonic() > deadline:
            return counts
        time.sleep(0.3)


def clear(lab: MailLab, side: str, notice: str) -> None:
    inst = lab.new if side == "new" else lab.old
    for email in USERS:
        with IMAPClient("127.0.0.1", inst.imap_port, ssl=False, timeout=10) as client:
            client.login(email, inst.users[email])
            client.select_folder("INBOX")
            uids = client.search(["HEADER", "X-Mailmig-Notice", notice])
            if uids:
                client.delete_messages(uids)
                client.expunge()


def test_go_live_notice_reaches_every_inbox_once_merged_per_user(notice_project: Path, good_zone: MailLab) -> None:
    clear(good_zone, "new", "go_live")
    project = load_project(notice_project)
    config = parse_mailout_section(project.sections["mailout"])
    creds = credentials(notice_project.parent)
    dry = send_notice(project, notice_project, creds, config, SendOptions("go_live", dry_run=True))
    assert [o.state for o in dry.outcomes] == ["planned"] * len(USERS)
    assert not sendlog_path(notice_project).exists() or not sqlite3.connect(sendlog_path(notice_project)).execute(
        "SELECT count(*) FROM sends").fetchone()[0]

    summary = send_notice(project, notice_project, creds, config, SendOptions("go_live"))
    assert summary.complete and summary.count("sent") == len(USERS), summary.outcomes
    counts = wait_for_notices(good_zone, "new", "go_live", list(USERS))
    assert counts == dict.fromkeys(USERS, 1)
    body = inbox_notices(good_zone, "new", "ann@corp.test", "go_live")[0]
    assert b"To: Ann <ann@corp.test>" in body and b"From: IT <it@corp.test>" in body
    assert b"Auto-Submitted: auto-generated" in body

    again = send_notice(project, notice_project, creds, config, SendOptions("go_live"))
    assert [o.state for o in again.outcomes] == ["already"] * len(USERS) and again.complete
    time.sleep(1.0)
    assert {e: len(inbox_notices(good_zone, "new", e, "go_live")) for e in USERS} == dict.fromkeys(USERS, 1)


def test_the_announcement_goes_out_through_the_old_provider(notice_project: Path, good_zone: MailLab) -> None:
    clear(good_zone, "old", "announcement")
    code, events, out = run_cli(notice_project.parent, "notices", "send", str(notice_project), "--notice",
                                "announcement", "--to", "pilots", "--json")
    assert code == 0, out
    plan = next(e for e in events if e["event"] == "notices.plan")
    assert plan["via"] == "old" and plan["recipients"] == 2
    pilots = [e for e, (_o, _n, role) in USERS.items() if role == "pilot"]
    assert wait_for_notices(good_zone, "old", "announcement", pilots) == dict.fromkeys(pilots, 1)
    assert not inbox_notices(good_zone, "new", pilots[0], "announcement")


def test_kill_9_mid_run_then_rerun_mails_nobody_twice(notice_project: Path, good_zone: MailLab) -> None:
    clear(good_zone, "new", "cutover_reminder")
    store = ProjectStore.open(notice_project)
    store.update(lambda p: p.sections["mailout"].update(rate_per_minute=40))  # one every 1.5 s
    store.close()
    args = [sys.executable, "-m", "mailmig_tui", "notices", "send", str(notice_project), "--notice",
            "cutover_reminder", "--via", "new", "--json"]
    proc = subprocess.Popen(args, env=cli_env(notice_project.parent), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    log = sendlog_path(notice_project)
    deadline = time.monotonic() + 60
    sent = 0
    while time.monotonic() < deadline:
        if log.exists():
            try:
                sent = sqlite3.connect(log).execute("SELECT count(*) FROM sends WHERE state = 'sent'").fetchone()[0]
            except sqlite3.OperationalError:  # the file exists, its table not yet
                sent = 0
            if sent >= 2:
                break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert 2 <= sent < len(USERS)
    time.sleep(2.0)  # let Postfix deliver what it accepted before the kill
    code, events, out = run_cli(notice_project.parent, "notices", "send", str(notice_project), "--notice",
                                "cutover_reminder", "--via", "new", "--json")
    states = {e["recipient"]: e["state"] for e in events if e["event"] == "notices.recipient"}
    assert sorted(states) == sorted(USERS)
    assert list(states.values()).count("already") >= 2
    if "uncertain" in states.values():  # killed between handing a message over and hearing the answer
        assert code == 1
        code, events, out = run_cli(notice_project.parent, "notices", "send", str(notice_project), "--notice",
                                    "cutover_reminder", "--via", "new", "--resend-uncertain", "--json")
    assert code == 0, out
    counts = wait_for_notices(good_zone, "new", "cutover_reminder", list(USERS))
    time.sleep(1.0)
    counts = {e: len(inbox_notices(good_zone, "new", e, "cutover_reminder")) for e in USERS}
    assert counts == dict.fromkeys(USERS, 1), counts


def test_a_wrong_sender_password_sends_nothing_and_says_why(notice_project: Path) -> None:
    credentials(notice_project.parent).set("corp.test", "new", SENDER, "wrong")
    code, _events, out = run_cli(notice_project.parent, "notices", "send", str(notice_project), "--notice", "go_live",
                                 "--to", "ann@corp.test")
    assert code == 1 and "cannot send as it@corp.test through the new provider" in out and "Traceback" not in out
    assert not sqlite3.connect(sendlog_path(notice_project)).execute(
        "SELECT count(*) FROM sends WHERE state != 'deferred'").fetchone()[0]


def test_usage_errors_and_a_bad_mailout_section(notice_project: Path) -> None:
    code, _events, out = run_cli(notice_project.parent, "notices", "send", str(notice_project), "--notice", "go_live",
                                 "--to", "nobody@corp.test")
    assert code == 2 and "nobody@corp.test is not a user of this project" in out
    code, _events, out = run_cli(notice_project.parent, "notices", "send", str(notice_project))
    assert code == 2 and "--notice" in out
    text = notice_project.read_text()
    notice_project.write_text(text.replace('rate_per_minute = 600', 'rate_per_minute = "fast"'))
    code, _events, out = run_cli(notice_project.parent, "notices", "send", str(notice_project), "--notice", "go_live")
    assert code == 3 and "mailout.rate_per_minute" in out and "Traceback" not in out
    # Exporting still works as before, with and without the action word.
    notice_project.write_text(text)
    code, _events, out = run_cli(notice_project.parent, "notices", str(notice_project))
    assert code == 0 and ".eml" in out


async def test_send_key_on_the_notices_tab(notice_project: Path, good_zone: MailLab, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from textual.widgets import OptionList

    from mailmig_tui.core import credentials as credentials_module
    from mailmig_tui.ui.app import MailmigApp
    from mailmig_tui.ui.widgets.dialogs import ConfirmDialog
    from mailmig_tui.ui.widgets.notices_panel import NoticesPanel
    from tests.backup_helpers import PASSPHRASE

    clear(good_zone, "new", "go_live")
    monkeypatch.setenv("MAILMIG_CREDENTIALS_FILE", str(tmp_path / "creds.enc"))
    monkeypatch.setenv("MAILMIG_PASSPHRASE", PASSPHRASE)
    credentials_module.forget_session()
    app = MailmigApp(ProjectStore.open(notice_project))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("6", "]", "]")
        panel = app.screen.query_one(NoticesPanel)
        panel.query_one(OptionList).highlighted = 2  # the go-live notice
        await pilot.press("s")
        assert isinstance(app.screen, ConfirmDialog) and "4 users" in str(app.screen.message)
        await pilot.press("y")
        for _ in range(600):
            await pilot.pause(0.05)
            if not any(w.is_running for w in panel.workers) and panel.workers:
                break
        await app.workers.wait_for_complete()
    app.store.close()
    assert wait_for_notices(good_zone, "new", "go_live", list(USERS)) == dict.fromkeys(USERS, 1)
