"""The After-care screen's Health tab: the monitor's checks, refreshed in a worker while the tab is open.

Each row is a check with its status as a symbol and a word (never colour alone), what was seen, and
below the table what to do about the highlighted one and the canary's latency over time as a sparkline.
The checks run in a thread worker (they talk to DNS, IMAP and SMTP servers); `r` runs them now, `Esc`
cancels a run. The history is the same SQLite file `mailmig monitor` writes beside the project.
"""

from __future__ import annotations

import threading
from functools import partial
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.timer import Timer
from textual.widgets import DataTable, Static
from textual.worker import Worker, WorkerState

from mailmig_tui.core.credentials import PassphrasePrompt, open_credentials
from mailmig_tui.core.dns.project import project_config
from mailmig_tui.core.i18n import N_, _
from mailmig_tui.core.model import Project, SchemaError, now
from mailmig_tui.core.monitor import History, history_path, parse_monitor_section, run_checks
from mailmig_tui.core.monitor.checks import FAIL, INFO, OK, SYMBOLS, UNKNOWN, WARN, WORDS, Health
from mailmig_tui.core.monitor.history import sparkline
from mailmig_tui.core.monitor.runner import clean_window_start, summary_counts
from mailmig_tui.ui.project_view import ProjectView
from mailmig_tui.ui.widgets.passphrase import prompt_for, with_passphrase

STYLES = {OK: "green", WARN: "yellow", FAIL: "bold red", UNKNOWN: "bold magenta", INFO: "cyan"}
ORDER = {FAIL: 0, UNKNOWN: 1, WARN: 2, INFO: 3, OK: 4}


class HealthPanel(ProjectView, Vertical):
    BINDINGS = [
        Binding("r", "run", N_("Check now"), id="health.run"),
        Binding("escape", "cancel", N_("Cancel"), id="health.cancel"),
    ]
    DEFAULT_CSS = """
    HealthPanel > #health-status { height: 1; padding: 0 1; text-style: bold; }
    HealthPanel > #health-table { height: 1fr; }
    HealthPanel > #health-detail { height: 5; padding: 0 1; border-top: solid $primary; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.results: list[Health] = []
        self.last_run: Any = None
        self.started = False
        self._stop = threading.Event()
        self._timer: Timer | None = None
        self._passphrase: str | None = None
        self._latency: dict[str, list[float | None]] = {}

    @property
    def running(self) -> bool:
        return any(w.is_running for w in self.workers if w.group == "health")

    def compose(self) -> ComposeResult:
        yield Static(_("Not checked yet: r runs the health checks."), id="health-status")
        table: DataTable[Text] = DataTable(cursor_type="row", id="health-table")
        yield table
        yield Static(id="health-detail")

    def on_mount(self) -> None:
        table = self.query_one("#health-table", DataTable)
        table.add_column(_("Status"), width=10)
        table.add_column(_("Check"), width=28)
        table.add_column(_("Seen"), width=34)

    # --- scheduling ------------------------------------------------------------------------------

    def _interval(self) -> float:
        try:
            return parse_monitor_section(self.project.sections.get("monitor")).interval
        except SchemaError:
            return 300.0

    def activate(self) -> None:
        """The tab was opened: check now, then again every [monitor] interval while it stays open."""
        if not self.started:
            self.action_run()
        if self._timer is None:
            self._timer = self.set_interval(self._interval(), self._tick)

    def suspend(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def on_unmount(self) -> None:
        self._stop.set()
        self.suspend()

    def _tick(self) -> None:
        if not self.running:
            self._start(self._passphrase)

    def action_run(self) -> None:
        self.started = True
        with_passphrase(self.app, self._start)

    def _start(self, passphrase: str | None) -> None:
        self._passphrase = passphrase
        store = self.mailmig.store
        try:
            config = parse_monitor_section(store.project.sections.get("monitor"))
            dns_config = project_config(store.project, store.path)
        except SchemaError as exc:
            self._status(Text("✗ " + str(exc), style="bold red"))
            return
        self._stop = threading.Event()
        project = Project.from_dict(store.project.to_dict())  # the worker gets its own copy
        self.run_worker(partial(self._work, project, config, dns_config, prompt_for(passphrase), self._stop),
                        name=_("Health checks"), group="health", thread=True, exclusive=True, exit_on_error=False)
        self._status(Text("⟳ " + _("checking DNS, IMAP, SMTP, certificates and the old provider… (Esc cancels)"),
                          style="bold"))
        self.refresh_bindings()

    def _work(self, project: Project, config: Any, dns_config: Any, prompt: PassphrasePrompt,
              stop: threading.Event) -> tuple[Any, list[Health], dict[str, list[float | None]]]:
        """In a worker thread: run every check once and add it to the history beside the project."""
        credentials = open_credentials(prompt)
        started = now()
        path = history_path(self.mailmig.store.path)
        with History(path) as history:
            clean = clean_window_start(history.failure_free_since(), project.plan.dates.get("go_live"))
            results = run_checks(project, credentials, config, dns_config, clean_since=clean, cancel=stop,
                                 now=started)
            if stop.is_set():
                return started, [], {}
            history.add(started, results)
            latency = {k: [p.value for p in history.series(k, 30)] for k in ("imap", "smtp")}
        return started, results, latency

    def action_cancel(self) -> None:
        if self.running:
            self._stop.set()
            self.workers.cancel_group(self, "health")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel":
            return self.running
        return True

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "health":
            return
        self.refresh_bindings()
        if event.state == WorkerState.SUCCESS and isinstance(event.worker.result, tuple):
            started, results, latency = event.worker.result
            if results:
                self.show(results, started, latency)
        elif event.state == WorkerState.ERROR:
            self._status(Text("✗ " + str(event.worker.error), style="bold red"))
        elif event.state == WorkerState.CANCELLED:
            self._status(Text("■ " + _("Check cancelled; r checks again."), style="bold"))

    # --- rendering -------------------------------------------------------------------------------

    def _status(self, text: Text) -> None:
        self.query_one("#health-status", Static).update(text)

    def show(self, results: list[Health], when: Any, latency: dict[str, list[float | None]] | None = None) -> None:
        """Render one run's results (from the worker, or fixed ones in tests and screenshots)."""
        self.results = sorted(results, key=lambda r: (ORDER.get(r.status, 9), r.key))
        self.last_run = when
        self._latency = latency or {}
        counts = summary_counts(results)
        head = Text()
        bad = counts[FAIL] + counts[UNKNOWN]
        if bad:
            head.append("✗ " + _("{n} checks failing").format(n=bad), style="bold red")
        else:
            head.append("✓ " + _("healthy"), style="bold green")
        head.append(" · " + _("{ok} ok, {warn} warnings, {info} advice").format(**counts))
        head.append(" · " + _("checked {time}").format(time=when.strftime("%H:%M:%S")))
        self._status(head)
        table = self.query_one("#health-table", DataTable)
        table.clear()
        for r in self.results:
            table.add_row(Text(f"{SYMBOLS[r.status]} {_(WORDS[r.status])}", style=STYLES.get(r.status, "")),
                          Text(r.title, no_wrap=True, overflow="ellipsis"),
                          Text(r.detail, no_wrap=True, overflow="ellipsis"), key=r.key)
        self._show_detail()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        table = self.query_one("#health-table", DataTable)
        detail = Text()
        if self.results and 0 <= table.cursor_row < len(self.results):
            r = self.results[table.cursor_row]
            detail.append(r.detail + "\n")
            if r.advice and r.status != OK:
                detail.append("→ " + r.advice + "\n", style="bold")
        spark = [f"{k.upper()} {sparkline(v)} {v[-1]:.0f} ms" for k, v in self._latency.items()
                 if v and v[-1] is not None]
        if spark:
            detail.append(_("Latency: ") + "   ".join(spark))
        self.query_one("#health-detail", Static).update(detail)
