"""The Matrix tab at 80x24, mid-run and with failures (pytest-textual-snapshot), from the fixed results in
mailmig_tui/ui/phases/testing/sample.py on the demo project; scripts/screenshots.py draws the same views."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from mailmig_tui.core.project_factory import demo_project
from mailmig_tui.core.store import ProjectStore
from mailmig_tui.ui.app import MailmigApp
from mailmig_tui.ui.phases.testing import sample
from mailmig_tui.ui.phases.testing.matrix import MatrixPanel
from tests.conftest import FIXED_NOW


@pytest.mark.parametrize("stage", sample.STAGES)
def test_matrix_tab_snapshot(stage: str, tmp_path: Path, frozen_clock: datetime, snap_compare: Any) -> None:
    path = tmp_path / "corp.example.mailmig.toml"
    project = demo_project(FIXED_NOW)
    if stage == "failures":
        sample.prepare(project)
    ProjectStore.create(path, project).close()
    app = MailmigApp(ProjectStore.open(path))

    async def show(pilot: Any) -> None:
        await pilot.press("5", "]")
        sample.show(app.screen.query_one(MatrixPanel), stage)
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=show)
