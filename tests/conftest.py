"""Shared fixtures. Real-server labs (Dovecot, NSD, Unbound) have their own fixtures beside their tests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

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


@pytest.fixture
def demo_path(tmp_path: Path) -> Path:
    path = tmp_path / "corp.example.mailmig.toml"
    ProjectStore.create(path, demo_project(FIXED_NOW)).close()
    return path


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> datetime:
    monkeypatch.setenv("MAILMIG_FAKE_NOW", FIXED_NOW.isoformat())
    monkeypatch.setenv("MAILMIG_OPERATOR", "tester")
    monkeypatch.setenv("TZ", "UTC")
    return FIXED_NOW
