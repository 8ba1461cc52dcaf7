"""The checklist of one phase: tick with space, add, edit, delete, reorder, filter. Saved at once."""

from __future__ import annotations

import contextlib
from datetime import date
from functools import partial
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.events import Resize
from textual.widgets import DataTable, Static

from mailmig_tui.core import checklist, clock
from mailmig_tui.core.i18n import N_, _
from mailmig_tui.core.model import ChecklistItem
from mailmig_tui.core.phases import Phase
from mailmig_tui.ui.project_view import ProjectView
from mailmig_tui.ui.widgets.dialogs import ConfirmDialog, Field, FormDialog

if TYPE_CHECKING:
    pass

FILTER_LABELS = {"all": N_("all"), "undone": N_("undone"), "overdue": N_("overdue")}


def parse_due(text: str) -> date | None:
    text = text.strip()
    return date.fromisoformat(text) if text else None


def due_problem(text: str) -> str | None:
    try:
        parse_due(text)
    except ValueError:
        return _("use a date like 2026-12-05, or leave it empty")
    return None


def title_problem(text: str) -> str | None:
    return None if text.strip() else _("a checklist item needs a title")


def _fit(value: str, width: int) -> Text:
    text = Text(value)
    text.truncate(width, overflow="ellipsis")
    return text


class ChecklistPanel(ProjectView, Vertical):
    EDITING_ACTIONS = frozenset({"toggle_done", "add", "edit", "delete", "move"})
    BINDINGS = [
        Binding("space", "toggle_done", N_("Tick"), id="checklist.toggle"),
        Binding("a", "add", N_("Add"), id="checklist.add"),
        Binding("e", "edit", N_("Edit"), id="checklist.edit"),
        Binding("d", "delete", N_("Delete"), id="checklist.delete"),
        Binding("f", "cycle_filter", N_("Filter"), id="checklist.filter"),
        Binding("shift+up", "move(-1)", N_("Move up"), key_display="⇧↑", show=False, id="checklist.up"),
        Binding("shift+down", "move(1)", N_("Move down"), key_display="⇧↓", show=False, id="checklist.down"),
    ]
    DEFAULT_CSS = """
    ChecklistPanel { height: 1fr; }
    ChecklistPanel > #checklist-heading { height: 1; text-style: bold; }
    ChecklistPanel > DataTable { height: 1fr; }
    ChecklistPanel > #checklist-detail { height: 2; color: $text-muted; }
    """

    def __init__(self, phase: Phase, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.phase = phase
        self.filter_mode = "all"
        self._title_width = 40

    def compose(self) -> ComposeResult:
        yield Static(id="checklist-heading")
        table: DataTable[Text | str] = DataTable(cursor_type="row", zebra_stripes=False, id="checklist-table")
        yield table
        yield Static(id="checklist-detail")

    def on_mount(self) -> None:
        self.refresh_project()

    def on_resize(self, event: Resize) -> None:
        # the other columns, each column's two cells of padding, and the scrollbar
        width = max(20, event.size.width - 3 - 11 - 11 - 8 - 1)
        if width != self._title_width:
            self._title_width = width
            self.refresh_project()

    # --- showing ------------------------------------------------------------------------------

    def visible_items(self) -> list[ChecklistItem]:
        return checklist.filtered(self.project.items_for(self.phase), self.filter_mode, clock.today())

    def refresh_project(self) -> None:
        table = self.query_one(DataTable)
        current = self.current_item()
        keep_id = current.id if current else None
        table.clear(columns=True)
        table.add_column(" ", key="done", width=3)
        table.add_column(_("Due"), key="due", width=11)
        table.add_column(_("Owner"), key="owner", width=11)
        table.add_column(_("Item"), key="title", width=self._title_width)
        today = clock.today()
        for item in self.visible_items():
            due = Text(item.due.isoformat() if item.due else "")
            if item.is_overdue(today):
                due = Text("!" + item.due.isoformat(), style="bold red") if item.due else due
            title = Text(item.title + (" ✎" if item.note else ""))
            title.truncate(self._title_width, overflow="ellipsis")
            if item.done:
                title.stylize("dim")
            table.add_row(Text("[x]" if item.done else "[ ]", style="bold" if item.done else ""),
                          due, _fit(item.owner, 11), title, key=item.id)
        if keep_id:
            with contextlib.suppress(Exception):  # the item may be filtered out or deleted
                table.move_cursor(row=table.get_row_index(keep_id))
        progress = checklist.progress(self.project, self.phase)
        self.query_one("#checklist-heading", Static).update(
            _("Checklist: {done}/{total} done · showing {filter} (f)").format(
                done=progress.done, total=progress.total, filter=_(FILTER_LABELS[self.filter_mode]))
        )
        self._show_detail()

    def current_item(self) -> ChecklistItem | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
            return self.project.item(str(key))
        except Exception:
            return None

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        item = self.current_item()
        detail = self.query_one("#checklist-detail", Static)
        if item is None:
            detail.update(_("Nothing to show. Press a to add an item, f to change the filter."))
            return
        lines = []
        if item.done and item.done_at:
            lines.append(_("Ticked by {who} at {when}").format(
                who=item.done_by or "?", when=item.done_at.astimezone().strftime("%Y-%m-%d %H:%M")))
        else:
            lines.append(_("Not done yet") + (f" · {_('owner')}: {item.owner}" if item.owner else ""))
        lines.append(_("Note: {note}").format(note=item.note) if item.note else item.title)
        detail.update(Text("\n".join(lines), no_wrap=True, overflow="ellipsis"))

    # --- changing -----------------------------------------------------------------------------

    def action_toggle_done(self) -> None:
        item = self.current_item()
        if item:
            self.mailmig.mutate(lambda p: checklist.toggle(p, item.id))

    def action_cycle_filter(self) -> None:
        modes = checklist.FILTERS
        self.filter_mode = modes[(modes.index(self.filter_mode) + 1) % len(modes)]
        self.refresh_project()

    def _title_problem(self, item_id: str | None, text: str) -> str | None:
        """Empty or already used by another item: said in the form, which stays open."""
        try:
            checklist.check_title(self.project, text, item_id)
        except ValueError as exc:
            return str(exc)
        return None

    def _item_fields(self, item: ChecklistItem | None) -> list[Field]:
        return [
            Field("title", _("Item"), item.title if item else "", _("what must be done"),
                  partial(self._title_problem, item.id if item else None)),
            Field("owner", _("Owner"), item.owner if item else "", _("who does it")),
            Field("due", _("Due date"), item.due.isoformat() if item and item.due else "", "2026-12-05", due_problem),
            Field("note", _("Note"), item.note if item else "", _("anything worth remembering")),
        ]

    def action_add(self) -> None:
        if not self.mailmig.check_writable():
            return

        def done(values: dict[str, str] | None) -> None:
            if values:
                current = self.current_item()
                new = self.mailmig.mutate(lambda p: checklist.add_item(
                    p, self.phase, values["title"], owner=values["owner"].strip(),
                    due=parse_due(values["due"]), note=values["note"], after=current.id if current else None))
                if new is not None:
                    self.filter_mode = "all"
                    self.refresh_project()
                    table = self.query_one(DataTable)
                    table.move_cursor(row=table.get_row_index(new.id))

        self.app.push_screen(FormDialog(_("New checklist item: {phase}").format(phase=self.phase.label),
                                        self._item_fields(None)), done)

    def action_edit(self) -> None:
        item = self.current_item()
        if item is None or not self.mailmig.check_writable():
            return

        def done(values: dict[str, str] | None) -> None:
            if values:
                self.mailmig.mutate(lambda p: checklist.edit_item(
                    p, item.id, title=values["title"], owner=values["owner"], due=parse_due(values["due"]),
                    note=values["note"]))

        self.app.push_screen(FormDialog(_("Edit checklist item"), self._item_fields(item)), done)

    def action_delete(self) -> None:
        item = self.current_item()
        if item is None or not self.mailmig.check_writable():
            return

        def done(confirmed: bool | None) -> None:
            if confirmed:
                self.mailmig.mutate(lambda p: checklist.delete_item(p, item.id))

        self.app.push_screen(ConfirmDialog(_("Delete “{title}”?").format(title=item.title)), done)

    def action_move(self, offset: int) -> None:
        item = self.current_item()
        if item and self.mailmig.mutate(lambda p: checklist.move_item(p, item.id, offset)):
            table = self.query_one(DataTable)
            table.move_cursor(row=table.get_row_index(item.id))
