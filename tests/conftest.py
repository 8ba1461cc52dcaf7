"""Shared fixtures: a frozen clock and the demo project, and the session's real-server IMAP lab
(Debian's Dovecot as old and new provider on 127.0.0.1). The DNS lab's fixtures are in tests/dns/.

Tests never touch the developer's real keyring: keyring is told to use its `fail` backend, which also
exercises the encrypted-file fallback every jump host uses.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from mailmig_tui.core.i18n import set_language
from mailmig_tui.core.project_factory import demo_project
from mailmig_tui.core.store import ProjectStore
from tests.servers import in_ci, missing_server, require_tools

# A fixed "now" keeps snapshot tests and countdowns stable.
FIXED_NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Under CI=true no test may skip: a skip there means a server or tool is missing, and a green run
    without the real-server tests would be a lie. (xfail is not a skip and is left alone.)"""
    report = yield
    if in_ci() and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, which must run every test: {reason}"
    return report


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    set_language("en")
    yield
    set_language("en")


@pytest.fixture(autouse=True)
def loopback_dns_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test may ask a DNS server outside 127.0.0.0/8 (the default public resolvers least of all)."""
    import dns.asyncquery

    asked: list[str] = []

    def guard(name: str) -> None:
        real = getattr(dns.asyncquery, name)

        async def checked(query: object, where: str, *args: object, **kwargs: object) -> object:
            host = urlsplit(where).hostname or "" if name == "https" else where
            try:
                loopback = ipaddress.ip_address(host).is_loopback
            except ValueError:
                loopback = host == "localhost"
            if not loopback:
                asked.append(where)
                raise AssertionError(f"a test asked the DNS server {where}, outside 127.0.0.0/8")
            return await real(query, where, *args, **kwargs)

        monkeypatch.setattr(dns.asyncquery, name, checked)

    for name in ("udp", "tcp", "https"):
        guard(name)
    yield
    assert not asked, f"DNS queries left loopback: {asked}"


@pytest.fixture
def demo_path(tmp_path: Path, frozen_clock: datetime) -> Path:
    """The demo project, written under the frozen clock so its event log is the same every run."""
    path = tmp_path / "corp.example.mailmig.toml"
    ProjectStore.create(path, demo_project(FIXED_NOW)).close()
    return path


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> datetime:
    monkeypatch.setenv("MAILMIG_FAKE_NOW", FIXED_NOW.isoformat())
    monkeypatch.setenv("MAILMIG_OPERATOR", "tester")
    monkeypatch.setenv("TZ", "UTC")
    return FIXED_NOW


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
        missing_server("dovecot")
    require_tools("doveadm", "openssl")
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
