"""The Backup tab: driven from the keyboard against the Dovecot lab (backup, verify, pause, cancel,
resume, a wrong password, quitting mid-run), and its event buffer and summary line without a server.

No timed assertions: waiting means polling with pilot.pause() a bounded number of times.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static

from mailmig_tui.core import credentials
from mailmig_tui.core.backup.engine import FolderStarted, Progress, RunSummary, UserDone
from mailmig_tui.core.backup.summary import last_run_line, record_result, run_record, verify_record
from mailmig_tui.core.backup.verify import UserCheck
from mailmig_tui.core.project_factory import demo_project
from mailmig_tui.core.store import ProjectStore, load_project
from mailmig_tui.ui.app import MailmigApp
from mailmig_tui.ui.phases.backup.panel import BackupPanel, EventBuffer, text_bar
from mailmig_tui.ui.widgets.dialogs import ConfirmDialog, FormDialog
from tests.backup_helpers import PASSPHRASE, assert_archive_matches_corpus, make_project

SIZE = (80, 24)
POLLS = 2400  # x 0.05 s: a generous bound; tests end as soon as the condition holds


@pytest.fixture(autouse=True)
def fresh_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("MAILMIG_CREDENTIALS_FILE", str(tmp_path / "creds.enc"))
    monkeypatch.delenv("MAILMIG_PASSPHRASE", raising=False)
    import keyring.core

    keyring.core._keyring_backend = None  # re-read PYTHON_KEYRING_BACKEND (the fail backend)
    credentials.forget_session()
    yield
    credentials.forget_session()


async def wait_until(pilot: Pilot[Any], condition: Callable[[], bool], what: str) -> None:
    for _ in range(POLLS):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"still waiting for {what}")


def cell(panel: BackupPanel, email: str, column: str) -> str:
    return str(panel.table.get_cell(email, column)).strip()


def archived_files(dest: Path) -> list[Path]:
    return [p for p in (dest / "users").rglob("*") if p.parent.name == "cur"]


async def open_tab(app: MailmigApp, pilot: Pilot[Any]) -> BackupPanel:
    await pilot.press("2", "]")
    panel = app.screen.query_one(BackupPanel)
    assert panel.table.has_focus
    return panel


def lab_app(lab: Any, tmp_path: Path, users: dict[str, str]) -> tuple[MailmigApp, Path]:
    path = make_project(tmp_path, lab.lab.old, users)
    return MailmigApp(ProjectStore.open(path)), path


# --- against the lab ------------------------------------------------------------------------------


@pytest.mark.lab
async def test_backup_and_verify_from_the_screen(lab: Any, tmp_path: Path) -> None:
    users = {u: lab.old_users[u] for u in ("u1@corp.example", "u2@corp.example")}
    app, path = lab_app(lab, tmp_path, users)
    async with app.run_test(size=SIZE) as pilot:
        panel = await open_tab(app, pilot)
        info = str(panel.query_one("#backup-info", Static).render())
        assert "encrypted file" in info and "locked" in info
        assert "self-signed certificate accepted (pinned sha256:" in info
        assert cell(panel, "u1@corp.example", "state") == "○ idle"

        await pilot.press("b")  # no MAILMIG_PASSPHRASE: the passphrase is asked once
        assert isinstance(app.screen, FormDialog)
        field = app.screen.query_one("#field-passphrase", Input)
        assert field.password
        await pilot.press(*PASSPHRASE, "enter")
        assert not isinstance(app.screen, FormDialog)
        await wait_until(pilot, lambda: panel.summary is not None and not panel.worker_running, "the backup")

        for user in users:
            assert cell(panel, user, "state") == "✓ done"
            assert cell(panel, user, "progress").endswith("100%")
            n = lab.counts[user]
            assert cell(panel, user, "messages") == f"{n}/{n}"
        info = str(panel.query_one("#backup-info", Static).render())
        assert "locked" not in info
        overall = str(panel.query_one("#backup-overall", Static).render())
        assert "100%" in overall and "errors: 0" in overall and "finished" in overall

        dest = tmp_path / "corp.example-backup"
        total = sum(lab.counts[u] for u in users)
        assert len(archived_files(dest)) == total
        for user in users:
            assert_archive_matches_corpus(dest, user)  # byte for byte what the corpus generated
        run = load_project(path).sections["backup"]["last_run"]
        assert (run["users"], run["users_ok"], run["users_failed"], run["messages"]) == (2, 2, 0, total)
        assert load_project(path).sections["backup"]["dest"] == str(dest)

        await pilot.press("v")  # unlocked already: no second question
        assert not isinstance(app.screen, FormDialog)
        await wait_until(pilot, lambda: panel.verify_result is not None and not panel.worker_running, "verify")
        for user in users:
            assert cell(panel, user, "verify") == "✓ ok"
        assert panel.verify_result == (2, 2)
        assert "✓ verified 2/2" in str(panel.query_one("#backup-overall", Static).render())
        check = load_project(path).sections["backup"]["last_verify"]
        assert (check["users"], check["users_ok"]) == (2, 2)

        await pilot.press("0")
        summary = str(app.screen.query_one("#dash-summary", Static).render())
        assert f"Last backup: 2 users, {total:,} msgs" in summary and "verified ✓" in summary


def hold_at_first_progress(panel: BackupPanel) -> tuple[threading.Event, threading.Event]:
    """Make the engine's thread wait, right after its first batch, until the test sets `release`: so
    "mid-run" is a point the test chooses, not a race with a fast server."""
    reached, release = threading.Event(), threading.Event()
    push = panel.buffer.push

    def holding_push(event: Any) -> None:
        push(event)
        if isinstance(event, Progress) and not reached.is_set():
            reached.set()
            release.wait(60)

    panel.buffer.push = holding_push  # type: ignore[method-assign]
    return reached, release


async def pause_after_first_batch(pilot: Pilot[Any], panel: BackupPanel, user: str, key: str = "b") -> None:
    reached, release = hold_at_first_progress(panel)
    await pilot.press(key)
    await wait_until(pilot, reached.is_set, "the first batch")
    await pilot.press("p")  # the engine stops at its next checkpoint, right after this batch
    assert panel.paused and panel.controls is not None and not panel.controls.running.is_set()
    release.set()
    # The batch's Progress reaches the row at the next drain of the event buffer: wait for it, not for
    # the row's first plan (which already shows "0/total").
    await wait_until(pilot, lambda: cell(panel, user, "state") == "‖ paused"
                     and cell(panel, user, "messages").split("/")[0] not in ("0", ""), "the paused row")


@pytest.mark.lab
async def test_pause_cancel_and_resume_from_the_screen(lab: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILMIG_PASSPHRASE", PASSPHRASE)
    user = "kill9@corp.example"
    total = lab.counts[user]
    app, path = lab_app(lab, tmp_path, {user: lab.old_users[user]})
    dest = tmp_path / "corp.example-backup"
    async with app.run_test(size=SIZE) as pilot:
        panel = await open_tab(app, pilot)
        panel.engine_options = {"batch_messages": 10}
        await pause_after_first_batch(pilot, panel, user)
        assert panel.worker_running and panel.summary is None
        # The first batch (10) is held until the pause is set; batches the download had fetched by then
        # (at most _Committer.MAX_PENDING more) are committed and counted too, and nothing after them.
        from mailmig_tui.core.backup.engine import _Committer

        shown, of = cell(panel, user, "messages").split("/")
        assert of == f"{total:,}" and 10 <= int(shown) <= 10 * (_Committer.MAX_PENDING + 1)
        assert any(b.description == "Continue" for b in panel._bindings.key_to_bindings["p"])
        assert "‖ paused" in str(panel.query_one("#backup-overall", Static).render())

        await pilot.press("c")
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("n")  # changed my mind: still paused, still running
        assert panel.worker_running and panel.paused
        await pilot.press("c", "y")
        await wait_until(pilot, lambda: not panel.worker_running, "the cancelled run to end")
        assert cell(panel, user, "state") == "■ stopped"
        assert panel.resumable and "stopped (r resumes)" in str(panel.query_one("#backup-overall", Static).render())
        partial = len(archived_files(dest))
        # The download runs ahead of the commits by at most _Committer.MAX_PENDING batches: what was
        # downloaded before the pause is kept (and counted), nothing past it.
        assert int(shown) <= partial <= 10 * (_Committer.MAX_PENDING + 1)
        assert 10 <= partial <= 10 * (_Committer.MAX_PENDING + 1)
        run = load_project(path).sections["backup"]["last_run"]
        assert run["users_cancelled"] == 1 and run["messages"] == partial

        # r starts again (the engine is incremental); pause it once more, then p continues to the end
        await pause_after_first_batch(pilot, panel, user, key="r")
        await pilot.press("p")
        assert not panel.paused and panel.controls.running.is_set()
        await wait_until(pilot, lambda: panel.summary is not None and not panel.worker_running, "the resumed run")
        assert cell(panel, user, "state") == "✓ done"
        assert not panel.resumable
        assert len(archived_files(dest)) == total
        assert_archive_matches_corpus(dest, user)  # stopped and resumed: still each message once, whole
        run = load_project(path).sections["backup"]["last_run"]
        assert run["users_ok"] == 1 and run["messages"] == total - partial


@pytest.mark.lab
async def test_wrong_password_fails_that_user_only(lab: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILMIG_PASSPHRASE", PASSPHRASE)
    users = {"u1@corp.example": lab.old_users["u1@corp.example"], "u2@corp.example": "not-the-password",
             "uidv@corp.example": lab.old_users["uidv@corp.example"]}
    app, path = lab_app(lab, tmp_path, users)
    async with app.run_test(size=SIZE) as pilot:
        panel = await open_tab(app, pilot)
        await pilot.press("b")
        await wait_until(pilot, lambda: panel.summary is not None and not panel.worker_running, "the backup")
        assert cell(panel, "u2@corp.example", "state") == "✗ failed"
        assert cell(panel, "u2@corp.example", "folder").startswith("login re")  # cut to the column: the detail line has it all
        for user in ("u1@corp.example", "uidv@corp.example"):
            assert cell(panel, user, "state") == "✓ done"
        assert "errors: 1" in str(panel.query_one("#backup-overall", Static).render())
        await pilot.press("down")  # the highlighted user's full reason is under the table
        detail = str(panel.query_one("#backup-detail", Static).render())
        assert "u2@corp.example: failed: login refused for u2@corp.example" in detail
        run = load_project(path).sections["backup"]["last_run"]
        assert run["users_failed"] == 1 and run["errors"][0].startswith("u2@corp.example: login refused")


@pytest.mark.lab
async def test_quitting_mid_run_stops_the_engine_cleanly(lab: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILMIG_PASSPHRASE", PASSPHRASE)
    user = "kill9@corp.example"
    app, path = lab_app(lab, tmp_path, {user: lab.old_users[user]})
    async with app.run_test(size=SIZE) as pilot:
        panel = await open_tab(app, pilot)
        panel.engine_options = {"batch_messages": 10}
        await pause_after_first_batch(pilot, panel, user)
        await pilot.press("ctrl+q")
    # The engine saw the cancel, stopped at its next checkpoint and recorded the stopped run.
    for _ in range(POLLS):
        backup = load_project(path).sections.get("backup", {})
        if "last_run" in backup:
            break
        await asyncio.sleep(0.05)
    app.store.close()
    run = load_project(path).sections["backup"]["last_run"]
    assert run["users_cancelled"] == 1
    assert len(archived_files(tmp_path / "corp.example-backup")) == run["messages"] < lab.counts[user]


# --- without a server ----------------------------------------------------------------------------


def _flood(buffer: EventBuffer, users: list[str]) -> list[threading.Thread]:
    def engine_thread(user: str) -> None:
        for folder in ("INBOX", "Sent"):
            buffer.push(FolderStarted(user, folder, 25_000, 25_000_000, 25_000))
            for _ in range(25_000):
                buffer.push(Progress(user, folder, 1, 1000))
        buffer.push(UserDone(user, "done", 50_000, 50_000_000, 1.0))

    threads = [threading.Thread(target=engine_thread, args=(u,)) for u in users]
    for t in threads:
        t.start()
    return threads


def _check_order_and_sums(drained: list[Any], users: list[str]) -> None:
    for user in users:
        mine = [e for e in drained if e.user == user]
        assert sum(e.messages for e in mine if isinstance(e, Progress)) == 50_000
        assert sum(e.bytes for e in mine if isinstance(e, Progress)) == 50_000_000
        # the order of everything else is kept: Sent's progress comes after Sent started, done is last
        sent = next(i for i, e in enumerate(mine) if isinstance(e, FolderStarted) and e.folder == "Sent")
        assert all(e.folder == "INBOX" for e in mine[:sent] if isinstance(e, Progress))
        assert all(e.folder == "Sent" for e in mine[sent:] if isinstance(e, Progress))
        assert isinstance(mine[-1], UserDone)


def test_event_buffer_coalesces_a_flood_and_keeps_order() -> None:
    users = [f"u{i}@corp.example" for i in range(4)]
    # drained while the engine's threads push: every message counted once, in order
    buffer = EventBuffer()
    threads = _flood(buffer, users)
    drained: list[Any] = []
    deadline = time.monotonic() + 60
    while any(t.is_alive() for t in threads):
        assert time.monotonic() < deadline, "the pushing threads did not finish"
        drained += buffer.drain()
    drained += buffer.drain()
    assert buffer.pushed == 4 * 50_003
    _check_order_and_sums(drained, users)

    # drained once afterwards (a slow UI): 200,000 progress events become at most one per user
    # between two other events, whatever the threads' interleaving
    buffer = EventBuffer()
    for t in _flood(buffer, users):
        t.join()
    drained = buffer.drain()
    structural = [e for e in drained if not isinstance(e, Progress)]
    assert len(structural) == 4 * 3
    assert len(drained) - len(structural) <= (len(structural) + 1) * len(users)
    _check_order_and_sums(drained, users)


async def test_a_full_speed_stream_of_events_is_drawn_a_few_times_a_second(demo_path: Path, frozen_clock: datetime) -> None:
    app = MailmigApp(ProjectStore.open(demo_path))
    async with app.run_test(size=SIZE) as pilot:
        panel = await open_tab(app, pilot)
        draws = 0
        original = panel.refresh_view

        def counting(now: float | None = None) -> None:
            nonlocal draws
            draws += 1
            original(now)

        panel.refresh_view = counting  # type: ignore[method-assign]
        from mailmig_tui.core.backup.engine import RunStarted, UserPlanned, UserStarted

        emails = [u.email for u in app.store.project.users]
        panel.buffer.push(RunStarted(tuple(emails), "/tmp/x", 4))
        for email in emails:
            panel.buffer.push(UserStarted(email))
            panel.buffer.push(UserPlanned(email, 1, 20_000, 20_000_000))
        assert panel._timer is not None
        panel._timer.resume()

        def flood() -> None:
            for _ in range(20_000):
                for email in emails:
                    panel.buffer.push(Progress(email, "INBOX", 1, 1000))

        thread = threading.Thread(target=flood)
        thread.start()
        await wait_until(pilot, lambda: not thread.is_alive(), "the flood")
        await wait_until(pilot, lambda: all(r.messages == 20_000 for r in panel.rows.values()), "the last drain")
        assert panel.buffer.pushed == 1 + 2 * len(emails) + 200_000
        assert draws < 200  # a redraw per drain, not per event
        assert cell(panel, emails[0], "messages") == "20.0k/20.0k"
        assert cell(panel, emails[0], "progress") == text_bar(1.0, 6) + " 100%"


def test_last_run_line_says_whether_the_backup_was_verified(tmp_path: Path) -> None:
    project = demo_project(datetime(2026, 11, 27, 10, tzinfo=UTC))
    assert last_run_line(project) is None
    started = datetime(2026, 11, 28, 10, 40, tzinfo=UTC)
    finished = started + timedelta(minutes=2)
    summary = RunSummary(10, 0, 0, 10_000, 208_000_000, 120.0, (), "/srv/x")
    record_result(project, "last_run", run_record(summary, started, finished), tmp_path)
    line = last_run_line(project)
    assert line is not None and line.startswith("Last backup: 10 users, 10,000 msgs, 208.0 MB, 0 errors, ")
    assert line.endswith("· not verified")
    ok = [UserCheck(f"u{i}@corp.example", folders=1, on_server=1, archived=1) for i in range(10)]
    record_result(project, "last_verify", verify_record(ok, finished + timedelta(minutes=1)), tmp_path)
    assert str(last_run_line(project)).endswith("· verified ✓")
    ok[3].missing = 2
    record_result(project, "last_verify", verify_record(ok, finished + timedelta(minutes=2)), tmp_path)
    assert str(last_run_line(project)).endswith("· verify: 1 users differ ✗")
    record_result(project, "last_verify", verify_record(ok, started - timedelta(days=1)), tmp_path)
    assert str(last_run_line(project)).endswith("· not verified")  # that verify was of an older backup


def test_needs_passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    assert credentials.needs_passphrase()
    monkeypatch.setenv("MAILMIG_PASSPHRASE", PASSPHRASE)
    assert not credentials.needs_passphrase()
    credentials.open_credentials()
    monkeypatch.delenv("MAILMIG_PASSPHRASE")
    assert not credentials.needs_passphrase()  # unlocked once for the session


async def test_idle_keys_and_columns_fit_80_columns(demo_path: Path, frozen_clock: datetime) -> None:
    app = MailmigApp(ProjectStore.open(demo_path))
    async with app.run_test(size=SIZE) as pilot:
        panel = await open_tab(app, pilot)
        table = panel.query_one(DataTable)
        assert sum(c.width for c in table.columns.values()) <= SIZE[0] - 1
        shown = {b.binding.key for b in app.screen.active_bindings.values() if b.enabled and b.binding.show}
        assert {"b", "v"} <= shown and not {"p", "c", "r"} & shown  # nothing runs: start and verify only
        await pilot.press("p", "c", "r")  # do nothing while idle
        assert not panel.worker_running and not isinstance(app.screen, ConfirmDialog)


def test_backup_tab_in_a_real_terminal_without_colour(demo_path: Path) -> None:
    from tests.servers import require_tools
    from tests.test_terminal_colours import colour_codes, is_grey, plain, run_in_tmux

    require_tools("tmux")

    screen = run_in_tmux(demo_path, {"NO_COLOR": "1", "TERM": "xterm-256color"},
                         [("2", "— Backup"), ("]", "Credentials:")])
    assert not {c for c in colour_codes(screen) if not is_grey(c)}
    text = plain(screen)
    assert "○ idle" in text and "Back up" in text and "Verify" in text and "Credentials:" in text
    assert len(text.splitlines()) <= 24 and all(len(line) <= 80 for line in text.splitlines())


async def test_a_wrong_passphrase_is_reported_and_asked_again(tmp_path: Path, frozen_clock: datetime) -> None:
    from types import SimpleNamespace

    # no server is reached: unlocking the credential file fails first
    nowhere = SimpleNamespace(imaps_port=9, imap_port=9, fingerprint="")
    path = make_project(tmp_path, nowhere, {"u1@corp.example": "pw"}, pin=False)
    app = MailmigApp(ProjectStore.open(path))
    async with app.run_test(size=SIZE) as pilot:
        panel = await open_tab(app, pilot)
        await pilot.press("b")
        assert isinstance(app.screen, FormDialog)
        await pilot.press(*"not it", "enter")
        await wait_until(pilot, lambda: not panel.worker_running and bool(panel.problem), "the failed unlock")
        assert "wrong passphrase" in panel.problem
        assert "✗ wrong passphrase" in str(panel.query_one("#backup-overall", Static).render())
        assert any("wrong passphrase" in str(n.message) for n in app._notifications)  # the app's handler said so
        assert "last_run" not in load_project(path).sections.get("backup", {})
        await pilot.press("v")  # still locked: asked again
        assert isinstance(app.screen, FormDialog)
        await pilot.press("escape")
        assert not panel.worker_running


async def test_a_user_waiting_for_the_server_says_why_and_when(demo_path: Path, frozen_clock: datetime) -> None:
    """A Retrying event shows the user as waiting for the server, with the reason, the next try and when
    it gives up; the Reconnected event that follows puts the row back to running."""
    import time as _time

    from mailmig_tui.core.backup.engine import Reconnected, Retrying, RunStarted, UserStarted

    app = MailmigApp(ProjectStore.open(demo_path))
    async with app.run_test(size=SIZE) as pilot:
        panel = await open_tab(app, pilot)
        email = app.store.project.users[0].email
        now = _time.time()
        panel.apply_event(RunStarted((email,), "/tmp/x", 1))
        panel.apply_event(UserStarted(email))
        panel.apply_event(Retrying(email, "[Errno 111] Connection refused", 3, 2.0, now + 2, now - 5, now + 595))
        await pilot.pause()
        row = panel.rows[email]
        assert row.state == "retrying" and cell(panel, email, "state").startswith("↻ ")
        assert row.note == "waiting for the server: [Errno 111] Connection refused; next try in 2s, gives up in 9m55s"
        panel.table.move_cursor(row=0)
        panel.refresh_view()
        await pilot.pause()
        panel.apply_event(Reconnected(email, 7.0))
        await pilot.pause()
        assert panel.rows[email].state == "running" and panel.rows[email].note == ""


@pytest.mark.lab
async def test_repair_key_refetches_a_corrupt_and_a_deleted_file(lab: Any, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib
    import sqlite3

    from mailmig_tui.core.backup.engine import BackupEngine, BackupOptions
    from tests.backup_helpers import as_project
    from tests.backup_helpers import credentials as lab_credentials

    user = "u1@corp.example"
    app, path = lab_app(lab, tmp_path, {user: lab.old_users[user]})
    dest = tmp_path / "corp.example-backup"
    assert BackupEngine(as_project(path), lab_credentials(tmp_path), BackupOptions(dest)).run().users_ok == 1
    db = sqlite3.connect(dest / "index.sqlite")
    (bad, bad_sha), (gone, gone_sha) = db.execute("SELECT path, sha256 FROM messages ORDER BY uid LIMIT 2").fetchall()
    data = bytearray((dest / bad).read_bytes())
    data[0] ^= 0x20
    (dest / bad).write_bytes(bytes(data))
    (dest / gone).unlink()
    monkeypatch.setenv("MAILMIG_PASSPHRASE", PASSPHRASE)
    async with app.run_test(size=SIZE) as pilot:
        panel = await open_tab(app, pilot)
        shown = {b.binding.key for b in app.screen.active_bindings.values() if b.enabled and b.binding.show}
        assert "f" in shown
        await pilot.press("f")
        await wait_until(pilot, lambda: panel.verify_result is not None and not panel.worker_running, "the repair")
        assert panel.verify_result == (1, 1)
        assert cell(panel, user, "verify") == "✓ ok"
    for sha in (bad_sha, gone_sha):
        (p,) = db.execute("SELECT path FROM messages WHERE sha256=?", (sha,)).fetchone()
        assert hashlib.sha256((dest / p).read_bytes()).hexdigest() == sha
    assert load_project(path).sections["backup"]["last_verify"]["users_ok"] == 1
