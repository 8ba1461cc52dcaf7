"""Session fixtures: the real-server lab (Debian's Dovecot as old and new provider on 127.0.0.1).

Tests never touch the developer's real keyring: keyring is told to use its `fail` backend, which also
exercises the encrypted-file fallback every jump host uses.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

os.environ["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
os.environ.setdefault("MAILMIG_LANG", "en")


@dataclass
class LabUsers:
    """Who lives where in the session lab, with their passwords and corpora."""

    lab: object
    old_users: dict[str, str] = field(default_factory=dict)
    new_users: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


# user -> (server, corpus kind, messages)
LAB_USERS = {
    "hostile@corp.example": ("old", "hostile", 0),
    "hostile2@corp.example": ("new", "hostile-small", 0),
    "u1@corp.example": ("old", "bulk", 60),
    "u2@corp.example": ("old", "bulk", 60),
    "kill9@corp.example": ("old", "bulk", 1500),
    "restart@corp.example": ("old", "bulk", 500),
    "uidv@corp.example": ("old", "bulk", 40),
}


@pytest.fixture(scope="session")
def lab() -> Iterator[LabUsers]:
    from mailmig_tui.lab.corpus import bulk_corpus, fill_mailbox, hostile_corpus
    from mailmig_tui.lab.dovecot import Lab, dovecot_binary

    if dovecot_binary() is None:
        pytest.skip("dovecot is not installed on this machine (scripts/install-system-packages.sh installs it)")
    # Not pytest's tmp_path: that is mode 0700 and Dovecot's unprivileged processes must reach the lab.
    root = Path(tempfile.mkdtemp(prefix="mailmig-lab-"))
    root.chmod(0o711)
    the_lab = Lab.create(root / "lab")
    users = LabUsers(the_lab)
    for i, (email, (side, _kind, _n)) in enumerate(LAB_USERS.items()):
        pw = f"pw-{i}-{email.split('@')[0]}"
        (the_lab.old if side == "old" else the_lab.new).users[email] = pw
        (users.old_users if side == "old" else users.new_users)[email] = pw
    the_lab.old.write_users()
    the_lab.new.write_users()
    the_lab.save()
    the_lab.start()
    try:
        for i, (email, (side, kind, n)) in enumerate(LAB_USERS.items()):
            inst = the_lab.old if side == "old" else the_lab.new
            corpus = (hostile_corpus() if kind == "hostile" else hostile_corpus(big_attachments=False)
                      if kind == "hostile-small" else bulk_corpus(n, seed=i))
            users.counts[email] = fill_mailbox("127.0.0.1", inst.imap_port, email, inst.users[email], corpus)
        yield users
    finally:
        the_lab.stop()
        shutil.rmtree(root, ignore_errors=True)
