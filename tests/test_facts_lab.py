"""The Backup phase's facts from a real (tiny) backup and verify against the session's Dovecot lab: the records the
commands write and the archive's index.sqlite they describe."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mailmig_tui.core.facts import FactStatus, derive_one
from mailmig_tui.core.model import User
from mailmig_tui.core.phases import Phase
from mailmig_tui.core.store import ProjectStore, load_project
from tests.backup_helpers import make_project, run_cli

pytestmark = pytest.mark.lab

NAMES = ("u1@corp.example", "u2@corp.example")  # two small mailboxes of the session's lab (tests/conftest.py)


@pytest.fixture
def old_provider(lab: Any) -> Any:
    return lab.lab.old


@pytest.fixture
def users(lab: Any) -> dict[str, str]:
    return {email: lab.old_users[email] for email in NAMES}


def test_backup_facts_follow_a_real_backup_and_verify(old_provider: Any, users: dict[str, str], tmp_path: Path) -> None:
    path = make_project(tmp_path, old_provider, users)
    dest = tmp_path / "archive"
    assert derive_one(load_project(path), Phase.BACKUP, path).status == FactStatus.NOT_STARTED

    code, _events, out = run_cli(tmp_path, "backup", str(path), "--dest", str(dest), "--json")
    assert code == 0, out
    fact = derive_one(load_project(path), Phase.BACKUP, path)
    assert fact.status == FactStatus.IN_PROGRESS and "not verified since" in fact.evidence

    code, _events, out = run_cli(tmp_path, "verify", str(path), "--dest", str(dest), "--json")
    assert code == 0, out
    fact = derive_one(load_project(path), Phase.BACKUP, path)
    assert fact.status == FactStatus.DONE, fact
    assert "2 users verified" in fact.evidence and "after the backup of" in fact.evidence

    # A user added since: the verified backup does not cover everyone any more.
    with ProjectStore.open(path) as store:
        store.update(lambda p: p.users.append(User("late@corp.example")))
    fact = derive_one(load_project(path), Phase.BACKUP, path)
    assert fact.status == FactStatus.IN_PROGRESS and "covered 2 of 3 users" in fact.evidence
    with ProjectStore.open(path) as store:
        store.update(lambda p: p.users.pop())

    # The archive's index gone (a wiped disk, a moved folder): the records are no evidence any more.
    (dest / "index.sqlite").rename(dest / "index.sqlite.moved")
    fact = derive_one(load_project(path), Phase.BACKUP, path)
    assert fact.status == FactStatus.UNKNOWN and "index.sqlite is missing or unreadable" in fact.evidence


def test_backup_facts_when_a_user_fails(old_provider: Any, users: dict[str, str], tmp_path: Path) -> None:
    path = make_project(tmp_path, old_provider, {**users, NAMES[1]: "wrong"})
    code, _events, out = run_cli(tmp_path, "backup", str(path), "--dest", str(tmp_path / "archive"), "--json")
    assert code == 1, out
    fact = derive_one(load_project(path), Phase.BACKUP, path)
    assert fact.status == FactStatus.FAILED and "1 of 2 users failed" in fact.evidence
