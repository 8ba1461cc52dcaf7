"""The rough edges of issue 12 in the TUI: the Providers editor, refused templates and titles, read-only
footers, and reloading after an outside edit."""

from __future__ import annotations

import io
import tomllib
from datetime import datetime
from pathlib import Path

from rich.console import Console
from textual.widgets import Input, Static, TextArea

from mailmig_tui.core.store import ProjectStore, load_project
from mailmig_tui.ui.app import MailmigApp
from mailmig_tui.ui.widgets.checklist import ChecklistPanel
from mailmig_tui.ui.widgets.dialogs import ConfirmDialog, FormDialog, TextDialog
from mailmig_tui.ui.widgets.provider_panel import ProviderPanel

SIZE = (80, 24)


def app_for(path: Path) -> MailmigApp:
    return MailmigApp(ProjectStore.open(path))


def shown(static: Static) -> str:
    console = Console(width=80, record=True, file=io.StringIO())
    console.print(static.content)
    return console.export_text()


def footer_keys(app: MailmigApp) -> set[str]:
    """The actions the footer offers for the screen in front (what check_action lets through)."""
    return {b.action for (_node, b, enabled, _tip) in app.screen.active_bindings.values() if enabled and b.show}


async def test_providers_tab_edits_the_servers(demo_path: Path, frozen_clock: datetime) -> None:
    app = app_for(demo_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("1", "]", "]", "]")
        assert app.screen.query_one(ProviderPanel).has_focus
        await pilot.press("o")
        assert isinstance(app.screen, FormDialog)
        app.screen.query_one("#field-imap_host", Input).value = "imap.old.example"
        app.screen.query_one("#field-imap_port", Input).value = "99999"  # refused in the form, which stays open
        app.screen.query_one("#field-imap_port", Input).focus()
        form = app.screen
        assert isinstance(form, FormDialog)
        form._submit()
        await pilot.pause()
        assert "1-65535" in str(form.query_one("#form-error", Static).render())
        form.query_one("#field-imap_port", Input).value = "143"
        form.query_one("#field-imap_tls", Input).value = "starttls"
        form.query_one("#field-auth", Input).value = "master"
        form.query_one("#field-master_user", Input).value = "admin"
        form._submit()
        await pilot.pause()
        assert not isinstance(app.screen, FormDialog)
        assert "imap.old.example:143 (starttls)" in shown(app.screen.query_one("#provider-table", Static))
    old = tomllib.loads(demo_path.read_text())["old_provider"]
    assert old["imap"]["host"] == "imap.old.example" and old["imap"]["port"] == 143
    assert old["auth"] == {"method": "master", "master_user": "admin"}


async def test_a_template_without_subject_or_with_unknown_placeholders_is_refused(demo_path: Path,
                                                                                  frozen_clock: datetime) -> None:
    before = load_project(demo_path).notices
    app = app_for(demo_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("1", "]", "]")
        await pilot.press("e")
        dialog = app.screen
        assert isinstance(dialog, TextDialog)
        dialog.query_one(TextArea).text = "Hello $domain, we switch on $mx_cutovr."
        await pilot.press("ctrl+s")
        assert app.screen is dialog  # still open, with the reason
        error = str(dialog.query_one("#text-error", Static).render())
        assert "Subject" in error and "$mx_cutovr" in error
        dialog.query_one(TextArea).text = "Subject: Moving\n\nHello $domain, on $mx_cutover. Costs $$0."
        await pilot.press("ctrl+s")
        assert not isinstance(app.screen, TextDialog)
    saved = load_project(demo_path).notices
    assert saved != before and "$mx_cutover" in next(iter(saved.values()))


async def test_a_duplicate_checklist_title_is_refused(demo_path: Path, frozen_clock: datetime) -> None:
    app = app_for(demo_path)
    taken = load_project(demo_path).item("prep-ttl").title
    count = len(load_project(demo_path).checklist)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2", "a")
        form = app.screen
        assert isinstance(form, FormDialog)
        form.query_one("#field-title", Input).value = "  " + taken.upper() + " "
        form._submit()
        await pilot.pause()
        assert app.screen is form and "already a checklist item" in str(form.query_one("#form-error", Static).render())
    assert len(load_project(demo_path).checklist) == count


async def test_read_only_footer_offers_no_editing_keys(demo_path: Path, frozen_clock: datetime) -> None:
    app = app_for(demo_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("1")
        writable = footer_keys(app)
        assert {"toggle_done", "add", "edit", "delete"} <= writable
    app.store.close()
    holder = ProjectStore.open(demo_path)
    try:
        app = app_for(demo_path)
        assert app.store.readonly
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("1")
            keys = footer_keys(app)
            assert not keys & {"toggle_done", "add", "edit", "delete", "move"}, keys
            assert "cycle_filter" in keys  # reading is still offered
            await pilot.press("]", "]")
            assert not footer_keys(app) & {"edit_template", "reset_template"}
            await pilot.press("]")
            assert not footer_keys(app) & {"edit_provider"}
            await pilot.press("0")
            assert "cycle_status" not in footer_keys(app)
    finally:
        holder.close()


async def test_an_outside_edit_offers_a_reload(demo_path: Path, frozen_clock: datetime) -> None:
    app = app_for(demo_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("1")
        edited = demo_path.read_text().replace('title = "Lower the MX TTL', 'title = "EDITED BY HAND: Lower the MX TTL', 1)
        assert edited != demo_path.read_text()
        demo_path.write_text(edited)
        await pilot.press("space")  # a change that cannot be saved over the hand edit
        assert isinstance(app.screen, ConfirmDialog)
        assert "changed outside mailmig" in app.screen.message
        assert demo_path.read_text() == edited
        await pilot.press("y")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmDialog)
        titles = [c.title for c in app.store.project.checklist]
        assert any(t.startswith("EDITED BY HAND") for t in titles)
        # nothing stale: the panel shows the file's text, and the next change saves on top of the hand edit
        panel = app.screen.query_one(ChecklistPanel)
        panel.refresh_project()
        await pilot.press("space")
        await pilot.pause()
        assert "EDITED BY HAND" in demo_path.read_text()
        assert not isinstance(app.screen, ConfirmDialog)
        # Ctrl+R re-reads at any time
        demo_path.write_text(demo_path.read_text().replace("EDITED BY HAND", "EDITED AGAIN"))
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert any(c.title.startswith("EDITED AGAIN") for c in app.store.project.checklist)


async def test_hand_edited_duplicates_and_broken_templates_are_warned_about(demo_path: Path,
                                                                           frozen_clock: datetime) -> None:
    text = demo_path.read_text()
    title = load_project(demo_path).item("prep-ttl").title
    text = text.replace('title = "Announce', f'title = "{title}"\nold_title = "Announce', 1)
    text += '\n[notices]\ngo_live = "We are live on $new_provder"\n'
    demo_path.write_text(text)
    app = app_for(demo_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        messages = " ".join(str(n.message) for n in app._notifications)
        assert "used more than once" in messages and title in messages
        assert "$new_provder" in messages and "Subject" in messages
