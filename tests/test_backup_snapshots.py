"""The Backup tab at 80x24, mid-run and after verify (pytest-textual-snapshot).

Deterministic without a mail server: the tab is fed the fixed sequence of engine events in
tests/samples/backup.py with a fake clock, on the demo project written under the frozen clock.
scripts/screenshots.py draws the same two views into screenshots/. Update with --snapshot-update after a
deliberate change, and look at the report before committing.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from mailmig_tui.core.project_factory import demo_project
from mailmig_tui.core.store import ProjectStore
from mailmig_tui.ui.app import MailmigApp
from mailmig_tui.ui.phases.backup.panel import BackupPanel
from tests.conftest import FIXED_NOW
from tests.samples import backup as backup_sample


@pytest.mark.parametrize("stage", backup_sample.STAGES)
def test_backup_tab_snapshot(stage: str, tmp_path: Path, frozen_clock: datetime, snap_compare: Any) -> None:
    path = tmp_path / "corp.example.mailmig.toml"
    project = demo_project(FIXED_NOW)
    backup_sample.prepare(project)
    ProjectStore.create(path, project).close()
    app = MailmigApp(ProjectStore.open(path))

    async def show(pilot: Any) -> None:
        await pilot.press("2", "]")
        backup_sample.show(app.screen.query_one(BackupPanel), stage)
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=show)
