"""The After-care Health tab at 80x24 from fixed results (tests/monitor_samples.py): every status once."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from mailmig_tui.core.store import ProjectStore
from mailmig_tui.ui.app import MailmigApp
from mailmig_tui.ui.phases.aftercare.health import HealthPanel
from tests import monitor_samples


def test_health_tab_snapshot(demo_path: Path, frozen_clock: datetime, snap_compare: Any,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(HealthPanel, "activate", lambda self: None)  # no network: fixed results below
    app = MailmigApp(ProjectStore.open(demo_path))

    async def show(pilot: Any) -> None:
        await pilot.press("7", "]", "]")
        panel = app.screen.query_one(HealthPanel)
        panel.show(monitor_samples.results(frozen_clock), monitor_samples.when(frozen_clock), monitor_samples.latency())
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=show)
