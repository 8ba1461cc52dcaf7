"""What every screen shares: header, phase bar, read-only banner, footer, F1 help text."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Header, Static, TabbedContent, TabPane

from mailmig_tui.core.facts import agrees, derive_one
from mailmig_tui.core.i18n import N_, _
from mailmig_tui.core.phases import Phase
from mailmig_tui.ui.project_view import ProjectView
from mailmig_tui.ui.widgets.checklist import ChecklistPanel
from mailmig_tui.ui.widgets.phase_bar import PhaseBar

if TYPE_CHECKING:
    pass


class MailmigScreen(ProjectView, Screen):
    MODE: ClassVar[str] = ""
    HELP: ClassVar[str] = ""

    def compose(self) -> ComposeResult:
        yield Header(icon="✉")
        yield PhaseBar(self.MODE, self.project)
        if self.mailmig.store.readonly:
            yield Static("⚠ " + _("Read-only: {why}").format(why=self.mailmig.store.lock_message), id="readonly-banner")
        yield from self.compose_body()
        yield Footer(compact=True)

    def compose_body(self) -> ComposeResult:
        yield from ()

    def on_screen_resume(self) -> None:
        self.refresh_project()

    def refresh_project(self) -> None:
        """Show the project as it is now (after a change, or when the screen comes back)."""
        self.query_one(PhaseBar).update_project(self.project)
        self.refresh_body()

    def refresh_body(self) -> None:
        pass

    def help_text(self) -> str:
        return _(self.HELP)


CHECKLIST_HELP = N_(
    "## Checklist\n\n"
    "- **Space** ticks or unticks the highlighted item (who and when are recorded).\n"
    "- **a** adds an item after the highlighted one, **e** edits it (title, owner, due date, note), "
    "**d** deletes it after asking.\n"
    "- **Shift+↑ / Shift+↓** move the item within the phase.\n"
    "- **f** cycles the filter: all, undone, overdue. Overdue due dates are marked with **!**.\n"
    "- **]** and **[** switch between this screen's tabs.\n"
)


class PhaseScreen(MailmigScreen):
    """A phase: its checklist first, then the phase's own panels as further tabs."""

    PHASE: ClassVar[Phase]
    BINDINGS = [
        Binding("]", "next_tab(1)", N_("Next tab"), key_display="]", id="phase.next_tab"),
        Binding("[", "next_tab(-1)", N_("Previous tab"), show=False, id="phase.prev_tab"),
    ]

    def compose_body(self) -> ComposeResult:
        yield Static(self.summary_text(), id="phase-summary")
        with TabbedContent(id="phase-tabs"):
            with TabPane(_("Checklist"), id="tab-checklist"):
                yield ChecklistPanel(self.PHASE)
            yield from self.extra_panes()

    def summary_text(self) -> str:
        """"4. Account sync · done · …", and when the status set by hand is not what the engines' records
        show, what they do show (as the dashboard's ≠): a phase is never just called done here."""
        status = self.project.phases[self.PHASE]
        text = f"{self.PHASE.number}. {self.PHASE.label} · {status.label}"
        fact = derive_one(self.project, self.PHASE, self.mailmig.store.path)
        if not agrees(status, fact):
            text += " " + _("(≠ the facts say {facts})").format(facts=f"{fact.status.symbol} {fact.status.label}")
        return f"{text} · {self.PHASE.summary}"

    def extra_panes(self) -> ComposeResult:
        yield from ()

    def help_text(self) -> str:
        return _(self.HELP) + "\n" + _(CHECKLIST_HELP)

    def on_mount(self) -> None:
        self.sub_title = self.PHASE.label
        self.query_one(ChecklistPanel).query_one("DataTable").focus()

    def refresh_body(self) -> None:
        self.query_one("#phase-summary", Static).update(self.summary_text())
        # every panel of every tab shows the project as it is now
        for view in self.query("*"):
            if isinstance(view, ProjectView):
                view.refresh_project()
        self.refresh_panes()

    def refresh_panes(self) -> None:
        pass

    def action_next_tab(self, step: int) -> None:
        tabs = self.query_one(TabbedContent)
        panes = [p.id for p in tabs.query(TabPane) if p.id]
        if not panes:
            return
        index = panes.index(tabs.active) if tabs.active in panes else 0
        tabs.active = panes[(index + step) % len(panes)]
        # put the keyboard in the new tab's first focusable widget
        pane = tabs.get_pane(tabs.active)
        for widget in pane.query("*"):
            if widget.focusable:
                widget.focus()
                break
