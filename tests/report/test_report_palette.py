"""The command palette's "Export migration report": both formats beside the project, the paths notified."""

from __future__ import annotations

from pathlib import Path

from mailmig_tui.core.store import ProjectStore
from mailmig_tui.ui.app import MailmigApp
from tests.waiting import wait_for


async def test_palette_exports_the_report_beside_the_project(demo_path: Path) -> None:
    app = MailmigApp(ProjectStore.open(demo_path))
    notes: list[tuple[str, str]] = []
    notify = app.notify

    def spy(message: str, **kw: object) -> None:
        notes.append((str(kw.get("title", "")), message))
        notify(message, **kw)  # type: ignore[arg-type]

    app.notify = spy  # type: ignore[method-assign]
    html = demo_path.parent / "corp.example.report.html"
    md = demo_path.parent / "corp.example.report.md"
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+p")
        await pilot.press(*"Export migration")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: any(t == "Migration report written" for t, _m in notes), "the report written")
    app.store.close()
    assert html.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert md.read_text(encoding="utf-8").startswith("# Migration report: corp.example")
    message = next(m for t, m in notes if t == "Migration report written")
    assert str(html) in message and str(md) in message


async def test_an_unwritable_folder_is_said_not_raised(demo_path: Path) -> None:
    app = MailmigApp(ProjectStore.open(demo_path))
    notes: list[tuple[str, str]] = []
    app.notify = lambda message, **kw: notes.append((str(kw.get("title", "")), str(message)))  # type: ignore[method-assign,assignment,misc]
    (demo_path.parent / "corp.example.report.html").mkdir()  # a folder where the file should go
    async with app.run_test(size=(80, 24)) as pilot:
        app.action_export_report()
        await wait_for(pilot, lambda: any(t == "Not exported" for t, _m in notes), "the error notified")
    app.store.close()
    assert not (demo_path.parent / "corp.example.report.md").exists()
