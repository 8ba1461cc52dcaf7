"""The Account sync tabs at 80x24 (pytest-textual-snapshot): Users after a login check, Copy mid-run
(pre-stage), Verify with one difference. Deterministic without a mail server: the tabs are fed the fixed
events of mailmig_tui/ui/accounts_sample.py on the demo project written under the frozen clock.
scripts/screenshots.py draws the same views into screenshots/. Update with --snapshot-update after a
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
from mailmig_tui.ui.tour import SAMPLE_VIEWS
from tests.conftest import FIXED_NOW
from tests.samples import accounts as accounts_sample

TAB_KEYS = {stage: keys for _name, keys, stage in SAMPLE_VIEWS}


@pytest.fixture(autouse=True)
def locked_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # the pictures must not depend on a store: a locked encrypted file nobody unlocks
    monkeypatch.setenv("MAILMIG_CREDENTIALS_FILE", str(tmp_path / "creds.enc"))
    monkeypatch.delenv("MAILMIG_PASSPHRASE", raising=False)


@pytest.mark.parametrize("stage", accounts_sample.STAGES)
def test_accounts_tab_snapshot(stage: str, tmp_path: Path, frozen_clock: datetime, snap_compare: Any) -> None:
    path = tmp_path / "corp.example.mailmig.toml"
    project = demo_project(FIXED_NOW)
    accounts_sample.prepare(project)
    ProjectStore.create(path, project).close()
    app = MailmigApp(ProjectStore.open(path))

    async def show(pilot: Any) -> None:
        await pilot.press(*TAB_KEYS[stage])
        accounts_sample.show(app.screen, stage)
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=show)
