"""The copy tests' own lab: one old provider and two new ones, all Debian's Dovecot on 127.0.0.1.

- `old`: separator `/`, no prefix (the hostile, duplicate and bulk corpora live here);
- `new`: separator `.`, no prefix, no SPECIAL-USE;
- `newp`: separator `.` with the `INBOX.` namespace prefix (Courier style) and SPECIAL-USE folders
  under other names than the source's ("Sent Messages", "Deleted Messages").

Old mailboxes are filled once per session and never written by a copy; each test copies to fresh
accounts on the new side (`fresh_login`), so tests do not see each other's targets. Every message of
every corpus has its sha256 recorded at generation time (`corpus_hashes`): the tests compare what
reached the target with those, not with what the code under test says.
"""

from __future__ import annotations

import hashlib
import itertools
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest

from mailmig_tui.lab.corpus import TZ, Message, bulk_corpus, fill_mailbox, hostile_corpus, hostile_folders

SPECIAL = {"Sent Messages": "\\Sent", "Drafts": "\\Drafts", "Deleted Messages": "\\Trash", "Junk": "\\Junk"}


def duplicates_corpus() -> dict[tuple[str, ...], list[Message]]:
    """Byte-identical messages, and messages whose Message-ID and Received headers repeat with
    different bodies (imapsync keeps one of each; every one must arrive)."""
    d = datetime(2023, 5, 4, 10, 0, tzinfo=TZ)
    same = (b"Received: from mx.old.example by old.example; Thu, 4 May 2023 10:00:00 +0800\r\n"
            b"From: a@old.example\r\nTo: b@corp.example\r\nSubject: twice\r\nMessage-ID: <same@lab.example>\r\n"
            b"Date: Thu, 4 May 2023 10:00:00 +0800\r\n\r\n")
    return {
        ("INBOX",): [Message(same + b"identical body\r\n", ("\\Seen",), d) for _ in range(3)]
        + [Message(same + b"another body\r\n", (), d), Message(same + b"a third body\r\n", ("$Work",), d)],
        ("Sent",): [Message(same + b"sent copy\r\n", ("\\Seen",), d) for _ in range(2)],
        ("已发送",): [Message(same + b"chinese sent\r\n", ("\\Seen",), d)],
    }


def big_corpus() -> dict[tuple[str, ...], list[Message]]:
    """A few small messages and one of 3 MB: enough to show memory stays flat."""
    from mailmig_tui.lab.corpus import _with_attachment

    d = datetime(2024, 2, 2, 9, 0, tzinfo=TZ)
    small = bulk_corpus(30, seed=99)
    small[("INBOX",)].append(Message(_with_attachment(300, 3 * 1024 * 1024, d), ("\\Seen",), d))
    return small


@dataclass
class CopyLab:
    root: Path
    old: object
    new: object
    newp: object
    old_users: dict[str, str] = field(default_factory=dict)
    corpora: dict[str, dict[tuple[str, ...], list[Message]]] = field(default_factory=dict)
    _counter: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    pool: dict[str, list[str]] = field(default_factory=dict)  # instance name -> unused accounts made at start

    def fresh_login(self, inst: object, base: str) -> tuple[str, str]:
        """A new, empty account on `inst` (returns login, password): one made before the servers started
        when any is left (no wait for Dovecot to re-read its passwd file), else a new one."""
        spare = self.pool.get(inst.name)  # type: ignore[attr-defined]
        if spare:
            login = spare.pop()
            return login, inst.users[login]  # type: ignore[attr-defined]
        n = next(self._counter)
        login = f"t{n}-{base}"
        pw = f"pw-new-{n}"
        inst.add_user(login, pw)  # type: ignore[attr-defined]
        return login, pw

    def corpus_hashes(self, user: str) -> Counter[str]:
        """sha256 of every message of the user's corpus as generated (with multiplicity), all folders
        the old server could hold."""
        corpus = self.corpora[user]
        legal = {tuple(f) for f in hostile_folders("/")}
        out: Counter[str] = Counter()
        for path, msgs in corpus.items():
            if path not in legal and not all(p.replace(" ", "").isalnum() for p in path):
                continue
            out.update(hashlib.sha256(m.raw).hexdigest() for m in msgs)
        return out


OLD_USERS = {
    "cp-hostile@corp.example": hostile_corpus,
    "cp-dups@corp.example": duplicates_corpus,
    "cp-bulk@corp.example": lambda: bulk_corpus(400, seed=5),
    "cp-small@corp.example": lambda: bulk_corpus(40, seed=6),
    "cp-flags@corp.example": lambda: bulk_corpus(20, seed=8),
    "cp-uidv@corp.example": lambda: bulk_corpus(30, seed=9),
    "cp-big@corp.example": big_corpus,
}


@pytest.fixture(scope="session")
def copylab() -> Iterator[CopyLab]:
    from mailmig_tui.lab.dovecot import DovecotInstance, check_traversable
    from tests.servers import require_tools

    require_tools("dovecot", "doveadm", "openssl")  # skips on a developer's machine, fails under CI=true
    root = Path(tempfile.mkdtemp(prefix="mailmig-copylab-"))
    root.chmod(0o711)
    check_traversable(root)
    old = DovecotInstance("old", root / "old", separator="/")
    new = DovecotInstance("new", root / "new", separator=".")
    newp = DovecotInstance("newp", root / "newp", separator=".", prefix="INBOX.", special_use=SPECIAL)
    lab = CopyLab(root, old, new, newp)
    for i, email in enumerate(OLD_USERS):
        old.users[email] = f"pw-old-{i}"
        lab.old_users[email] = old.users[email]
    for inst, spare in ((new, 30), (newp, 4)):
        lab.pool[inst.name] = [f"spare{i}-{inst.name}@corp.example" for i in range(spare)]
        for login in lab.pool[inst.name]:
            inst.users[login] = f"pw-{login}"
    for inst in (old, new, newp):
        inst.root.mkdir(parents=True, exist_ok=True)
        inst.root.chmod(0o711)
        inst.write_config()
    started = []
    try:
        for inst in (old, new, newp):
            inst.start()
            started.append(inst)
        for email, make in OLD_USERS.items():
            corpus = make()
            lab.corpora[email] = corpus
            fill_mailbox("127.0.0.1", old.imap_port, email, old.users[email], corpus)
        yield lab
    finally:
        for inst in started:
            inst.stop()
        shutil.rmtree(root, ignore_errors=True)
