"""How every screen looks at 80x24 (pytest-textual-snapshot). Update with --snapshot-update after a
deliberate change, and look at the report it writes before committing."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from mailmig_tui.core.store import ProjectStore
from mailmig_tui.ui.app import MailmigApp
from mailmig_tui.ui.tour import VIEWS


@pytest.mark.parametrize(("name", "keys"), VIEWS, ids=[v[0] for v in VIEWS])
def test_screen_snapshot(name: str, keys: tuple[str, ...], demo_path: Path, frozen_clock: datetime, snap_compare) -> None:  # type: ignore[no-untyped-def]
    app = MailmigApp(ProjectStore.open(demo_path))
    assert snap_compare(app, terminal_size=(80, 24), press=list(keys))
