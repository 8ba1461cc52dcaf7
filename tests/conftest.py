"""Shared fixtures. Real-server labs (Dovecot, NSD, Unbound) have their own fixtures beside their tests."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from mailmig_tui.core.i18n import set_language
from mailmig_tui.core.project_factory import demo_project
from mailmig_tui.core.store import ProjectStore

# A fixed "now" keeps snapshot tests and countdowns stable.
FIXED_NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


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
