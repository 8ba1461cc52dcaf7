"""The TUI in Simplified Chinese at 80x24: the dashboard and a phase screen show the translated text."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.cells import cell_len
from textual.widgets import DataTable, Static

from mailmig_tui.core.i18n import set_language
from mailmig_tui.core.project_factory import create_demo
from mailmig_tui.core.store import ProjectStore
from mailmig_tui.ui.app import MailmigApp
from mailmig_tui.ui.widgets.phase_bar import PhaseBar


@pytest.fixture
def chinese() -> Iterator[None]:
    set_language("zh_CN")
    try:
        yield
    finally:
        set_language("en")


@pytest.fixture
def store(tmp_path: Path, chinese: None) -> Iterator[ProjectStore]:
    opened = ProjectStore.open(create_demo(tmp_path, language="zh_CN"))
    try:
        yield opened
    finally:
        opened.close()


def _text(widget: Static) -> str:
    return str(widget.render())


async def test_dashboard_and_checklist_in_chinese(store: ProjectStore) -> None:
    app = MailmigApp(store)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        bar = app.screen.query_one(PhaseBar)
        line = bar.render().plain
        for short in ("概览", "准备", "备份", "DNS", "账号", "测试", "上线", "收尾"):
            assert short in line
        assert cell_len(line) <= 80

        table = app.screen.query_one("#dash-phases", DataTable)
        first_column = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
        assert first_column[0] == "1 准备工作"
        assert first_column[3] == "4 账号同步"
        assert [str(c.label) for c in table.columns.values()][:2] == ["阶段", "状态"]
        assert "总进度" in _text(app.screen.query_one("#dash-summary", Static))

        await pilot.press("1")
        await pilot.pause()
        assert app.current_mode == "preparation"
        heading = _text(app.screen.query_one("#checklist-heading", Static))
        assert heading.startswith("清单："), heading
        assert "全部" in heading
        assert app.screen.sub_title == "准备工作"
        checklist = app.screen.query_one("#checklist-table", DataTable)
        assert [str(c.label) for c in checklist.columns.values()][1:] == ["截止日期", "负责人", "事项"]
