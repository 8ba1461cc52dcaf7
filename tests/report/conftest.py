"""The report tests' own small lab: an old and a new Dovecot on 127.0.0.1, two users, a few messages, one
folder with a hostile name. A module builds a project on it with real runs (backup, verify, copy, verify
--copy through the `mailmig` commands), so the report's numbers come from what the engines recorded."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient

from mailmig_tui.lab.corpus import TZ, Message, _message, bulk_corpus, fill_mailbox

HOSTILE = "<script>alert(1)</script> & Co"
USERS = {"ann@corp.example": "pw-ann", "bob@corp.example": "pw-bob"}


@dataclass
class ReportLab:
    root: Path
    old: Any
    new: Any
    sizes: dict[str, int]  # user -> bytes on the old server (RFC822.SIZE), before the straggler
    counts: dict[str, int]


def append(inst: Any, login: str, folder: str, messages: list[Message]) -> None:
    with IMAPClient("127.0.0.1", inst.imap_port, ssl=False, timeout=30) as client:
        client.login(login, inst.users[login])
        if not client.folder_exists(folder):
            client.create_folder(folder)
        for m in messages:
            client.append(folder, m.raw, m.flags, m.date)


def hostile_messages(n: int, start: int = 0) -> list[Message]:
    d = datetime(2025, 3, 1, 9, 0, tzinfo=TZ)
    return [Message(_message(900 + start + i, f"hostile {i}", "body\n", date=d), date=d) for i in range(n)]


@pytest.fixture(scope="session")
def reportlab() -> Iterator[ReportLab]:
    from mailmig_tui.lab.dovecot import DovecotInstance, check_traversable
    from tests.servers import require_tools

    require_tools("dovecot", "doveadm", "openssl")  # skips on a developer's machine, fails under CI=true
    root = Path(tempfile.mkdtemp(prefix="mailmig-reportlab-"))
    root.chmod(0o711)
    check_traversable(root)
    old = DovecotInstance("old", root / "old", separator="/")
    new = DovecotInstance("new", root / "new", separator=".")
    for email, pw in USERS.items():
        old.users[email] = pw
        new.users[email] = pw + "-new"
    started = []
    try:
        for inst in (old, new):
            inst.root.mkdir(parents=True, exist_ok=True)
            inst.root.chmod(0o711)
            inst.write_config()
            inst.start()
            started.append(inst)
        corpora = {"ann@corp.example": bulk_corpus(8, seed=41), "bob@corp.example": bulk_corpus(4, seed=42)}
        counts = {}
        sizes = {}
        for email, corpus in corpora.items():
            counts[email] = fill_mailbox("127.0.0.1", old.imap_port, email, old.users[email], corpus)
            sizes[email] = sum(len(m.raw) for msgs in corpus.values() for m in msgs)
        hostile = hostile_messages(2)
        append(old, "bob@corp.example", HOSTILE, hostile)
        counts["bob@corp.example"] += len(hostile)
        sizes["bob@corp.example"] += sum(len(m.raw) for m in hostile)
        yield ReportLab(root, old, new, sizes, counts)
    finally:
        for inst in started:
            inst.stop()
        shutil.rmtree(root, ignore_errors=True)
