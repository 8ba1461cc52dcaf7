"""A fixed backup of the demo project's ten users, as engine events with their times, for the Backup
tab's snapshot tests (tests/test_backup_snapshots.py) and screenshots (scripts/screenshots.py): the
same picture every run, without a mail server.

`show(panel, "running")` shows the tab mid-run (three users done, one failed, three running, one
waiting for the server, two not started); `show(panel, "verified")` shows a finished run after `v` found every user complete.
"""

from __future__ import annotations

from typing import Any

from mailmig_tui.core.backup.engine import (
    Controls,
    FolderStarted,
    Progress,
    Retrying,
    RunStarted,
    RunSummary,
    UserDone,
    UserPlanned,
    UserStarted,
)
from mailmig_tui.core.backup.verify import UserCheck
from mailmig_tui.core.i18n import _
from mailmig_tui.core.model import Project

STAGES = ("running", "verified")
DEST = "/srv/mailmig/corp.example-backup"
# A pinned self-signed certificate on the old provider, so the pictures show the warning line.
FINGERPRINT = "sha256:" + "3f9a" * 16
WRONG_PASSWORD = "login refused for chen.jing@corp.example: [AUTHENTICATIONFAILED] Authentication failed."

# user -> (folders, messages, bytes)
MAILBOXES = {
    "zhang.wei": (12, 1840, 96_400_000),
    "li.na": (8, 920, 41_300_000),
    "wang.fang": (15, 2210, 130_200_000),
    "liu.yang": (6, 640, 18_800_000),
    "chen.jing": (0, 0, 0),
    "alice.wong": (9, 1290, 77_700_000),
    "bob.smith": (7, 860, 35_100_000),
    "zhao.lei": (11, 1530, 64_000_000),
    "sun.li": (5, 410, 12_600_000),
    "zhou.jie": (10, 1120, 58_900_000),
}


def _email(login: str) -> str:
    return f"{login}@corp.example"


def events(stage: str) -> list[tuple[float, Any]]:
    """(seconds since the start, event) up to the moment `stage` shows."""
    users = list(MAILBOXES)
    out: list[tuple[float, Any]] = [(0.0, RunStarted(tuple(_email(u) for u in users), DEST, 4))]
    t = 0.0

    def whole(login: str, start: float, seconds: float) -> float:
        folders, messages, size = MAILBOXES[login]
        email = _email(login)
        out.append((start, UserStarted(email)))
        out.append((start + 0.4, UserPlanned(email, folders, messages, size)))
        out.append((start + 0.5, FolderStarted(email, "INBOX", messages, size, messages)))
        out.append((start + seconds, Progress(email, "INBOX", messages, size)))
        out.append((start + seconds, UserDone(email, "done", messages, size, seconds)))
        return start + seconds

    def part(login: str, start: float, folder: str, share: float) -> None:
        folders, messages, size = MAILBOXES[login]
        email = _email(login)
        out.append((start, UserStarted(email)))
        out.append((start + 0.4, UserPlanned(email, folders, messages, size)))
        out.append((start + 0.5, FolderStarted(email, folder, messages, size, messages)))
        out.append((start + 1.0, Progress(email, folder, int(messages * share), int(size * share))))

    if stage == "running":
        t = whole("li.na", 0.0, 3.1)
        whole("liu.yang", 0.0, 2.2)
        out.append((0.3, UserStarted(_email("chen.jing"))))
        out.append((0.6, UserDone(_email("chen.jing"), "failed", 0, 0, 0.3, WRONG_PASSWORD)))
        whole("sun.li", 0.6, 1.8)
        part("zhang.wei", 0.0, "INBOX", 0.62)
        part("wang.fang", 2.2, "客户/华东", 0.41)
        part("alice.wong", 2.4, "已发送", 0.55)
        part("bob.smith", 3.1, "Archive/2024", 0.23)
        # The old server dropped bob's connection and now refuses it: waiting, with the reason and when.
        wall = 1_764_237_600.0  # fixed, so the picture is the same every run (the note shows spans only)
        out.append((4.15, Retrying(_email("bob.smith"), "[Errno 111] Connection refused", 4, 8.0, wall + 8.0,
                                  wall - 42.0, wall - 42.0 + 600.0)))
        out.sort(key=lambda pair: pair[0])
        out.append((4.2, Progress(_email("zhang.wei"), "INBOX", 1, 50_000)))
        return out
    t = 0.0
    for i, login in enumerate(users):
        t = whole(login, (i // 4) * 3.0, 2.5 + (i % 4) * 0.3)
    out.sort(key=lambda pair: pair[0])
    total_msgs = sum(m for _f, m, _b in MAILBOXES.values())
    total_bytes = sum(b for _f, _m, b in MAILBOXES.values())
    seconds = t + 0.2
    out.append((seconds, RunSummary(len(users), 0, 0, total_msgs, total_bytes, seconds, (), DEST)))
    return out


def verify_events() -> list[Any]:
    from mailmig_tui.ui.phases.backup.panel import VerifyFinished, VerifyStarted

    emails = tuple(_email(u) for u in MAILBOXES)
    checks = [UserCheck(_email(u), folders=max(f, 1), on_server=m, archived=m) for u, (f, m, _b) in MAILBOXES.items()]
    return [VerifyStarted(emails), *checks, VerifyFinished(len(checks), len(checks))]


def prepare(project: Project) -> None:
    """The demo project as the pictures show it: the old provider's certificate pinned."""
    project.old.imap.tls_fingerprint = FINGERPRINT


def show(panel: Any, stage: str) -> None:
    """Put the Backup tab (a BackupPanel) in the state `stage` with a fake clock."""
    moment = [1000.0]
    panel.clock = lambda: moment[0]
    from mailmig_tui.ui.phases.backup.panel import CredentialsReady

    panel.apply_event(CredentialsReady(_("encrypted file {path}").format(path="~/.local/share/mailmig/credentials.enc")))
    for at, event in events(stage):
        moment[0] = 1000.0 + at
        panel.apply_event(event, moment[0])
    if stage == "running":
        # as if its worker were running, so the footer offers pause and cancel as it would
        panel.controls = Controls()
        panel.worker_running = True
        panel.refresh_bindings()
    if stage == "verified":
        moment[0] += 5.0
        for event in verify_events():
            panel.apply_event(event, moment[0])
