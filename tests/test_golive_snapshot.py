"""The Go-live screen's Gate tab at 80x24 from a fixed result (tests/samples/golive.py)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from mailmig_tui.core.store import ProjectStore
from mailmig_tui.ui.app import MailmigApp
from mailmig_tui.ui.phases.golive.gate import GatePanel
from tests.samples import golive


def test_gate_tab_snapshot(demo_path: Path, frozen_clock: datetime, snap_compare: Any,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(GatePanel, "activate", lambda self: None)  # no network: the fixed result below
    app = MailmigApp(ProjectStore.open(demo_path))

    async def show(pilot: Any) -> None:
        await pilot.press("6", "]", "]", "]")
        app.screen.query_one(GatePanel).show(golive.result(frozen_clock))
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=show)
