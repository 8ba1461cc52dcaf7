"""Fixed Account sync tabs of the demo project's ten users, as events with their times, for the snapshot
tests (tests/test_accounts_snapshots.py) and screenshots (scripts/screenshots.py): the same pictures
every run, without a mail server.

`show(screen, "users")` shows a finished login check (one wrong new password, one account missing on
the new side, one user without a new password, the new SMTP unreachable for one); `"copy"` a pre-stage
copy mid-run; `"verify"` a verify of the copy that found one user's folder short of two messages.
"""

from __future__ import annotations

from typing import Any

from mailmig_tui.core.accounts.check import AccountCheck, CheckStarted, CheckSummary, SideResult
from mailmig_tui.core.copy import FolderMapping, UserFolders
from mailmig_tui.core.copy.folders import R_EXCLUDED, R_INBOX, R_RENAMED, R_ROLE_FLAG, R_ROLE_NAME, R_SAME
from mailmig_tui.core.copy.verify import CopyCheck, FolderCopyCheck
from mailmig_tui.core.model import Endpoint, Project
from mailmig_tui.core.runs import Controls, FolderStarted, Progress, RunStarted, UserDone, UserPlanned, UserStarted
from tests.samples.backup import MAILBOXES, WRONG_PASSWORD

STAGES = ("users", "copy", "verify")
COPY_DIR = "/srv/mailmig/corp.example.copy"
REFUSED = "login refused for li.na@corp.example: [AUTHENTICATIONFAILED] Authentication failed."
SMTP_DOWN = "smtp.qiye.aliyun.com:465 did not answer in time"


def _email(login: str) -> str:
    return f"{login}@corp.example"


def prepare(project: Project) -> None:
    """The demo project as the pictures show it: the new provider's SMTP server set, a pre-stage copy done."""
    from datetime import timedelta

    from mailmig_tui.core import clock
    from mailmig_tui.core.copy.summary import record_copy_run
    from mailmig_tui.core.runs import RunSummary

    project.new.smtp = Endpoint("smtp.qiye.aliyun.com", 465, "ssl")
    done = [UserDone(_email(u), "done", m, b, 2.0) for u, (_f, m, b) in MAILBOXES.items()]
    summary = RunSummary(len(done), 0, 0, sum(d.messages for d in done), sum(d.bytes for d in done), 95.0, (), COPY_DIR)
    finished = clock.now() - timedelta(hours=2)
    record_copy_run(project, summary, done, finished - timedelta(seconds=95), finished, "prestage", "old")


def check_events(at: Any) -> list[Any]:
    ok = SideResult("ok")
    special = {
        "li.na": (ok, SideResult("refused", REFUSED), SideResult("refused", "SMTP login refused for li.na@corp.example: "
                                                                   "535 5.7.8 Error: authentication failed")),
        "chen.jing": (SideResult("refused", WRONG_PASSWORD), SideResult("refused", REFUSED.replace("li.na", "chen.jing")),
                      SideResult("refused", "535 5.7.8 Error: authentication failed")),
        "bob.smith": (ok, SideResult("no_password", "nothing stored for bob.smith@corp.example"),
                      SideResult("no_password", "nothing stored for bob.smith@corp.example")),
        "sun.li": (ok, ok, SideResult("unreachable", SMTP_DOWN)),
    }
    events: list[Any] = [CheckStarted(tuple(_email(u) for u in MAILBOXES), True)]
    for login in MAILBOXES:
        old, new, smtp = special.get(login, (ok, ok, ok))
        events.append(AccountCheck(_email(login), _email(login), _email(login), old, new, smtp, at))
    events.append(CheckSummary(len(MAILBOXES), len(MAILBOXES) - len(special), 3.4))
    return events


def password_states() -> Any:
    from mailmig_tui.ui.phases.accounts.users import PasswordStates

    states = {}
    for i, login in enumerate(MAILBOXES):
        same = i % 3 != 1
        states[_email(login)] = (True, login != "bob.smith", same and login != "bob.smith")
    return PasswordStates(states, "encrypted file ~/.local/share/mailmig/credentials.enc")


def _plan(login: str) -> tuple[FolderMapping, ...]:
    flag = (("role", "\\Sent"), ("how", "\\Sent folder"))
    trash = (("role", "\\Trash"), ("how", "\\Trash folder"))
    rows: list[tuple[str, str, str, tuple[tuple[str, str], ...], str, bool]] = [
        ("INBOX", "INBOX", R_INBOX, (), "copy", False),
        ("Sent Messages", "已发送", R_ROLE_NAME, flag, "copy", False),
        ("Deleted Messages", "已删除", R_ROLE_FLAG, trash, "copy", False),
        ("客户/华东", "客户/华东", R_SAME, (), "copy", False),
        ("Archive/2024", "Archive/2024", R_SAME, (), "copy", False),
        ("Projects/a*b", "Projects/a_b", R_RENAMED, (("what", "* is not allowed"),), "copy", True),
        ("Junk", "", R_EXCLUDED, (), "exclude", False),
    ]
    return tuple(FolderMapping(src.encode(), src, dst, dst.encode(), why, args, action, renamed=renamed)
                 for src, dst, why, args, action, renamed in rows)


def copy_events() -> list[tuple[float, Any]]:
    users = list(MAILBOXES)
    out: list[tuple[float, Any]] = [(0.0, RunStarted(tuple(_email(u) for u in users), COPY_DIR, 4, "prestage"))]

    def start(login: str, at: float) -> None:
        folders, messages, size = MAILBOXES[login]
        email = _email(login)
        out.append((at, UserStarted(email)))
        out.append((at + 0.3, UserFolders(email, _plan(login))))
        out.append((at + 0.4, UserPlanned(email, folders, messages, size)))

    def whole(login: str, at: float, seconds: float) -> None:
        _f, messages, size = MAILBOXES[login]
        start(login, at)
        out.append((at + seconds, Progress(_email(login), "INBOX", messages, size)))
        out.append((at + seconds, UserDone(_email(login), "done", messages, size, seconds)))

    def part(login: str, at: float, folder: str, share: float) -> None:
        _f, messages, size = MAILBOXES[login]
        start(login, at)
        out.append((at + 0.5, FolderStarted(_email(login), folder, messages, size, messages)))
        out.append((at + 1.0, Progress(_email(login), folder, int(messages * share), int(size * share))))

    whole("li.na", 0.0, 2.0)
    whole("liu.yang", 0.0, 1.4)
    out.append((0.2, UserStarted(_email("chen.jing"))))
    out.append((0.5, UserDone(_email("chen.jing"), "failed", 0, 0, 0.3, "new provider: " + REFUSED.replace("li.na", "chen.jing"))))
    whole("sun.li", 1.4, 1.1)
    part("zhang.wei", 0.0, "INBOX", 0.71)
    part("wang.fang", 2.0, "客户/华东", 0.52)
    part("alice.wong", 0.5, "已发送", 0.64)
    part("bob.smith", 2.5, "Archive/2024", 0.31)
    out.sort(key=lambda pair: pair[0])
    return out


def verify_events() -> list[Any]:
    checks = []
    for login, (folders, messages, _size) in MAILBOXES.items():
        email = _email(login)
        if login == "chen.jing":
            checks.append(CopyCheck(email, error="new provider: " + REFUSED.replace("li.na", "chen.jing")))
            continue
        check = CopyCheck(email, folders=max(folders, 1), source_messages=messages, target_messages=messages)
        if login == "wang.fang":
            check.target_messages -= 2
            check.missing = 2
            check.details = ["客户/华东: 2 missing (source UID 311 <q3@corp.example>, 1,204 bytes; …)"]
            check.folder_checks = [FolderCopyCheck(email, "客户/华东", "客户/华东", 120, 118,
                                                   missing=["source UID 311 <q3@corp.example>, 1204 bytes",
                                                            "source UID 312 <q4@corp.example>, 88120 bytes"],
                                                   n_missing=2),
                                   FolderCopyCheck(email, "INBOX", "INBOX", 900, 900)]
        checks.append(check)
    return checks


def show(screen: Any, stage: str) -> None:
    """Put the Account sync tab `stage` of `screen` (an AccountsScreen) in its fixed state."""
    from mailmig_tui.core import clock
    from mailmig_tui.ui.phases.accounts.copy import CopyPanel
    from mailmig_tui.ui.phases.accounts.users import UsersPanel
    from mailmig_tui.ui.phases.accounts.verify import VerifyPanel

    if stage == "users":
        users = screen.query_one(UsersPanel)
        users.apply_event(password_states())
        for event in check_events(clock.now()):
            users.apply_event(event)
        users.show_info()
        users.show_detail()
    elif stage == "copy":
        panel = screen.query_one(CopyPanel)
        moment = [1000.0]
        panel.view.clock = lambda: moment[0]
        for at, event in copy_events():
            moment[0] = 1000.0 + at
            panel.apply_event(event, moment[0])
        moment[0] = 1000.0 + 3.6
        panel.controls = Controls()
        panel.worker_running = True  # as if its worker ran, so the footer offers pause and cancel
        panel.refresh_bindings()
        panel.refresh_view(moment[0])
    elif stage == "verify":
        panel = screen.query_one(VerifyPanel)
        for check in verify_events():
            panel.apply_event(check)
        panel.show_info()
        panel.show_detail()
