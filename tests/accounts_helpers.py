"""Helpers shared by the accounts tests: users on both lab servers, a project pointing at both."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mailmig_tui.core.model import Endpoint, User
from mailmig_tui.core.project_factory import new_project
from mailmig_tui.core.store import ProjectStore
from tests.backup_helpers import credentials

# email -> (old password on the server, new password on the server); None: no account on that side.
ACCOUNTS: dict[str, tuple[str | None, str | None]] = {
    "acct-ok@corp.example": ("old-pw-ok", "new-pw-ok"),
    "acct-badnew@corp.example": ("old-pw-bn", "new-pw-bn"),
    "acct-nonew@corp.example": ("old-pw-nn", None),
    "acct-nopw@corp.example": ("old-pw-np", "new-pw-np"),
}
# what the credential store holds (what the admin imported): acct-badnew's new password is wrong,
# acct-nonew has no account on the new side, acct-nopw has no new password stored.
STORED: dict[str, tuple[str, str | None]] = {
    "acct-ok@corp.example": ("old-pw-ok", "new-pw-ok"),
    "acct-badnew@corp.example": ("old-pw-bn", "not-the-password"),
    "acct-nonew@corp.example": ("old-pw-nn", "whatever"),
    "acct-nopw@corp.example": ("old-pw-np", None),
}


def add_accounts(lab: Any) -> None:
    """Create the ACCOUNTS on the session lab's servers (idempotent; waits until the logins work)."""
    for index, inst in ((0, lab.lab.old), (1, lab.lab.new)):
        wanted = {email: pws[index] for email, pws in ACCOUNTS.items() if pws[index] is not None}
        if all(inst.users.get(e) == pw for e, pw in wanted.items()):
            continue
        inst.users.update(wanted)
        inst.write_users()  # once, then wait: Dovecot re-reads the file lazily
        for email, pw in wanted.items():
            inst.wait_for_login(email, pw)


def accounts_project(tmp_path: Path, lab: Any, users: list[str] | None = None, *, new_port: int | None = None) -> Path:
    """A project: old and new provider are the lab's two Dovecots (IMAPS, pinned certificates), with the
    STORED passwords in the encrypted credential file at tmp_path/creds.enc."""
    project = new_project("corp.example", "generic-imap", "generic-imap")
    old, new = lab.lab.old, lab.lab.new
    project.old.imap = Endpoint("localhost", old.imaps_port, "ssl", tls_fingerprint=old.fingerprint)
    project.new.imap = Endpoint("localhost", new_port or new.imaps_port, "ssl", tls_fingerprint=new.fingerprint)
    emails = users or list(STORED)
    project.users = [User(e) for e in emails]
    path = tmp_path / "corp.example.mailmig.toml"
    ProjectStore.create(path, project, overwrite=True).close()
    entries = []
    for email in emails:
        old_pw, new_pw = STORED[email]
        entries.append(("old", email, old_pw))
        if new_pw is not None:
            entries.append(("new", email, new_pw))
    credentials(tmp_path).set_many("corp.example", entries)
    return path


COPY_USER = "acct-copy@corp.example"
COPY_PASSWORDS = ("old-pw-copy", "new-pw-copy")


def add_copy_user(lab: Any, messages: int = 25) -> int:
    """A user with `messages` messages on the old lab server and an empty account on the new one; how many
    messages the old side holds (filled once per session)."""
    from mailmig_tui.lab.corpus import bulk_corpus, fill_mailbox

    old, new = lab.lab.old, lab.lab.new
    if COPY_USER not in lab.counts:
        old.add_user(COPY_USER, COPY_PASSWORDS[0])
        new.add_user(COPY_USER, COPY_PASSWORDS[1])
        lab.counts[COPY_USER] = fill_mailbox("127.0.0.1", old.imap_port, COPY_USER, COPY_PASSWORDS[0],
                                             bulk_corpus(messages, seed=77))
    return int(lab.counts[COPY_USER])


def copy_project(tmp_path: Path, lab: Any, new_login: str = "") -> Path:
    """A project copying COPY_USER from the old lab server to the new one: to its own account there, or
    to `new_login` (a fresh, empty account the caller made, password COPY_PASSWORDS[1])."""
    project = new_project("corp.example", "generic-imap", "generic-imap")
    old, new = lab.lab.old, lab.lab.new
    project.old.imap = Endpoint("localhost", old.imaps_port, "ssl", tls_fingerprint=old.fingerprint)
    project.new.imap = Endpoint("localhost", new.imaps_port, "ssl", tls_fingerprint=new.fingerprint)
    project.users = [User(COPY_USER, new_login=new_login)]
    path = tmp_path / "corp.example.mailmig.toml"
    ProjectStore.create(path, project, overwrite=True).close()
    credentials(tmp_path).set_many("corp.example", [("old", COPY_USER, COPY_PASSWORDS[0]),
                                                    ("new", new_login or COPY_USER, COPY_PASSWORDS[1])])
    return path
