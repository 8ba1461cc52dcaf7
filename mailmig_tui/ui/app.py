"""The Textual application: modes (one per phase plus the dashboard), saving, help, palette, errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from textual.app import App
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.theme import Theme
from textual.worker import Worker, WorkerState

from mailmig_tui.core import checklist, dashboard, notices
from mailmig_tui.core.errors import MailmigError, ProjectChangedOnDiskError
from mailmig_tui.core.i18n import N_, _, current_language, set_language
from mailmig_tui.core.model import Project
from mailmig_tui.core.phases import PHASE_INFO, Phase
from mailmig_tui.core.store import ProjectStore
from mailmig_tui.ui.bindings import translate_bindings
from mailmig_tui.ui.commands import MigrationCommands
from mailmig_tui.ui.help import HelpScreen, key_table
from mailmig_tui.ui.phases import PHASE_SCREENS
from mailmig_tui.ui.screens.base import MailmigScreen
from mailmig_tui.ui.screens.dashboard import DashboardScreen
from mailmig_tui.ui.widgets.checklist import ChecklistPanel
from mailmig_tui.ui.widgets.dialogs import ConfirmDialog

T = TypeVar("T")

# Chosen so each colour stays distinct when Textual maps it to the 16 ANSI colours
# (TEXTUAL_COLOR_SYSTEM=standard) and so nothing relies on colour alone (symbols carry status).
MAILMIG_THEME = Theme(
    name="mailmig",
    primary="#0087d7",
    secondary="#00afaf",
    accent="#d7af00",
    warning="#d7af00",
    error="#d70000",
    success="#00af00",
    foreground="#e4e4e4",
    background="#000000",
    surface="#121212",
    panel="#1c1c1c",
    dark=True,
)


class MailmigApp(App[Any]):
    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {MigrationCommands}
    MODES = {"dashboard": DashboardScreen, **PHASE_SCREENS}
    BINDINGS = [
        Binding("f1", "help", N_("Help"), id="app.help"),
        Binding("0", "goto('dashboard')", N_("Overview"), show=False, id="goto.dashboard"),
        *[Binding(str(p.number), f"goto('{p.value}')", PHASE_INFO[p].title, show=False, id=f"goto.{p.value}") for p in Phase],
        # Quit is listed in F1 help and the palette; the footer keeps its room for the screen's own keys.
        Binding("ctrl+q", "quit", N_("Quit"), id="app.quit", priority=True, show=False),
        Binding("ctrl+r", "reload", N_("Reload file"), id="app.reload", show=False),
    ]

    def __init__(self, store: ProjectStore, *, demo: bool = False, start_mode: str = "dashboard") -> None:
        super().__init__()
        translate_bindings(self)
        self.store = store
        self.demo = demo
        self.start_mode = start_mode
        self.title = f"mailmig · {store.project.domain}" + (f" ({_('demo')})" if demo else "")
        self.register_theme(MAILMIG_THEME)
        self.theme = "mailmig"

    def on_mount(self) -> None:
        self.switch_mode(self.start_mode)
        self._outside_edit_seen = 0
        self.set_interval(3.0, self._watch_file)
        self.warn_about_hand_edits()
        if self.store.readonly:
            self.notify(self.store.lock_message, title=_("Read-only"), severity="warning", timeout=8)
        if self.demo:
            self.notify(_("A demo project in {path}: try it freely.").format(path=self.store.path),
                        title=_("Demo"), timeout=6)

    # --- the one way the UI changes the project ------------------------------------------------

    def check_writable(self) -> bool:
        if self.store.readonly:
            self.notify(self.store.lock_message or _("the project is open read-only"),
                        title=_("Read-only"), severity="error")
            return False
        return True

    def mutate(self, change: Callable[[Project], T], log: str | None = None) -> T | None:
        """Apply `change` to the project and save it; show any problem instead of raising."""
        if not self.check_writable():
            return None
        try:
            result = self.store.update(change, log)
        except ProjectChangedOnDiskError as exc:
            self.offer_reload(str(exc))
            return None
        except (MailmigError, ValueError, KeyError) as exc:
            self.notify(str(exc), title=_("Not saved"), severity="error", timeout=8)
            return None
        except OSError as exc:
            self.notify(_("Cannot save {file}: {error}").format(file=self.store.path, error=exc.strerror),
                        title=_("Not saved"), severity="error", timeout=10)
            return None
        self.refresh_screen()
        return result

    def offer_reload(self, why: str) -> None:
        """The file was edited outside mailmig: say so, and offer to read it again."""
        def done(yes: bool | None) -> None:
            if yes:
                self.action_reload()

        if not isinstance(self.screen, ConfirmDialog):
            self.push_screen(ConfirmDialog(why + "\n\n" + _("Reload the file now? (Your last change was not saved; "
                                                             "the file's content replaces what is shown.)")), done)

    def warn_about_hand_edits(self) -> None:
        """What the file may hold that the forms would refuse: duplicate titles, broken notice templates."""
        project = self.store.project
        dupes = checklist.duplicate_titles(project)
        if dupes:
            self.notify(_("These checklist titles are used more than once: {titles}; rename one of each").format(
                titles="; ".join(f"“{t}”" for t in dupes)), title=_("Checklist"), severity="warning", timeout=12)
        for kind, problems in notices.project_template_problems(project).items():
            self.notify(_("the {notice} template in the project file has problems: {problems}").format(
                notice=_(notices.NOTICE_LABELS[kind]), problems="; ".join(problems)),
                title=_("Notices"), severity="warning", timeout=12)

    def _watch_file(self) -> None:
        """Say so when the file is edited outside mailmig (seen twice in a row: not our own save in flight)."""
        if self.store.readonly or not self.store.changed_on_disk():
            self._outside_edit_seen = 0
            return
        self._outside_edit_seen += 1
        if self._outside_edit_seen == 2:
            self.notify(_("Changed outside mailmig: {file}. Press Ctrl+R to reload it.").format(
                file=self.store.path.name), title=_("Changed on disk"), severity="warning", timeout=15)

    def action_reload(self) -> None:
        """Read the project file again (Ctrl+R), after an outside edit."""
        if any(w.is_running for w in self.workers):
            self.notify(_("A task is running; reload when it has finished (or stop it first)."),
                        title=_("Not reloaded"), severity="warning")
            return
        try:
            self.store.reload()
        except MailmigError as exc:
            self.notify(str(exc), title=_("Not reloaded"), severity="error", timeout=10)
            return
        self.refresh_screen()
        self.screen.refresh_bindings()
        self.notify(_("Reloaded {file} from disk").format(file=self.store.path.name), title=_("Reloaded"))
        self.warn_about_hand_edits()

    def refresh_screen(self) -> None:
        for screen in self.screen_stack:
            if isinstance(screen, MailmigScreen):
                screen.refresh_project()

    # --- actions ---------------------------------------------------------------------------------

    def action_goto(self, mode: str) -> None:
        if isinstance(self.screen, ModalScreen):
            return
        self.switch_mode(mode)

    def action_help(self) -> None:
        screen = self.screen
        if isinstance(screen, HelpScreen):
            return
        text = screen.help_text() if isinstance(screen, MailmigScreen) else ""
        self.push_screen(HelpScreen(text, key_table(screen)))

    def action_add_item(self, phase: str) -> None:
        self.switch_mode(phase)

        def add() -> None:
            self.screen.query_one(ChecklistPanel).action_add()

        self.call_after_refresh(add)

    def action_export_notices(self) -> None:
        folder = notices.default_folder(self.store.path)
        try:
            written = notices.export_all(self.store.project, folder)
        except OSError as exc:
            self.notify(_("Cannot write notices to {dir}: {error}").format(dir=folder, error=exc.strerror), severity="error")
            return
        except ValueError as exc:
            self.notify(str(exc), title=_("Not exported"), severity="error", timeout=10)
            return
        self.notify(_("Exported {n} notices to {dir}").format(n=len(written), dir=folder), title=_("Notices"))

    def action_export_status(self) -> None:
        target = self.store.path.with_name(f"{self.store.project.domain}-status.txt")
        try:
            target.write_text(dashboard.render_text(dashboard.build(self.store.project)) + "\n", encoding="utf-8")
        except OSError as exc:
            self.notify(_("Cannot write {file}: {error}").format(file=target, error=exc.strerror), severity="error")
            return
        self.notify(_("Wrote {file}").format(file=target), title=_("Status report"))

    def action_export_report(self) -> None:
        """The migration report (HTML and Markdown) beside the project: read from local files only, in a
        thread worker so a large archive index never holds up the screen."""
        import copy
        from functools import partial

        # A copy taken here: the worker reads it while the screen may go on changing the project.
        project = copy.deepcopy(self.store.project)
        self.run_worker(partial(self._write_report, project, self.store.path, current_language()),
                        name=_("Migration report"), group="report", thread=True, exclusive=True, exit_on_error=False)

    def _write_report(self, project: Project, path: Path, language: str) -> None:
        from mailmig_tui.commands.handbook import write_text_atomically
        from mailmig_tui.core import report

        written = []
        try:
            for fmt in ("html", "md"):
                target = report.default_out(path, fmt)
                write_text_atomically(target, report.render(project, path, language, fmt))
                written.append(target)
        except OSError as exc:
            self.call_from_thread(self.notify, _("Cannot write {file}: {error}").format(
                file=report.default_out(path, "html").parent, error=exc.strerror or exc), title=_("Not exported"),
                severity="error", timeout=10)
            return
        self.call_from_thread(self.notify, "\n".join(str(p) for p in written), title=_("Migration report written"),
                              timeout=10)

    def action_set_language(self, code: str) -> None:
        if code == current_language():
            return
        if not self.store.readonly:
            self.mutate(lambda p: setattr(p, "language", code))
        # Labels, bindings and help are built in the language in force; restart the interface in place.
        self.exit(("restart", code, self.current_mode))

    # --- one place for worker failures ----------------------------------------------------------

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.report_worker_failure(event.worker)

    def report_worker_failure(self, worker: Worker[Any]) -> None:
        """The one place a failed worker (the app's or any view's, see ProjectView) is told to the user."""
        error = worker.error
        if isinstance(error, MailmigError):
            message = str(error)
        else:
            message = _("{kind}: {error}").format(kind=type(error).__name__, error=error)
        self.notify(message, title=_("{task} failed").format(task=worker.name or _("task")),
                    severity="error", timeout=15)


def run_app(path: Path, *, demo: bool = False) -> int:
    mode = "dashboard"
    while True:
        # The language was chosen by the CLI (--lang, then the project's setting, then the locale).
        store = ProjectStore.open(path)
        app = MailmigApp(store, demo=demo, start_mode=mode)
        try:
            result = app.run()
        finally:
            store.close()
        if isinstance(result, tuple) and result[0] == "restart":
            _kind, language, mode = result
            set_language(language)
            continue
        return app.return_code or 0
