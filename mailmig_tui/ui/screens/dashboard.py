"""The dashboard: every phase's status and progress, what is next, and the countdown to the next date."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from mailmig_tui.core import clock, dashboard, plan
from mailmig_tui.core.i18n import N_, _
from mailmig_tui.core.model import PLAN_KEYS, Project
from mailmig_tui.core.phases import Phase, PhaseStatus
from mailmig_tui.ui.screens.base import MailmigScreen

STATUS_STYLE = {
    PhaseStatus.NOT_STARTED: "",
    PhaseStatus.IN_PROGRESS: "bold",
    PhaseStatus.BLOCKED: "bold red",
    PhaseStatus.DONE: "green",
}


class DashboardScreen(MailmigScreen):
    EDITING_ACTIONS = frozenset({"cycle_status"})
    MODE = "dashboard"
    HELP = N_(
        "# Overview\n\n"
        "The seven phases of the migration, each with its status, checklist progress and the next "
        "items still to do. The line at the top counts down to the next date in the plan.\n\n"
        "- **Enter** or a number key **1–7** opens a phase; **0** comes back here.\n"
        "- **s** cycles the highlighted phase's status (not started, in progress, blocked, done).\n"
        "- **Ctrl+P** opens the command palette: go to a phase, add an item, export notices, switch language.\n"
        "- Every change is saved to the project file at once.\n"
    )
    BINDINGS = [
        Binding("enter", "open_phase", N_("Open"), id="dashboard.open", priority=True),
        Binding("s", "cycle_status", N_("Status"), id="dashboard.status"),
    ]
    DEFAULT_CSS = """
    DashboardScreen #dash-summary { height: auto; padding: 0 1; }
    DashboardScreen #dash-phases { height: auto; max-height: 16; }
    DashboardScreen #dash-problems { height: auto; padding: 0 1; color: $warning; }
    DashboardScreen #dash-plan { height: 1fr; padding: 0 1; }
    """

    def compose_body(self) -> ComposeResult:
        yield Static(id="dash-summary")
        table: DataTable[Text | str] = DataTable(cursor_type="row", id="dash-phases")
        yield table
        yield Static(id="dash-problems")
        yield Static(id="dash-plan")

    def on_mount(self) -> None:
        self.sub_title = _("Overview")
        self.refresh_body()
        self.query_one(DataTable).focus()
        # the countdown moves on its own
        self.set_interval(30, self.refresh_body)

    def refresh_body(self) -> None:
        board = dashboard.build(self.project, clock.now(), next_count=1)
        summary = Text(no_wrap=True, overflow="ellipsis")  # a long result line is cut, never wrapped off screen
        summary.append(f"{board.domain}", style="bold")
        summary.append(f": {board.old_name} → {board.new_name} · ")
        summary.append(_("{n} users").format(n=board.users))
        summary.append("\n" + _("Next: {milestone}").format(milestone=board.next_milestone), style="bold")
        summary.append("\n" + _("Overall: {done}/{total} checklist items done").format(
            done=board.overall.done, total=board.overall.total))
        for line in board.results:  # the last backup, login check and copy
            summary.append("\n" + line)
        self.query_one("#dash-summary", Static).update(summary)

        table = self.query_one(DataTable)
        row = table.cursor_row
        table.clear(columns=True)
        table.add_column(_("Phase"), width=16)
        table.add_column(_("Status"), width=13)
        table.add_column(_("Done"), width=7)
        table.add_column(_("Next to do"), width=max(10, self.size.width - 44))
        for r in board.rows:
            status = Text(f"{r.status.symbol} {r.status.label}", style=STATUS_STYLE[r.status])
            done = Text(f"{r.progress.done}/{r.progress.total}")
            nxt = Text(r.next_items[0].title if r.next_items else "—", no_wrap=True, overflow="ellipsis")
            if r.overdue:
                nxt = Text(_("{n} overdue · ").format(n=r.overdue), style="bold red") + nxt
            table.add_row(f"{r.phase.number} {r.phase.label}", status, done, nxt, key=r.phase.value)
        table.move_cursor(row=min(row, len(board.rows) - 1))
        problems = self.query_one("#dash-problems", Static)
        problems.update("\n".join("! " + _("Plan: {problem}").format(problem=p) for p in board.plan_problems))
        self.query_one("#dash-plan", Static).update(self._plan_and_activity())

    def _plan_and_activity(self) -> Text:
        now = clock.now()
        text = Text()
        text.append(_("Plan") + "\n", style="bold underline")
        for key in PLAN_KEYS:
            when = self.project.plan.dates.get(key)
            if when is None:
                continue
            mark = "✓" if when <= now else " "
            text.append(f"{mark} {when.strftime('%Y-%m-%d %H:%M')}  {plan.label(key)}\n",
                        style="dim" if when <= now else "")
        recent = self.project.events[-3:]
        if recent:
            text.append(_("Recent activity") + "\n", style="bold underline")
            for event in reversed(recent):
                line = Text(f"{event.at.astimezone().strftime('%m-%d %H:%M')} {event.who}: {event.what}")
                line.truncate(max(20, self.size.width - 2), overflow="ellipsis")
                text.append_text(line)
                text.append("\n")
        return text

    def selected_phase(self) -> Phase:
        table = self.query_one(DataTable)
        return list(Phase)[table.cursor_row]

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open_phase()

    def action_open_phase(self) -> None:
        self.app.switch_mode(self.selected_phase().value)

    def action_cycle_status(self) -> None:
        phase = self.selected_phase()
        statuses = list(PhaseStatus)

        following = statuses[(statuses.index(self.project.phases[phase]) + 1) % len(statuses)]
        if phase == Phase.GO_LIVE and following == PhaseStatus.DONE:
            from mailmig_tui.core.golive import gate_passed

            if not gate_passed(self.project)[0]:
                # Go-live is done only through the gate, or an override that records who and why.
                self.app.notify(_("The go-live gate is not passing: open Go-live → Gate to check it, or to mark "
                                  "go-live done with a recorded override (d)."), title=_("Go-live"), severity="warning")
                following = statuses[(statuses.index(following) + 1) % len(statuses)]

        def change(project: Project) -> None:
            new = following
            project.phases[phase] = new
            project.log(_("set {phase} to {status}").format(phase=phase.label, status=new.label))

        self.mailmig.mutate(change)
