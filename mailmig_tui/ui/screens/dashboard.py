"""The dashboard: every phase's status and its facts, progress, what is next, and the countdown to the next date."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from mailmig_tui.core import clock, dashboard, plan
from mailmig_tui.core.facts import FactStatus, agrees, derive_one, set_status
from mailmig_tui.core.i18n import N_, _
from mailmig_tui.core.model import PLAN_KEYS
from mailmig_tui.core.phases import Phase, PhaseStatus
from mailmig_tui.ui.screens.base import MailmigScreen
from mailmig_tui.ui.widgets.dialogs import ConfirmDialog

FACT_STYLE = {
    FactStatus.NOT_STARTED: "",
    FactStatus.IN_PROGRESS: "bold",
    FactStatus.DONE: "green",
    FactStatus.FAILED: "bold red",
    FactStatus.UNKNOWN: "yellow",
}
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
        "**Facts** is what the engines recorded (backup and verify, copy, DNS watch, test matrix, "
        "go-live gate, monitor), whatever the status says; the line under the table gives the "
        "highlighted phase's evidence and its time. **≠** marks a status set by hand that the facts "
        "do not bear out.\n\n"
        "- **Enter** or a number key **1–7** opens a phase; **0** comes back here.\n"
        "- **s** cycles the highlighted phase's status (not started, in progress, blocked, done). When "
        "the status is out of line with the facts, **s** first sets the facts' status. A status against "
        "the facts asks first, and the activity log keeps the facts it overrode.\n"
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
    DashboardScreen #dash-evidence { height: auto; max-height: 2; padding: 0 1; }
    DashboardScreen #dash-problems { height: auto; padding: 0 1; color: $warning; }
    DashboardScreen #dash-plan { height: 1fr; padding: 0 1; }
    """

    board: dashboard.Dashboard | None = None
    _declined: tuple[Phase, PhaseStatus] | None = None  # the status the user just declined to force

    def compose_body(self) -> ComposeResult:
        yield Static(id="dash-summary")
        table: DataTable[Text | str] = DataTable(cursor_type="row", id="dash-phases")
        yield table
        yield Static(id="dash-evidence")
        yield Static(id="dash-problems")
        yield Static(id="dash-plan")

    def on_mount(self) -> None:
        self.sub_title = _("Overview")
        self.refresh_body()
        self.query_one(DataTable).focus()
        # the countdown moves on its own
        self.set_interval(30, self.refresh_body)

    def refresh_body(self) -> None:
        board = dashboard.build(self.project, clock.now(), next_count=1, path=self.mailmig.store.path)
        self.board = board
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
        table.add_column(_("Phase"), width=15)
        table.add_column(_("Status"), width=13)
        table.add_column(_("Facts"), width=15)
        table.add_column(_("Done"), width=5)
        table.add_column(_("Next to do"), width=max(10, self.size.width - 58))
        for r in board.rows:
            status = Text(f"{r.status.symbol} {r.status.label}", style=STATUS_STYLE[r.status])
            facts = Text(dashboard.facts_text(r), style=FACT_STYLE[r.fact.status] if r.agrees else "bold yellow")
            done = Text(f"{r.progress.done}/{r.progress.total}")
            nxt = Text(r.next_items[0].title if r.next_items else "—", no_wrap=True, overflow="ellipsis")
            if r.overdue:
                nxt = Text(_("{n} overdue · ").format(n=r.overdue), style="bold red") + nxt
            table.add_row(f"{r.phase.number} {r.phase.label}", status, facts, done, nxt, key=r.phase.value)
        table.move_cursor(row=min(row, len(board.rows) - 1))
        self.show_evidence()
        problems = self.query_one("#dash-problems", Static)
        problems.update("\n".join("! " + _("Plan: {problem}").format(problem=p) for p in board.plan_problems))
        problems.display = bool(board.plan_problems)  # no empty line when the plan is fine
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

    def show_evidence(self) -> None:
        """The highlighted phase's evidence, and what the status set by hand says against it."""
        board = getattr(self, "board", None)
        if board is None:
            return
        r = board.rows[min(self.query_one(DataTable).cursor_row, len(board.rows) - 1)]
        width = max(20, self.size.width - 2)
        head = _("Facts · {phase}: ").format(phase=r.phase.label)
        text = Text()  # one line each, cut (never wrapped) to the screen's width
        text.append(head, style="bold")
        text.append(dashboard.cut(f"{r.fact.status.symbol} {r.fact.status.label} — {r.fact.evidence}",
                                  width - dashboard.display_width(head)))
        if not r.agrees:
            text.append("\n" + dashboard.cut(dashboard.disagreement_text(r), width), style="bold yellow")
        self.query_one("#dash-evidence", Static).update(text)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_evidence()

    def selected_phase(self) -> Phase:
        table = self.query_one(DataTable)
        return list(Phase)[table.cursor_row]

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open_phase()

    def action_open_phase(self) -> None:
        self.app.switch_mode(self.selected_phase().value)

    def action_cycle_status(self) -> None:
        """The next status; one the facts do not bear out asks first (declined, the next `s` skips it)."""
        phase = self.selected_phase()
        statuses = list(PhaseStatus)
        current = self.project.phases[phase]
        fact = derive_one(self.project, phase, self.mailmig.store.path)
        following = statuses[(statuses.index(current) + 1) % len(statuses)]
        if not agrees(current, fact) and fact.status.value in {s.value for s in PhaseStatus}:
            following = PhaseStatus(fact.status.value)  # out of line with the facts: s first follows them
        elif self._declined == (phase, following):
            following = statuses[(statuses.index(following) + 1) % len(statuses)]
        self._declined = None
        if phase == Phase.GO_LIVE and following == PhaseStatus.DONE:
            from mailmig_tui.core.golive import gate_passed

            if not gate_passed(self.project)[0]:
                # Go-live is done only through the gate, or an override that records who and why.
                self.app.notify(_("The go-live gate is not passing: open Go-live → Gate to check it, or to mark "
                                  "go-live done with a recorded override (d)."), title=_("Go-live"), severity="warning")
                following = statuses[(statuses.index(following) + 1) % len(statuses)]
            elif fact.status != FactStatus.DONE:  # (already recorded: then it is set like any other)
                from mailmig_tui.core.golive.override import mark_done

                # the gate passed: go-live done is recorded as `mailmig golive done` records it
                self.mailmig.mutate(lambda project: mark_done(project),
                                    _("set {phase} to {status}").format(phase=phase.label, status=following.label))
                return
        new = following

        def change(confirmed: bool) -> None:
            self.mailmig.mutate(lambda project: set_status(project, phase, new, fact, confirmed=confirmed))

        if agrees(new, fact):
            change(False)
            return
        if not self.mailmig.check_writable():
            return

        def answered(yes: bool | None) -> None:
            if yes:
                change(True)
            else:
                self._declined = (phase, new)
                self.app.notify(_("{phase} left at {status}; s again goes past {skipped}.").format(
                    phase=phase.label, status=current.label, skipped=new.label), timeout=6)

        self.app.push_screen(ConfirmDialog(_(
            "Set {phase} to {status}?\n\nThe facts say {facts}.\n\nSetting it anyway is logged with these facts."
        ).format(phase=phase.label, status=f"{new.symbol} {new.label}", facts=fact.describe())), answered)
