"""The Account sync screen driven from the keyboard against the Dovecot lab: the Users tab's login check
and password keys, the Copy tab's copy and the Verify tab's proof. No timed assertions: waiting means
polling with pilot.pause() a bounded number of times."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Static

from mailmig_tui.core import credentials as credentials_module
from mailmig_tui.core.accounts.check import saved_results
from mailmig_tui.core.store import ProjectStore, load_project
from mailmig_tui.ui.app import MailmigApp
from mailmig_tui.ui.phases.accounts.copy import CopyPanel
from mailmig_tui.ui.phases.accounts.users import UsersPanel
from mailmig_tui.ui.phases.accounts.verify import VerifyPanel
from mailmig_tui.ui.widgets.dialogs import InfoDialog
from tests.accounts_helpers import COPY_USER, accounts_project, add_accounts, add_copy_user, copy_project
from tests.backup_helpers import PASSPHRASE, credentials

SIZE = (80, 24)
POLLS = 2400


@pytest.fixture(autouse=True)
def unlocked_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("MAILMIG_CREDENTIALS_FILE", str(tmp_path / "creds.enc"))
    monkeypatch.setenv("MAILMIG_PASSPHRASE", PASSPHRASE)
    credentials_module.forget_session()
    yield
    credentials_module.forget_session()


async def wait_until(pilot: Pilot[Any], condition: Callable[[], bool], what: str) -> None:
    for _ in range(POLLS):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"still waiting for {what}")


def cell(panel: UsersPanel, email: str, column: str) -> str:
    return str(panel.table.get_cell(email, column)).strip()


@pytest.mark.lab
async def test_users_tab_checks_logins_and_saves_them(lab: Any, tmp_path: Path) -> None:
    add_accounts(lab)
    path = accounts_project(tmp_path, lab)
    app = MailmigApp(ProjectStore.open(path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4", "]")
        panel = app.screen.query_one(UsersPanel)
        await wait_until(pilot, lambda: panel.passwords is not None, "the password states")
        assert cell(panel, "acct-nopw@corp.example", "passwords") == "old✓ new✗"
        await pilot.press("c")
        await wait_until(pilot, lambda: panel.summary is not None and not panel.checking, "the check")
        assert cell(panel, "acct-ok@corp.example", "new") == "✓ ok"
        assert cell(panel, "acct-badnew@corp.example", "new") == "✗ refused"
        assert cell(panel, "acct-nopw@corp.example", "new") == "? no password"
        assert cell(panel, "acct-ok@corp.example", "smtp") == "– not set"
        assert "✗ 1/4 users ok" in str(panel.query_one("#accounts-info", Static).render())
        await pilot.press("down")  # acct-badnew: the server's own words below the table
        assert "AUTHENTICATIONFAILED" in str(panel.query_one("#accounts-detail", Static).render())
        await pilot.press("k")  # re-check that user alone
        await wait_until(pilot, lambda: panel.summary is not None and panel.summary.users == 1, "the re-check")
    app.store.close()
    saved = saved_results(load_project(path))
    assert saved["acct-badnew@corp.example"]["new"] == "refused" and saved["acct-ok@corp.example"]["new"] == "ok"


@pytest.mark.lab
async def test_generate_and_same_as_old_go_to_the_store_only(lab: Any, tmp_path: Path) -> None:
    add_accounts(lab)
    path = accounts_project(tmp_path, lab, ["acct-nopw@corp.example", "acct-ok@corp.example"])
    app = MailmigApp(ProjectStore.open(path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4", "]")
        panel = app.screen.query_one(UsersPanel)
        await wait_until(pilot, lambda: panel.passwords is not None, "the password states")
        await pilot.press("g")
        await wait_until(pilot, lambda: isinstance(app.screen, InfoDialog), "the generated password")
        shown = str(app.screen.query_one("#info-body", Static).render())
        stored = credentials(tmp_path).get("corp.example", "new", "acct-nopw@corp.example")
        assert stored and stored in shown and len(stored) == 16
        await pilot.press("escape")
        await wait_until(pilot, lambda: cell(panel, "acct-nopw@corp.example", "passwords") == "old✓ new✓", "new ✓")
        await pilot.press("s")  # the same password as old
        await wait_until(pilot, lambda: cell(panel, "acct-nopw@corp.example", "passwords") == "old✓ new=", "new =")
    app.store.close()
    assert credentials(tmp_path).get("corp.example", "new", "acct-nopw@corp.example") == "old-pw-np"
    assert stored not in path.read_text() and "old-pw-np" not in path.read_text()


@pytest.mark.lab
async def test_copy_tab_copies_and_verify_tab_proves_it(lab: Any, tmp_path: Path) -> None:
    messages = add_copy_user(lab)
    path = copy_project(tmp_path, lab)
    app = MailmigApp(ProjectStore.open(path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4", "]", "]")
        panel = app.screen.query_one(CopyPanel)
        await pilot.press("a")
        await wait_until(pilot, lambda: panel.view.summary is not None and not panel.worker_running, "the copy")
        row = panel.view.rows[COPY_USER]
        assert row.state == "done" and row.messages == messages, row.note
        assert row.extra.get("plan"), "the folder plan arrived with the run"
        overall = str(panel.query_one("#copy-overall", Static).render())
        assert "pre-stage: ✓ finished" in overall and "errors: 0" in overall
        await pilot.press("f")
        await wait_until(pilot, lambda: isinstance(app.screen, InfoDialog), "the folder plan")
        await pilot.press("escape")
        await pilot.press("a")  # a re-run copies nothing twice
        await wait_until(pilot, lambda: panel.view.summary is not None and not panel.worker_running, "the re-run")
        assert panel.view.rows[COPY_USER].messages == 0
        await pilot.press("]")
        verify = app.screen.query_one(VerifyPanel)
        await pilot.press("v")
        await wait_until(pilot, lambda: COPY_USER in verify.results and not verify.worker_running, "the verify")
        check = verify.results[COPY_USER]
        assert check.ok and check.source_messages == check.target_messages == messages, check.details
    app.store.close()
    copy = load_project(path).sections["copy"]
    assert copy["last_run"]["users_ok"] == 1 and copy["last_verify"]["users_ok"] == 1

    # coming back later: the tabs show what the project file remembers
    app = MailmigApp(ProjectStore.open(path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4", "]", "]")
        detail = str(app.screen.query_one("#copy-detail", Static).render())
        assert "last copy" in detail and "done" in detail, detail
        await pilot.press("]")
        verify = app.screen.query_one(VerifyPanel)
        assert str(verify.table.get_cell(COPY_USER, "state")).strip() == "✓ same"
    app.store.close()


@pytest.mark.lab
async def test_copy_pause_cancel_and_resume_copy_nothing_twice(lab: Any, tmp_path: Path) -> None:
    import threading
    import uuid

    from mailmig_tui.core.runs import Progress
    from mailmig_tui.ui.widgets.dialogs import ConfirmDialog
    from tests.accounts_helpers import COPY_PASSWORDS

    messages = add_copy_user(lab)
    target = f"pcr-{uuid.uuid4().hex[:8]}@corp.example"
    lab.lab.new.add_user(target, COPY_PASSWORDS[1])
    path = copy_project(tmp_path, lab, new_login=target)
    app = MailmigApp(ProjectStore.open(path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4", "]", "]")
        panel = app.screen.query_one(CopyPanel)
        panel.engine_options = {"batch_messages": 5}
        reached, release = threading.Event(), threading.Event()
        push = panel.view.buffer.push

        def holding_push(event: Any) -> None:  # hold the engine after its first batch: "mid-run" on purpose
            push(event)
            if isinstance(event, Progress) and not reached.is_set():
                reached.set()
                release.wait(60)

        panel.view.buffer.push = holding_push  # type: ignore[method-assign]
        await pilot.press("a")
        await wait_until(pilot, reached.is_set, "the first batch")
        await pilot.press("p")
        assert panel.view.paused and panel.controls is not None and not panel.controls.running.is_set()
        release.set()
        await wait_until(pilot, lambda: "‖ paused" in str(panel.query_one("#copy-overall", Static).render()), "paused")
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the confirmation")
        await pilot.press("y")
        await wait_until(pilot, lambda: not panel.worker_running, "the cancelled run to end")
        first = panel.view.rows[COPY_USER]
        assert first.state == "cancelled" and 0 < first.messages < messages and panel.view.resumable
        copied_first = first.messages
        await pilot.press("r")
        await wait_until(pilot, lambda: panel.view.summary is not None and not panel.worker_running, "the resumed run")
        row = panel.view.rows[COPY_USER]
        assert row.state == "done" and row.messages == messages - copied_first, (row.messages, copied_first)
        await pilot.press("]", "v")
        verify = app.screen.query_one(VerifyPanel)
        await wait_until(pilot, lambda: COPY_USER in verify.results and not verify.worker_running, "the verify")
        check = verify.results[COPY_USER]
        assert check.ok and check.target_messages == messages, check.details  # nothing lost, nothing twice
    app.store.close()


async def test_dashboard_shows_the_last_login_check_and_copy(tmp_path: Path, frozen_clock: Any) -> None:
    from mailmig_tui.core import clock
    from mailmig_tui.core.accounts.check import AccountCheck, SideResult, record_check
    from mailmig_tui.core.dashboard import build as build_board
    from mailmig_tui.core.dashboard import render_text
    from mailmig_tui.core.project_factory import demo_project
    from tests.conftest import FIXED_NOW
    from tests.samples import accounts as accounts_sample

    project = demo_project(FIXED_NOW)
    accounts_sample.prepare(project)  # a pre-stage copy done two hours ago
    ok = SideResult("ok")
    record_check(project, [AccountCheck(u.email, u.email, u.email, ok, SideResult("refused") if i == 3 else ok,
                                        SideResult("not_configured"), clock.now()) for i, u in enumerate(project.users)],
                 clock.now())
    path = tmp_path / "corp.example.mailmig.toml"
    ProjectStore.create(path, project).close()
    text = render_text(build_board(load_project(path)))
    assert "Last login check 2026-11-27 10:00: 9/10 users ok ✗" in text
    assert "Last copy (pre-stage): 10 users, 10,820 msgs" in text and "not verified" in text
    app = MailmigApp(ProjectStore.open(path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        summary = str(app.screen.query_one("#dash-summary", Static).render())
        assert "Last login check" in summary and "Last copy (pre-stage)" in summary


@pytest.mark.skipif(__import__("shutil").which("tmux") is None, reason="tmux is not installed")
def test_copy_tab_in_a_real_terminal_without_colour(demo_path: Path) -> None:
    import os
    import subprocess
    import sys
    import time

    from tests.test_terminal_colours import colour_codes, is_grey, plain

    socket = session = f"mailmig-acct-{os.getpid()}"
    command = (f"env NO_COLOR=1 TERM=xterm-256color PYTHONPATH={Path(__file__).parents[1]} MAILMIG_OPERATOR=tester "
               f"{sys.executable} -m mailmig_tui {demo_path}; sleep 5")
    tmux = ["tmux", "-L", socket]
    subprocess.run([*tmux, "new-session", "-d", "-s", session, "-x", "80", "-y", "24", command], check=True)

    def screen(escapes: bool = False) -> str:
        return subprocess.run([*tmux, "capture-pane", *(["-e"] if escapes else []), "-p", "-t", session],
                              capture_output=True, text=True).stdout

    def press_until(key: str | None, shown: str, resend: bool = False) -> str:  # wait for the state
        for attempt in range(1200):  # a generous bound (a loaded machine); ends as soon as it shows
            # the first key may come before the app reads keys: re-sent until its screen shows (it is
            # idempotent); the others are sent once
            if key is not None and (attempt == 0 or (resend and attempt % 20 == 0)):
                subprocess.run([*tmux, "send-keys", "-t", session, key], check=True)
            text = screen()
            if shown in text:
                return text
            time.sleep(0.05)
        raise AssertionError(f"{shown!r} never shown:\n{text}")

    try:
        press_until(None, "palette")
        press_until("4", "Tick", resend=True)  # the Account sync screen's checklist, ready for keys
        press_until("]", "Old IMAP")
        press_until("]", "○ idle")  # the rows, not only the header: they are drawn a moment later
        raw = screen(escapes=True)
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
    assert not {c for c in colour_codes(raw) if not is_grey(c)}
    text = plain(raw)
    assert "○ idle" in text and "Progress" in text, text
    assert len(text.splitlines()) <= 24 and all(len(line) <= 80 for line in text.splitlines())


async def test_copy_source_key_switches_between_old_provider_and_archive(demo_path: Path, frozen_clock: Any) -> None:
    app = MailmigApp(ProjectStore.open(demo_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4", "]", "]")
        panel = app.screen.query_one(CopyPanel)
        assert panel.source == "old" and "from the old provider" in str(panel.query_one("#copy-info", Static).render())
        await pilot.press("o")
        assert panel.source == "archive"
        assert "from the backup archive" in str(panel.query_one("#copy-info", Static).render())
        await pilot.press("o")
        assert panel.source == "old"
