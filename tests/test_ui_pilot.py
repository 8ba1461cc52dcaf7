"""Driving the TUI with the keyboard alone: ticking, adding, editing, filtering, plan, help, palette."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from textual.command import CommandList, CommandPalette
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static

from mailmig_tui.core.store import ProjectStore, load_project
from mailmig_tui.ui.app import MailmigApp
from mailmig_tui.ui.help import HelpScreen
from mailmig_tui.ui.widgets.checklist import ChecklistPanel
from mailmig_tui.ui.widgets.dialogs import ConfirmDialog, FormDialog
from tests.waiting import wait_for

SIZE = (80, 24)


def app_for(path: Path) -> MailmigApp:
    return MailmigApp(ProjectStore.open(path))


async def test_tick_untick_is_saved_with_who_and_when(demo_path: Path, frozen_clock: datetime) -> None:
    app = app_for(demo_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("1")
        assert app.current_mode == "preparation"
        panel = app.screen.query_one(ChecklistPanel)
        assert panel.current_item().id == "prep-vet-provider"  # type: ignore[union-attr]
        await pilot.press("space")
        item = load_project(demo_path).item("prep-vet-provider")
        assert not item.done  # the demo had it ticked: space unticks
        await pilot.press("space")
        item = load_project(demo_path).item("prep-vet-provider")
        assert item.done and item.done_by == "tester" and item.done_at == frozen_clock
        detail = str(app.screen.query_one("#checklist-detail", Static).render())
        assert "Ticked by tester at" in detail


async def test_add_edit_delete_and_reorder(demo_path: Path, frozen_clock: datetime) -> None:
    app = app_for(demo_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await pilot.press("a")
        assert isinstance(app.screen, FormDialog)
        await pilot.press(*"Check quota")
        await pilot.press("enter")  # to owner
        await pilot.press(*"bob", "enter")
        await pilot.press(*"2026-13-01", "enter")  # a bad date
        await pilot.press("enter")  # submit from the note field
        assert isinstance(app.screen, FormDialog)
        assert "use a date like" in str(app.screen.query_one("#form-error", Static).render())
        due = app.screen.query_one("#field-due", Input)
        due.value = "2026-12-01"
        await pilot.press("enter", "enter")
        assert not isinstance(app.screen, FormDialog)
        project = load_project(demo_path)
        added = [c for c in project.checklist if c.title == "Check quota"]
        assert len(added) == 1 and added[0].owner == "bob" and str(added[0].due) == "2026-12-01"
        panel = app.screen.query_one(ChecklistPanel)
        assert panel.current_item().title == "Check quota"  # type: ignore[union-attr]
        position = [c.id for c in project.items_for(added[0].phase)].index(added[0].id)

        await pilot.press("shift+up")
        moved = [c.id for c in load_project(demo_path).items_for(added[0].phase)].index(added[0].id)
        assert moved == position - 1

        await pilot.press("e")
        title = app.screen.query_one("#field-title", Input)
        title.value = "Check mailbox quotas"
        await pilot.press("enter", "enter", "enter", "enter")
        assert load_project(demo_path).item(added[0].id).title == "Check mailbox quotas"

        await pilot.press("d")
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("n")
        assert added[0].id in [c.id for c in load_project(demo_path).checklist]
        await pilot.press("d", "y")
        assert added[0].id not in [c.id for c in load_project(demo_path).checklist]


async def test_filter_cycles_undone_and_overdue(demo_path: Path, frozen_clock: datetime) -> None:
    app = app_for(demo_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("1")
        table = app.screen.query_one("#checklist-table", DataTable)
        assert table.row_count == 9
        await pilot.press("f")
        assert table.row_count == 4  # undone
        await pilot.press("f")
        assert table.row_count == 1  # overdue: the announcement, due yesterday
        assert "overdue" in str(app.screen.query_one("#checklist-heading", Static).render())
        await pilot.press("f")
        assert table.row_count == 9


async def test_plan_edit_validates_and_saves(demo_path: Path, frozen_clock: datetime) -> None:
    app = app_for(demo_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("1", "]")
        assert app.screen.query_one("#phase-tabs").active == "tab-plan"  # type: ignore[attr-defined]
        await pilot.press("down", "down", "down", "enter")  # MX cutover
        assert isinstance(app.screen, FormDialog)
        field = app.screen.query_one("#field-value", Input)
        field.value = "tomorrow evening"
        await pilot.press("enter")
        assert isinstance(app.screen, FormDialog)
        field.value = "2026-11-20 22:00 +0800"
        await pilot.press("enter")
        saved = load_project(demo_path).plan.dates["mx_cutover"]
        assert saved is not None and saved.isoformat() == "2026-11-20T22:00:00+08:00"
        problems = str(app.screen.query_one("#plan-problems", Static).render())
        assert "MX cutover (2026-11-20 22:00 +0800) is before" in problems


async def test_dashboard_opens_phases_and_cycles_status(demo_path: Path, frozen_clock: datetime) -> None:
    app = app_for(demo_path)
    async with app.run_test(size=SIZE) as pilot:
        assert app.current_mode == "dashboard"
        await pilot.press("down", "s")
        assert load_project(demo_path).phases["backup"].value == "in_progress"  # type: ignore[index]
        await pilot.press("enter")
        assert app.current_mode == "backup"
        await pilot.press("0")
        assert app.current_mode == "dashboard"
        for key, mode in zip("1234567", ["preparation", "backup", "dns", "accounts", "testing", "go_live",
                                         "aftercare"], strict=True):
            await pilot.press(key)
            assert app.current_mode == mode


async def test_help_explains_the_screen_in_front(demo_path: Path, frozen_clock: datetime) -> None:
    app = app_for(demo_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3", "f1")
        assert isinstance(app.screen, HelpScreen)
        assert "# 3. DNS" in app.screen.text
        assert "Tick" in app.screen.keys and "Space" in app.screen.text
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


def palette_hits(app: MailmigApp) -> list[str]:
    """The commands the open palette lists, once its search has finished."""
    palette = app.screen
    if not isinstance(palette, CommandPalette) or any(w.node is palette and w.is_running for w in app.workers):
        return []
    hits = palette.query_one(CommandList)
    return [str(hits.get_option_at_index(i).prompt) for i in range(hits.option_count)]


async def open_palette_and_pick(pilot: Pilot[MailmigApp], search: str, expected: str) -> None:
    """Ctrl+P, type `search`, wait until the palette lists exactly one command, `expected`, run it."""
    app = pilot.app
    await pilot.press("ctrl+p")
    await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette), "the command palette")
    await pilot.press(*search)
    await wait_for(pilot, lambda: len(palette_hits(app)) == 1, f"one palette hit for {search!r}")
    assert expected in palette_hits(app)[0]
    await pilot.press("enter")
    await wait_for(pilot, lambda: not isinstance(app.screen, CommandPalette), "the palette to close")


async def test_command_palette_goes_to_a_phase(demo_path: Path, frozen_clock: datetime) -> None:
    app = app_for(demo_path)
    async with app.run_test(size=SIZE) as pilot:
        await open_palette_and_pick(pilot, "Go to: 6", "Go to: 6")
        await wait_for(pilot, lambda: app.current_mode == "go_live", "the Go-live screen")


async def test_read_only_when_another_instance_holds_the_lock(demo_path: Path, frozen_clock: datetime) -> None:
    holder = ProjectStore.open(demo_path)
    try:
        before = demo_path.read_text()
        app = app_for(demo_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("1", "space", "a")
            assert not isinstance(app.screen, FormDialog)
            assert "Read-only" in str(app.screen.query_one("#readonly-banner", Static).render())
        assert demo_path.read_text() == before
    finally:
        holder.close()


async def test_export_notices_from_palette(demo_path: Path, frozen_clock: datetime,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    app = app_for(demo_path)
    folder = demo_path.parent / "notices"
    told: list[str] = []
    notify = app.notify
    monkeypatch.setattr(app, "notify", lambda message, **kw: (told.append(str(message)), notify(message, **kw))[1])
    async with app.run_test(size=SIZE) as pilot:
        await open_palette_and_pick(pilot, "Export staff notices", "Export staff notices (.eml)")
        await wait_for(pilot, lambda: len(list(folder.glob("*.eml"))) == 3, "three notices in notices/")
        await wait_for(pilot, lambda: any("Exported 3 notices" in m for m in told), "the notification saying so")
    for eml in folder.glob("*.eml"):
        assert "Subject:" in eml.read_text(encoding="utf-8")


async def test_switching_language_saves_it_and_restarts_in_place(demo_path: Path, frozen_clock: datetime) -> None:
    app = app_for(demo_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        app.action_set_language("zh_CN")
        await pilot.pause()
    assert app.return_value == ("restart", "zh_CN", "accounts")
    assert load_project(demo_path).language == "zh_CN"


async def test_import_users_csv_from_the_tui(demo_path: Path, frozen_clock: datetime, tmp_path: Path,
                                             monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from mailmig_tui.core import credentials
    from mailmig_tui.ui.widgets.dialogs import InfoDialog

    monkeypatch.setenv("MAILMIG_CREDENTIALS_FILE", str(tmp_path / "creds.enc"))
    monkeypatch.setenv("MAILMIG_PASSPHRASE", "correct horse")
    monkeypatch.setattr(credentials, "_session", {})
    csv_path = tmp_path / "users.csv"
    csv_path.write_text("email,old_password,display_name\nnew.one@corp.example,S3cret-1,New One\n"
                        "broken-row,,\nli.na@corp.example,S3cret-2,李娜\n", encoding="utf-8")
    app = app_for(demo_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4", "]", "i")
        assert isinstance(app.screen, FormDialog)
        app.screen.query_one("#field-path", Input).value = str(csv_path)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, InfoDialog), "the bad row, by line number")
        await pilot.press("enter")
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("y")
        await wait_for(pilot, lambda: any(u.email == "new.one@corp.example" for u in load_project(demo_path).users),
                       "the imported users to be saved")
    project = load_project(demo_path)
    assert project.user("new.one@corp.example").display_name == "New One"
    text = demo_path.read_text(encoding="utf-8")
    assert "S3cret" not in text
    assert b"S3cret" not in (tmp_path / "creds.enc").read_bytes()
    monkeypatch.setattr(credentials, "_session", {})
    creds = credentials.open_credentials(credentials.env_passphrase_prompt)
    assert creds.get("corp.example", "old", "new.one@corp.example") == "S3cret-1"
