"""The Audit tab of the DNS screen: current against target records, readiness checks, the zone snippet.

The audit runs in an async worker (dnspython's asyncio API on the app's loop, so the interface never
waits on the network); `show_report()` renders any AuditReport, which the snapshot tests use too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import DataTable, Static
from textual.worker import Worker, WorkerState

from mailmig_tui.core import clock
from mailmig_tui.core.dns.audit import FAIL, PASS, WARN, AuditReport, audit, offline_report
from mailmig_tui.core.dns.config import DnsConfig
from mailmig_tui.core.dns.project import project_config
from mailmig_tui.core.dns.records import ERROR, NEGATIVE, NEW, OLD, DiffRow, zone_line, zone_snippet
from mailmig_tui.core.dns.watch import probe_resolvers
from mailmig_tui.core.i18n import N_, _
from mailmig_tui.core.model import Project
from mailmig_tui.ui.project_view import ProjectView
from mailmig_tui.ui.widgets.dialogs import InfoDialog

if TYPE_CHECKING:
    pass

# How a record compares: a symbol and a word, so nothing depends on colour.
ROW_STATES = {
    NEW: ("✓", N_("ok"), "green"),
    NEGATIVE: ("+", N_("missing"), "bold red"),
    OLD: ("✗", N_("differs"), "bold red"),
    ERROR: ("?", N_("error"), "bold yellow"),
}
CHECK_MARKS = {PASS: ("✓", "green"), WARN: ("!", "yellow"), FAIL: ("✗", "bold red")}
CHECK_ORDER = {FAIL: 0, WARN: 1, PASS: 2}


def relative_name(name: str, domain: str) -> str:
    """`_dmarc.corp.example` → `_dmarc`, the apex → `@` (as DNS hosting consoles ask for it)."""
    if name == domain:
        return "@"
    return name[: -len(domain) - 1] if name.endswith("." + domain) else name


def _statuses(answers: list[str]) -> str:
    return ", ".join(sorted(set(answers)))


def _fit(value: str, width: int, style: str = "") -> Text:
    text = Text(value, style=style)
    text.truncate(width, overflow="ellipsis")
    return text


def fit_pair(current: str, target: str, width: int) -> tuple[Text, Text]:
    """Both values cut to `width`; when they share a prefix longer than the column (two SPF records
    differing only past it), both start just before the first difference, so the cells show where."""
    common = 0
    for a, b in zip(current, target, strict=False):
        if a != b:
            break
        common += 1
    if current != target and common > width - 6 and min(len(current), len(target)) > width:
        start = max(0, common - 4)
        return _fit("…" + current[start:], width), _fit("…" + target[start:], width)
    return _fit(current, width), _fit(target, width)


def current_text(row: DiffRow) -> str:
    answer = row.current
    if answer is None:
        return "—"
    if answer.values:
        return ", ".join(answer.values)
    if answer.negative:
        return _("(none)")
    if answer.failed:
        return answer.detail if answer.detail == _("unknown (unreachable)") else _("unknown ({status})").format(
            status=answer.status)
    return answer.status


async def run_audit(project: Project, config: DnsConfig) -> AuditReport:
    """Check the resolvers first (all at once), then audit every authoritative server.

    When nothing can be reached the report still lists the records to set, each current value
    "unknown (unreachable)", and says why (so the zone file can be exported offline)."""
    domain = project.domain.lower().rstrip(".")
    health = await probe_resolvers(config.resolvers, domain, config.timeout)
    resolvers = [h.server for h in health if h.usable]
    servers = list(config.authoritative)
    if not servers and not resolvers:
        return offline_report(project, config, [], clock.now(), _(
            "no resolver answers ({statuses}), so the authoritative servers of {domain} cannot be found; check the "
            "network or [dns] resolvers").format(statuses=_statuses([h.status for h in health]) or "—", domain=domain))
    return await audit(project, config, authoritative=servers, resolvers=resolvers, now=clock.now())


class DnsAuditPanel(ProjectView, Vertical):
    BINDINGS = [
        Binding("r", "rerun", N_("Re-check"), id="dns_audit.rerun"),
        Binding("z", "export_zone", N_("Zone file"), id="dns_audit.zone"),
        Binding("escape", "cancel", N_("Cancel"), id="dns_audit.cancel"),
    ]
    DEFAULT_CSS = """
    DnsAuditPanel > #audit-status { height: auto; max-height: 2; padding: 0 1; text-style: bold; }
    DnsAuditPanel > #audit-table { height: auto; max-height: 11; }
    DnsAuditPanel > #audit-checks-scroll { height: 1fr; border-top: solid $primary; }
    DnsAuditPanel #audit-checks { padding: 0 1; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.report: AuditReport | None = None
        self.started = False

    @property
    def checking(self) -> bool:
        return any(w.is_running for w in self.workers if w.group == "dns-audit")

    def compose(self) -> ComposeResult:
        yield Static(_("Not checked yet: r checks the records."), id="audit-status")
        table: DataTable[Text | str] = DataTable(cursor_type="row", id="audit-table")
        yield table
        with VerticalScroll(id="audit-checks-scroll"):
            yield Static(id="audit-checks")

    def on_mount(self) -> None:
        table = self.query_one("#audit-table", DataTable)
        table.add_column(_("Status"), width=9)
        table.add_column(_("Name"), width=17)
        table.add_column(_("Type"), width=5)
        table.add_column(_("Current"), width=18)
        table.add_column(_("Target"), width=18)

    # --- running ---------------------------------------------------------------------------------

    def activate(self) -> None:
        """The tab was opened: check once on the first visit."""
        if not self.started:
            self.action_rerun()

    def action_rerun(self) -> None:
        self.started = True
        self.run_worker(self._check(), name=_("DNS audit"), group="dns-audit", exclusive=True,
                        exit_on_error=False)
        self._status(Text("⟳ " + _("checking the records… (Esc cancels)"), style="bold"))
        self.refresh_bindings()

    async def _check(self) -> AuditReport:
        store = self.mailmig.store
        config = project_config(store.project, store.path)
        return await run_audit(store.project, config)

    def action_cancel(self) -> None:
        if self.checking:
            self.workers.cancel_group(self, "dns-audit")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel":
            return self.checking
        return True

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "dns-audit":
            return
        self.refresh_bindings()
        if event.state == WorkerState.SUCCESS and isinstance(event.worker.result, AuditReport):
            self.show_report(event.worker.result)
        elif event.state == WorkerState.ERROR:
            # The app's worker handler notifies; the tab says it where the results would be.
            self._status(Text("✗ " + str(event.worker.error), style="bold red"))
        elif event.state == WorkerState.CANCELLED:
            self._status(Text("■ " + _("Check cancelled; r checks again."), style="bold"))

    # --- rendering -------------------------------------------------------------------------------

    def _status(self, text: Text) -> None:
        self.query_one("#audit-status", Static).update(text)

    def show_report(self, report: AuditReport) -> None:
        """Render `report` (from the worker, or a fixed one in tests)."""
        self.report = report
        failed = [c for c in report.checks if c.status == FAIL]
        changes = report.changes
        head = Text()
        if report.offline:
            head.append("✗ " + report.offline_reason, style="bold red")
            head.append(" · " + _("the records to set are shown; z exports them"), style="not bold")
            self._status(head)
        elif report.ready:
            head.append("✓ " + _("READY for the cutover"), style="bold green")
        else:
            head.append("✗ " + _("NOT READY: {n} of {total} checks fail").format(
                n=len(failed), total=len(report.checks)), style="bold red")
        if not report.offline:
            head.append(" · " + _("{n} of {total} records to set").format(n=len(changes), total=len(report.rows)))
            head.append(" · " + _("checked {time} at {servers}").format(
                time=report.at.astimezone().strftime("%H:%M"),
                servers=", ".join(s.label for s in report.servers) or "—"), style="not bold")
            self._status(head)

        table = self.query_one("#audit-table", DataTable)
        row = table.cursor_row
        table.clear()
        for r in report.rows:
            mark, word, style = ROW_STATES.get(r.state, ROW_STATES[OLD])
            current, target = fit_pair(current_text(r), ", ".join(r.target.values), 18)
            if not r.needs_change:
                target.stylize("dim")
            table.add_row(Text(f"{mark} {_(word)}", style=style), _fit(relative_name(r.target.name, report.domain), 17),
                          r.target.rdtype, current, target, key=r.target.key)
        table.move_cursor(row=row)

        checks = Text()
        for check in sorted(report.checks, key=lambda c: CHECK_ORDER.get(c.status, 1)):
            mark, style = CHECK_MARKS.get(check.status, ("!", "yellow"))
            checks.append(f"{mark} {check.title}\n", style=style)
            checks.append(f"  {check.explanation}\n")
        self.query_one("#audit-checks", Static).update(checks)

    # --- the record to set, the zone snippet -------------------------------------------------------

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if self.report is None or event.row_key.value is None:
            return
        row = next((r for r in self.report.rows if r.target.key == event.row_key.value), None)
        if row is None:
            return
        target = row.target
        if not row.needs_change:
            self.app.notify(_("{name} {type} is already published as it should be.").format(
                name=target.name, type=target.rdtype), title=_("Nothing to change"))
            return
        lines = [zone_line(target, v) for v in target.values]
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(overflow="fold")
        grid.add_row(_("Name"), f"{target.name}  ({_('host')}: {relative_name(target.name, self.report.domain)})")
        grid.add_row(_("Type"), target.rdtype)
        grid.add_row("TTL", str(target.ttl))
        grid.add_row(_("Value"), "\n".join(target.values))
        grid.add_row(_("Now"), current_text(row))
        parts: list[Text | Table] = [grid, Text("\n" + target.purpose, style="italic")]
        if target.placeholder:
            parts.append(Text("! " + _("replace the placeholder with the key shown in the new provider's console"),
                              style="bold yellow"))
        parts.append(Text("\n" + _("As a zone-file line:"), style="bold"))
        parts.append(Text("\n".join(lines)))
        self.app.push_screen(InfoDialog(_("Record to set"), Group(*parts), "\n".join(lines)))

    def action_export_zone(self) -> None:
        if self.report is None:
            self.app.notify(_("Nothing to export yet: the audit has not finished."), severity="warning")
            return
        store = self.mailmig.store
        target = store.path.with_name(f"{self.report.domain}-records.zone")
        try:
            target.write_text(zone_snippet(self.report.rows, self.report.domain), encoding="utf-8")
        except OSError as exc:
            self.app.notify(_("Cannot write {file}: {error}").format(file=target, error=exc.strerror), severity="error")
            return
        self.app.notify(_("Wrote {n} records to set to {file}").format(
            n=sum(len(r.target.values) for r in self.report.changes), file=target), title=_("Zone file"), timeout=10)
