"""The plan's key dates: Enter edits the highlighted date; problems between dates are listed below."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from mailmig_tui.core import clock, plan
from mailmig_tui.core.i18n import N_, _
from mailmig_tui.core.model import PLAN_KEYS, Project
from mailmig_tui.ui.project_view import ProjectView
from mailmig_tui.ui.widgets.dialogs import Field, FormDialog

if TYPE_CHECKING:
    pass


def _datetime_problem(text: str) -> str | None:
    try:
        plan.parse_datetime(text)
    except ValueError as exc:
        return str(exc)
    return None


def _ttl_problem(text: str) -> str | None:
    return None if text.strip() == "" or text.strip().isdigit() else _("seconds, e.g. 3600")


class PlanPanel(ProjectView, Vertical):
    EDITING_ACTIONS = frozenset({"edit", "clear"})
    BINDINGS = [
        Binding("enter", "edit", N_("Edit date"), id="plan.edit"),
        Binding("delete", "clear", N_("Clear"), id="plan.clear"),
    ]
    DEFAULT_CSS = """
    PlanPanel > DataTable { height: auto; }
    PlanPanel > #plan-problems { height: auto; padding: 0 1; }
    """

    def compose(self) -> ComposeResult:
        table: DataTable[Text | str] = DataTable(cursor_type="row", id="plan-table")
        yield table
        yield Static(id="plan-problems")

    def on_mount(self) -> None:
        self.refresh_project()

    def rows(self) -> list[str]:
        return [*PLAN_KEYS, "old_mx_ttl"]

    def refresh_project(self) -> None:
        table = self.query_one(DataTable)
        row = table.cursor_row
        table.clear(columns=True)
        table.add_column(_("Milestone"), width=20)
        table.add_column(_("Date and time"), width=24)
        table.add_column(_("In"), width=14)
        now = clock.now()
        problems = plan.validate(self.project.plan)
        flagged = {p.key for p in problems}
        for key in PLAN_KEYS:
            when = self.project.plan.dates.get(key)
            mark = "✗ " if key in flagged else ""
            left = plan.countdown(when - now) if when and when > now else (_("passed") if when else "")
            table.add_row(Text(mark + plan.label(key), style="bold red" if mark else ""),
                          plan.fmt(when) if when else _("(not set)"), left, key=key)
        ttl = self.project.plan.old_mx_ttl
        table.add_row(_("Old MX TTL"), _("{s} s").format(s=ttl) if ttl else _("(not set)"), "", key="old_mx_ttl")
        table.move_cursor(row=row)
        text = Text()
        for p in problems:
            text.append(("✗ " if p.severity == "error" else "! ") + p.message + "\n",
                        style="bold red" if p.severity == "error" else "yellow")
        if not problems:
            text.append("✓ " + _("The dates are in a sensible order."))
        self.query_one("#plan-problems", Static).update(text)

    def current_key(self) -> str:
        return self.rows()[self.query_one(DataTable).cursor_row]

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_edit()

    def action_edit(self) -> None:
        key = self.current_key()
        if not self.mailmig.check_writable():
            return
        if key == "old_mx_ttl":
            field = Field("value", _("Old MX TTL in seconds (what resolvers may still cache)"),
                          str(self.project.plan.old_mx_ttl or ""), "3600", _ttl_problem)
        else:
            when = self.project.plan.dates.get(key)
            field = Field("value", plan.label(key), when.strftime("%Y-%m-%d %H:%M %z") if when else "",
                          "2026-12-05 22:00 +0800", _datetime_problem)

        def done(values: dict[str, str] | None) -> None:
            if values is None:
                return
            text = values["value"].strip()

            def change(project: Project) -> None:
                if key == "old_mx_ttl":
                    project.plan.old_mx_ttl = int(text or 0)
                else:
                    project.plan.dates[key] = plan.parse_datetime(text)

            label = _("Old MX TTL") if key == "old_mx_ttl" else plan.label(key)
            self.mailmig.mutate(change, _("set {what} to {value}").format(what=label, value=text or "—"))

        self.app.push_screen(FormDialog(_("Plan: {what}").format(what=field.label), [field]), done)

    def action_clear(self) -> None:
        key = self.current_key()

        def change(project: Project) -> None:
            if key == "old_mx_ttl":
                project.plan.old_mx_ttl = 0
            else:
                project.plan.dates[key] = None

        self.mailmig.mutate(change)
