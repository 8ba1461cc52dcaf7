"""The mail lab (Dovecot, Postfix, OpenDKIM, NSD, Unbound on loopback) and a project for corp.test using it.

Started once per session by `maillab`; tests that change the zone (MX at the old provider, a bad DKIM
key…) put it back with `good_zone`. Under CI=true a missing server binary fails the run.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailmig_tui.core.credentials import Credentials
from mailmig_tui.core.model import Project, User
from mailmig_tui.core.store import ProjectStore
from mailmig_tui.lab.corpus import bulk_corpus, fill_mailbox
from mailmig_tui.lab.dns import lab_project
from mailmig_tui.lab.mail import MailLab, missing_binaries

# email -> (old password, new password, role)
USERS = {
    "ann@corp.test": ("old-ann", "new-ann", "pilot"),
    "bob@corp.test": ("old-bob", "new-bob", "pilot"),
    "cat@corp.test": ("old-cat", "new-cat", "user"),
    "dan@corp.test": ("old-dan", "new-dan", "user"),
}


@pytest.fixture(scope="session")
def maillab() -> Iterator[MailLab]:
    missing = missing_binaries()
    if missing:
        message = f"the mail lab needs {', '.join(missing)} (scripts/install-system-packages.sh)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    root = Path(tempfile.mkdtemp(prefix="mailmig-maillab-"))
    root.chmod(0o711)
    lab = MailLab.create(root / "lab")
    for email, (old_pw, new_pw, _role) in USERS.items():
        lab.add_user(email, old_pw, new_pw)
    lab.start()
    try:
        for i, email in enumerate(USERS):
            corpus = bulk_corpus(12, seed=i + 1)
            # The "copy" already ran: the same mail on both sides.
            fill_mailbox("127.0.0.1", lab.old.imap_port, email, lab.old.users[email], corpus)
            fill_mailbox("127.0.0.1", lab.new.imap_port, email, lab.new.users[email], corpus)
        yield lab
    finally:
        lab.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def good_zone(maillab: MailLab) -> Iterator[MailLab]:
    """The lab with the zone of a finished cutover (MX, autoconfig and SPF at the new provider, the
    signer's own DKIM key), restored after the test."""
    maillab.apply_zone()
    yield maillab
    if maillab.state:
        maillab.apply_zone()


class MemoryBackend:
    """Credentials in a dict (the tests' own; the product uses keyring or the encrypted file)."""

    def __init__(self) -> None:
        self.data: dict[tuple[str, str], str] = {}
        self.description = "memory (tests)"

    def get(self, service: str, login: str) -> str | None:
        return self.data.get((service, login))

    def set(self, service: str, login: str, secret: str) -> None:
        self.data[(service, login)] = secret

    def delete(self, service: str, login: str) -> None:
        self.data.pop((service, login), None)


def lab_credentials(project: Project, lab: MailLab) -> Credentials:
    creds = Credentials(MemoryBackend())  # type: ignore[arg-type]
    for user in project.users:
        creds.set(project.domain, "old", user.email, lab.old.users[user.email])
        creds.set(project.domain, "new", user.email, lab.new.users[user.email])
    return creds


def matrix_project(lab: MailLab) -> Project:
    project = lab_project()
    lab.point_project(project)
    project.users = [User(email, role=role) for email, (_o, _n, role) in USERS.items()]
    return project


@pytest.fixture
def project_path(good_zone: MailLab, tmp_path: Path) -> Path:
    path = tmp_path / "corp.test.mailmig.toml"
    ProjectStore.create(path, matrix_project(good_zone)).close()
    return path
