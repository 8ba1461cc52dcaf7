"""The Go-live screen's Gate tab: every switch-off condition with ✓/✗ and its evidence, asked in a worker.

The check is the same as `mailmig golive check` (core/golive/gate.py): it asks DNS servers and the old
provider, so it runs in a thread worker (`r`, and once when the tab is first opened); `Esc` cancels.
`d` marks go-live done and `o` records the old provider as switched off: with a failing gate both ask
for a reason and record the override (who, when, which conditions failed).
"""

from __future__ import annotations

import threading
from functools import partial
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Static
from textual.worker import Worker, WorkerState

from mailmig_tui.core.credentials import PassphrasePrompt, open_credentials
from mailmig_tui.core.dns.config import DnsConfig
from mailmig_tui.core.dns.project import project_config
from mailmig_tui.core.errors import MailmigError
from mailmig_tui.core.golive import GateResult, check_gate, gate_passed, mark_done, record_gate
from mailmig_tui.core.golive.gate import PASS, SYMBOLS
from mailmig_tui.core.i18n import N_, _
from mailmig_tui.core.model import Project
from mailmig_tui.ui.project_view import ProjectView
from mailmig_tui.ui.widgets.dialogs import ConfirmDialog, Field, FormDialog
from mailmig_tui.ui.widgets.passphrase import prompt_for, with_passphrase

STYLES = {PASS: "green", "fail": "bold red", "warn": "yellow"}
WORDS = {PASS: N_("ok"), "fail": N_("fails"), "warn": N_("warning")}  # never colour alone


class GatePanel(ProjectView, Vertical):
    BINDINGS = [
        Binding("r", "check", N_("Re-check"), id="gate.check"),
        Binding("d", "done('go_live')", N_("Done"), id="gate.done"),
        Binding("o", "done('old_provider_off')", N_("Old off"), id="gate.off"),
        Binding("escape", "cancel", N_("Cancel"), id="gate.cancel"),
    ]
    DEFAULT_CSS = """
    GatePanel > #gate-status { height: 1; padding: 0 1; text-style: bold; }
    GatePanel > #gate-table { height: 1fr; }
    GatePanel > #gate-detail { height: 4; padding: 0 1; border-top: solid $primary; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.result: GateResult | None = None
        self.started = False
        self._stop = threading.Event()

    @property
    def checking(self) -> bool:
        return any(w.is_running for w in self.workers if w.group == "gate")

    def compose(self) -> ComposeResult:
        yield Static(_("Not checked yet: r checks every go-live condition."), id="gate-status")
        table: DataTable[Text] = DataTable(cursor_type="row", id="gate-table")
        yield table
        yield Static(id="gate-detail")

    def on_mount(self) -> None:
        table = self.query_one("#gate-table", DataTable)
        table.add_column(_("Status"), width=7)
        table.add_column(_("Condition"), width=32)
        table.add_column(_("Evidence"), width=33)

    def activate(self) -> None:
        if not self.started:
            self.action_check()

    def action_check(self) -> None:
        self.started = True
        with_passphrase(self.app, self._start)

    def _start(self, passphrase: str | None) -> None:
        store = self.mailmig.store
        try:
            dns_config = project_config(store.project, store.path)
        except MailmigError as exc:
            self._status(Text("✗ " + str(exc), style="bold red"))
            return
        self._stop = threading.Event()
        project = Project.from_dict(store.project.to_dict())
        self.run_worker(partial(self._work, project, store.path, dns_config, prompt_for(passphrase), self._stop),
                        name=_("Go-live gate"), group="gate", thread=True, exclusive=True, exit_on_error=False)
        self._status(Text("⟳ " + _("checking the backup, copy, matrix, DNS, the old provider and the reminder… "
                                   "(Esc cancels)"), style="bold"))
        self.refresh_bindings()

    def _work(self, project: Project, path: Path, dns_config: DnsConfig, prompt: PassphrasePrompt,
              stop: threading.Event) -> GateResult:
        return check_gate(project, path, open_credentials(prompt), dns_config, cancel=stop)

    def action_cancel(self) -> None:
        if self.checking:
            self._stop.set()
            self.workers.cancel_group(self, "gate")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel":
            return self.checking
        if action == "done":
            return not self.mailmig.store.readonly
        return True

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "gate":
            return
        self.refresh_bindings()
        if event.state == WorkerState.SUCCESS and isinstance(event.worker.result, GateResult):
            result = event.worker.result
            self.mailmig.mutate(lambda p: record_gate(p, result))
            self.show(result)
        elif event.state == WorkerState.ERROR:
            self._status(Text("✗ " + str(event.worker.error), style="bold red"))
        elif event.state == WorkerState.CANCELLED:
            self._status(Text("■ " + _("Check cancelled; r checks again."), style="bold"))

    def _status(self, text: Text) -> None:
        self.query_one("#gate-status", Static).update(text)

    def show(self, result: GateResult) -> None:
        """Render a gate result (from the worker, or a fixed one in tests and screenshots)."""
        self.result = result
        head = Text()
        if result.passed:
            head.append("✓ " + _("Safe to switch the old provider off."), style="bold green")
        else:
            head.append("✗ " + _("Not safe to switch off: {n} of {total} conditions fail.").format(
                n=len(result.failing), total=len(result.conditions)), style="bold red")
        head.append(" · " + _("checked {time}").format(time=result.at.strftime("%H:%M:%S")))
        self._status(head)
        table = self.query_one("#gate-table", DataTable)
        table.clear()
        for c in result.conditions:
            table.add_row(Text(f"{SYMBOLS[c.status]} {_(WORDS[c.status])}", style=STYLES.get(c.status, "")),
                          Text(c.title, no_wrap=True, overflow="ellipsis"),
                          Text(c.evidence, no_wrap=True, overflow="ellipsis"), key=c.key)
        self._show_detail()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        table = self.query_one("#gate-table", DataTable)
        detail = Text()
        if self.result and 0 <= table.cursor_row < len(self.result.conditions):
            c = self.result.conditions[table.cursor_row]
            detail.append(f"{SYMBOLS[c.status]} {c.title}\n", style="bold")
            detail.append(c.evidence)
        self.query_one("#gate-detail", Static).update(detail)

    # --- marking done ------------------------------------------------------------------------------

    def action_done(self, what: str) -> None:
        if not self.mailmig.check_writable():
            return
        passed, failing = gate_passed(self.project)
        label = _("go-live done") if what == "go_live" else _("the old provider switched off")
        if passed:
            def confirmed(yes: bool | None) -> None:
                if yes:
                    self.mailmig.mutate(lambda p: mark_done(p, what=what))
            self.app.push_screen(ConfirmDialog(_("The gate passed. Mark {what}?").format(what=label)), confirmed)
            return

        def overridden(values: dict[str, str] | None) -> None:
            if values:
                self.mailmig.mutate(lambda p: mark_done(p, what=what, override=True, reason=values["reason"]))
                self.app.notify(_("Override recorded: who, when, why and the failing conditions."),
                                title=_("Go-live"), severity="warning")

        title = _("The gate fails ({n} conditions: {keys}). Mark {what} anyway? Say why; it is recorded.").format(
            n=len(failing), keys=", ".join(f.split(":", 1)[0] for f in failing[:4]), what=label)
        self.app.push_screen(FormDialog(title, [Field("reason", _("Reason for the override"),
                                                      validate=lambda v: None if v.strip() else _("say why"))],
                                        submit=_("Override")), overridden)


__all__ = ["GatePanel"]
