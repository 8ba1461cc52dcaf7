"""The Propagation tab of the DNS screen: the live watcher of the new records.

An async worker sweeps every authoritative server and resolver at the chosen interval (the watcher
asks everything concurrently with a per-query timeout, so a dead resolver never stalls the others)
and posts one message per sweep; a newer snapshot supersedes one not yet shown. `show_snapshot()`
renders any Snapshot, which the snapshot tests use too.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import DataTable, Sparkline, Static
from textual.worker import Worker, WorkerState

from mailmig_tui.core import clock
from mailmig_tui.core.dns.config import (
    DEFAULT_RESOLVERS,
    parse_resolver_lines,
    resolvers_to_lines,
    resolvers_to_toml,
)
from mailmig_tui.core.dns.history import WatchHistory, watch_history_path
from mailmig_tui.core.dns.lastwatch import WatchRecorder
from mailmig_tui.core.dns.project import make_watcher, project_config
from mailmig_tui.core.dns.query import OK
from mailmig_tui.core.dns.records import ERROR, MIXED, NEGATIVE, NEW, OLD
from mailmig_tui.core.dns.watch import (
    NO_RECURSION,
    Observation,
    ResolverHealth,
    Snapshot,
    Watcher,
    progress_details,
    progress_text,
)
from mailmig_tui.core.i18n import N_, _
from mailmig_tui.core.model import Project
from mailmig_tui.ui.project_view import ProjectView
from mailmig_tui.ui.widgets.dialogs import TextDialog

if TYPE_CHECKING:
    pass

INTERVALS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600)
SPARK_POINTS = 24

# An answer class is told by a symbol and a word, never by colour alone.
ANSWER_CLASSES = {
    NEW: ("✓", N_("new"), "green"),
    OLD: ("·", N_("old"), ""),
    MIXED: ("±", N_("mixed"), "yellow"),
    NEGATIVE: ("∅", N_("negative"), ""),
    ERROR: ("✗", N_("error"), "bold red"),
    "timeout": ("✗", N_("timeout"), "bold red"),
    "refused": ("✗", N_("refused"), "bold red"),
    "servfail": ("✗", N_("servfail"), "bold red"),
    NO_RECURSION: ("✗", N_("no recursion"), "bold red"),
    "not-authoritative": ("✗", N_("not authoritative"), "bold red"),
}


def answer_class(o: Observation | None, health: ResolverHealth) -> str:
    """new / old / mixed / negative, or exactly how the resolver failed (timeout, refused, servfail…)."""
    if not health.usable:
        return health.status
    if o is None:
        return ERROR
    if o.state == ERROR:
        return o.answer.status if o.answer.status in ANSWER_CLASSES else ERROR
    return o.state


def label(kind: str) -> Text:
    mark, word, style = ANSWER_CLASSES.get(kind, ("?", kind, "yellow"))
    return Text(f"{mark} {_(word)}", style=style)


def hhmm(when: datetime | None) -> str:
    """HH:MM:SS within the hour (short TTLs need the seconds), HH:MM further out."""
    if when is None:
        return "—"
    near = abs((when - clock.now()).total_seconds()) < 3600
    return when.astimezone().strftime("%H:%M:%S" if near else "%H:%M")


def countdown(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def spark_points(history: list[tuple[datetime, float]]) -> list[float]:
    """The last points of the % history for the sparkline, which scales between their min and max:
    a flat history is drawn as a floor (0 %) or full bars (above 0 %) rather than a misleading floor."""
    points = [p for _at, p in history[-SPARK_POINTS:]]
    if points and min(points) == max(points):
        return [] if points[0] == 0 else [points[0]]
    return points


def complete_text(snap: Snapshot) -> str:
    left_out = snap.unreachable if snap.ignore_unreachable else []
    head = _("Every resolver answered the new MX.") if not left_out else _(
        "{n} of {total} resolvers answered the new MX; left out, never answered: {names}.").format(
        n=snap.on_new, total=len(snap.standing), names=", ".join(left_out))
    return head + " " + _("Switch the old provider off after {time}.").format(time=hhmm(snap.safe_to_switch_off))


class SnapshotReady(Message):
    """One sweep's result. A newer one replaces any not yet handled, so a slow screen is never flooded."""

    def __init__(self, snapshot: Snapshot) -> None:
        super().__init__()
        self.snapshot = snapshot

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SnapshotReady)


class DnsWatchPanel(ProjectView, Vertical):
    EDITING_ACTIONS = frozenset({"edit_resolvers"})
    BINDINGS = [
        Binding("w", "toggle_watch", N_("Start/stop"), id="dns_watch.toggle"),
        Binding("space", "toggle_pause", N_("Pause"), id="dns_watch.pause"),
        Binding("plus", "interval(1)", N_("Interval"), key_display="+/-", id="dns_watch.slower"),
        Binding("minus", "interval(-1)", N_("Shorter interval"), show=False, id="dns_watch.faster"),
        Binding("e", "edit_resolvers", N_("Resolvers"), id="dns_watch.resolvers"),
        Binding("u", "toggle_unreachable", N_("Unreachable"), id="dns_watch.unreachable"),
    ]
    DEFAULT_CSS = """
    DnsWatchPanel > #watch-status { height: 1; padding: 0 1; }
    DnsWatchPanel > #watch-head { height: 1; padding: 0 1; }
    DnsWatchPanel #watch-percent { width: auto; text-style: bold; margin-right: 1; }
    DnsWatchPanel #watch-spark { width: 24; }
    DnsWatchPanel > #watch-summary { height: auto; max-height: 3; padding: 0 1; }
    DnsWatchPanel > #auth-line { height: 1; padding: 0 1; }
    DnsWatchPanel > #auth-table { height: auto; max-height: 4; }
    DnsWatchPanel > #resolver-table { height: 1fr; }
    DnsWatchPanel > #resolver-records { height: 2; padding: 0 1; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.watcher: Watcher | None = None
        self.snapshot: Snapshot | None = None
        self.state = "stopped"  # stopped / watching / paused
        self.started = False
        self.resume_on_return = False
        self.announced = False
        self.ignore_unreachable = False  # u: leave out resolvers that never answered (said in the status)
        self._toast_until = 0.0  # a "complete" notification is on screen until then: never two at once
        self.problem = ""
        self.sweeping = False
        self.sweeps = 0
        self._last_sweep: float | None = None
        self._nudge = asyncio.Event()
        self._history: WatchHistory | None = None
        self.recorder: WatchRecorder | None = None  # what goes to [dns.last_watch]

    def compose(self) -> ComposeResult:
        yield Static(id="watch-status")
        with Horizontal(id="watch-head"):
            yield Static(id="watch-percent")
            yield Sparkline([], id="watch-spark")
        yield Static(id="watch-summary")
        yield Static(id="auth-line")
        # Two or three rows to read, not to navigate: the keyboard stays on the resolvers.
        auth: DataTable[Text | str] = DataTable(cursor_type="none", id="auth-table")
        auth.can_focus = False
        yield auth
        resolvers: DataTable[Text | str] = DataTable(cursor_type="row", id="resolver-table")
        yield resolvers
        yield Static(id="resolver-records")

    def on_mount(self) -> None:
        auth = self.query_one("#auth-table", DataTable)
        auth.add_column(_("Authoritative"), width=24)
        auth.add_column(_("Serial"), width=10)
        auth.add_column("AA", width=3)
        auth.add_column(_("State"), width=20)
        auth.add_column("MX", width=8)
        table = self.query_one("#resolver-table", DataTable)
        table.add_column(_("Resolver"), width=13)
        table.add_column(_("Region"), width=8)
        table.add_column(_("Answer"), width=12)
        table.add_column("TTL", width=5)
        table.add_column(_("Flips"), width=8)
        table.add_column(_("Neg. cache"), width=14, key="negative")
        self._render_status()
        self.set_interval(1.0, self._tick)

    # --- watching --------------------------------------------------------------------------------

    def make_watcher(self) -> Watcher:
        """A watcher over the project's [dns] servers (the same as `mailmig dns watch` without overrides)."""
        store = self.mailmig.store
        if self._history is None:  # one history for the panel's life: every sweep goes to it, as the CLI's do
            self._history = WatchHistory(watch_history_path(store.path))
        return make_watcher(store.project, project_config(store.project, store.path), clock.now, self._history)


    def activate(self) -> None:
        """The tab was opened: start watching on the first visit."""
        if not self.started:
            self.start()

    def start(self, fresh: bool = True) -> None:
        self.started = True
        if fresh or self.watcher is None:
            try:
                self.watcher = self.make_watcher()
            except Exception as exc:  # a bad [dns] section: say so where the results would be
                self.state, self.problem = "stopped", str(exc)
                self._render_status()
                self.app.notify(str(exc), title=_("DNS watch failed"), severity="error", timeout=15)
                return
            self._last_sweep = None
            self.announced = False
            self.problem = ""
            self._record_end()  # a fresh watch ends the one before
            self.recorder = WatchRecorder(clock.now())
        self.watcher.ignore_unreachable = self.ignore_unreachable
        self.state = "watching"
        self.run_worker(self._loop(self.watcher), name=_("DNS watch"), group="dns-watch", exclusive=True,
                        exit_on_error=False)
        self._render_status()

    def stop(self, state: str = "stopped") -> None:
        self.workers.cancel_group(self, "dns-watch")
        self.state = state
        self.sweeping = False
        if state == "stopped":
            self._record_end()
        self._render_status()

    def _record(self) -> None:
        """Save `[dns.last_watch]` when it changed (not every sweep); never in a read-only session."""
        recorder = self.recorder
        if recorder is None or not recorder.due() or self.mailmig.store.readonly:
            return
        self.mailmig.mutate(recorder.apply)
        if self.mailmig.store.project.sections.get("dns", {}).get("last_watch") == recorder.record:
            recorder.written()

    def _record_end(self) -> None:
        if self.recorder is not None:
            self.recorder.end(clock.now())
            self._record()
            self.recorder = None

    def on_unmount(self) -> None:
        """The app is closing: close the watch history, and record that the watch ended (quietly: the
        screen is going away)."""
        if self._history is not None:
            self._history.close()
        recorder, self.recorder = self.recorder, None
        if recorder is None or self.mailmig.store.readonly:
            return
        recorder.end(clock.now())
        if recorder.due():
            with contextlib.suppress(Exception):
                self.mailmig.store.update(recorder.apply)

    async def _loop(self, watcher: Watcher) -> None:
        while True:
            while self._last_sweep is not None:
                left = self._last_sweep + watcher.interval - time.monotonic()
                if left <= 0:
                    break
                self._nudge.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._nudge.wait(), timeout=left)
            self.sweeping = True
            self._render_status()
            self._last_sweep = time.monotonic()
            snapshot = await watcher.sweep()
            self.sweeping = False
            self.post_message(SnapshotReady(snapshot))

    def on_snapshot_ready(self, message: SnapshotReady) -> None:
        if self.state == "stopped":
            return
        self.sweeps += 1
        self.show_snapshot(message.snapshot)
        snap = message.snapshot
        if self.recorder is not None:
            self.recorder.observe(snap)
            self._record()
        if snap.complete and not self.announced:
            self.announced = True
            if time.monotonic() >= self._toast_until:  # one notification at a time, never a stack
                self._toast_until = time.monotonic() + 30
                self.app.bell()
                self.app.notify(complete_text(snap), title=_("Propagation complete"), timeout=30)
        elif not snap.complete and snap.cutover_at is None:
            self.announced = False  # a rollback: the next cutover is announced again

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "dns-watch" or event.state != WorkerState.ERROR:
            return
        # The app's worker handler notifies; the tab says it too and stops.
        self.state, self.sweeping, self.problem = "stopped", False, str(event.worker.error)
        self._render_status()

    def action_toggle_watch(self) -> None:
        if self.state == "stopped":
            self.start(fresh=True)
        else:
            self.stop()

    def action_toggle_pause(self) -> None:
        if self.state == "watching":
            self.stop("paused")
        elif self.state == "paused":
            self.start(fresh=False)
        else:
            self.app.notify(_("Not watching: w starts."), timeout=4)

    def action_toggle_unreachable(self) -> None:
        """Leave out (or count again) resolvers that have not answered once during this watch."""
        self.ignore_unreachable = not self.ignore_unreachable
        if self.watcher is not None:
            self.watcher.ignore_unreachable = self.ignore_unreachable
        self.app.notify(_("Resolvers that never answered are now left out of \"complete\".") if self.ignore_unreachable
                        else _("Every resolver in the list counts again."), timeout=6)
        if self.state == "watching":
            self._last_sweep = None  # sweep again now, so "complete" follows the choice at once
        self._nudge.set()
        self._render_status()

    def action_interval(self, step: int) -> None:
        watcher = self.watcher
        current = watcher.interval if watcher else float(self._configured_interval())
        if step > 0:
            new = next((i for i in INTERVALS if i > current), INTERVALS[-1])
        else:
            new = next((i for i in reversed(INTERVALS) if i < current), INTERVALS[0])
        if watcher is not None:
            watcher.interval = float(new)
        self._nudge.set()  # the wait in progress follows the new interval at once
        self._render_status()

    def action_edit_resolvers(self, text: str | None = None) -> None:
        """Edit the project's resolver list as lines of text; saved to [[dns.resolvers]], then watched."""
        if not self.mailmig.check_writable():
            return
        if text is None:
            try:
                servers = project_config(self.mailmig.store.project, self.mailmig.store.path).resolvers
            except Exception:
                servers = list(DEFAULT_RESOLVERS)
            text = resolvers_to_lines(servers)
        hint = _("One resolver a line: NAME ADDRESS[:PORT] REGION [DoH URL]; # starts a comment.")

        def done(edited: str | None) -> None:
            if edited is None:
                return
            try:
                servers = parse_resolver_lines(edited)
            except ValueError as exc:
                self.app.notify(str(exc), title=_("Resolvers not saved"), severity="error", timeout=10)
                self.action_edit_resolvers(edited)  # back to the editor with the text as typed
                return

            def change(project: Project) -> None:
                project.sections.setdefault("dns", {})["resolvers"] = resolvers_to_toml(servers)

            self.mailmig.mutate(change, _("set the DNS resolver list ({n} resolvers)").format(n=len(servers)))
            if self.mailmig.store.project.sections.get("dns", {}).get("resolvers") != resolvers_to_toml(servers):
                return  # not saved (the app has said why)
            if self.state != "stopped":
                self.stop()
                self.start(fresh=True)

        self.app.push_screen(TextDialog(_("DNS resolvers"), text, hint), done)

    def _configured_interval(self) -> float:
        try:
            return project_config(self.mailmig.store.project, self.mailmig.store.path).interval
        except Exception:
            return 30.0

    def suspend(self) -> None:
        """The screen was left: stop asking (and remember to carry on when it comes back)."""
        self.resume_on_return = self.state == "watching"
        if self.resume_on_return:
            self.workers.cancel_group(self, "dns-watch")
            self.sweeping = False

    def resume(self) -> None:
        if self.resume_on_return and self.state == "watching":
            self.resume_on_return = False
            self.start(fresh=False)

    # --- rendering -------------------------------------------------------------------------------

    def _render_status(self) -> None:
        interval = self.watcher.interval if self.watcher else self._configured_interval()
        every = _("every {s} s").format(s=f"{interval:g}")
        if self.state == "watching":
            text = Text("● " + _("watching"), style="bold")
            text.append(" · " + every)
            if self.sweeping:
                text.append(" · ⟳ " + _("asking the servers…"))
            elif self.snapshot is not None:
                text.append(" · " + _("last sweep {time} ({s:.1f} s)").format(
                    time=self.snapshot.at.astimezone().strftime("%H:%M:%S"), s=self.snapshot.sweep_seconds))
        elif self.state == "paused":
            text = Text("⏸ " + _("paused"), style="bold")
            text.append(" · " + every + " · " + _("space resumes"))
        else:
            text = Text("■ " + _("stopped"), style="bold")
            text.append(" · " + every + " · " + _("w starts watching"))
        if self.ignore_unreachable:
            text.append(" · " + _("unreachable left out (u)"), style="bold yellow")
        if self.problem:
            text = Text("✗ " + self.problem, style="bold red")
        self.query_one("#watch-status", Static).update(text)

    def show_snapshot(self, snap: Snapshot) -> None:
        """Render one sweep (from the worker, or a fixed one in tests)."""
        self.snapshot = snap
        self._render_status()
        usable = [h for h in snap.resolvers if h.usable]
        percent = Text(_("New MX on {n} of {total} resolvers: {percent:.0f}%").format(
            n=snap.on_new, total=snap.counted, percent=snap.percent_new))
        if not usable and snap.on_new == 0:
            percent = Text("✗ " + _("no usable resolver ({statuses})").format(
                statuses=", ".join(sorted({_(ANSWER_CLASSES.get(h.status, ('', h.status, ''))[1])
                                           for h in snap.resolvers})) or "—"), style="bold red")
        self.query_one("#watch-percent", Static).update(percent)
        spark = self.query_one("#watch-spark", Sparkline)
        points = spark_points(snap.history)
        spark.styles.width = max(1, min(SPARK_POINTS, len(snap.history)))
        spark.data = points
        self.query_one("#watch-summary", Static).update(self._summary(snap))
        line = self.query_one("#auth-line", Static)
        line.update(self._auth_line(snap))
        line.display = not snap.auth_converged  # converged: the table's State column says it already

        auth = self.query_one("#auth-table", DataTable)
        auth.clear()
        for row in snap.authoritative:
            name = row.server.name if row.server.address in row.server.name else f"{row.server.name} {row.server.label}"
            state = label(row.status) if row.status != OK else (
                Text("! " + _("lagging"), style="bold yellow") if row.lagging else Text("✓ " + _("current"), style="green"))
            mx = row.states.get("mx", "") if row.status == OK else ""
            auth.add_row(name, str(row.serial or "—"), _("yes") if row.aa else _("no"), state,
                         label(mx) if mx else "—")

        table = self.query_one("#resolver-table", DataTable)
        cursor = table.cursor_row
        table.clear()
        for health in snap.resolvers:
            o = snap.observation(health.server.name, "mx")
            kind = answer_class(o, health)
            ttl = f"{o.ttl} s" if o is not None and o.ttl is not None and health.usable else "—"
            flips = hhmm(o.flip_at) if o is not None and o.state in (OLD, MIXED) else "—"
            table.add_row(health.server.name, health.server.region or "—", label(kind), ttl, flips,
                          self._negative(snap, health), key=health.server.name)
        table.move_cursor(row=cursor)

    def _summary(self, snap: Snapshot) -> Text:
        """Two lines: who has not answered (or "complete"), then the switch-off time or why it is pending."""
        summary = Text()
        if not any(t.key == "mx" for t in snap.targets):
            summary.append("✗ " + _("the new provider has no MX in the project (new.mx = []): nothing to watch"),
                           style="bold red")
            return summary
        first: list[str] = progress_details(snap)
        if snap.complete:
            summary.append("✓ " + _("Complete") + ": " + progress_text(snap), style="bold green")
        elif snap.cutover_at is not None:
            if snap.worst_case_complete is not None and not snap.unknown:
                first.append(_("worst case by {time}").format(time=hhmm(snap.worst_case_complete)))
            if snap.draining:
                first.append(_("old MX still handed out by {n}").format(n=snap.draining))
            summary.append(" · ".join(first))
        elif snap.authoritative and any(r.status == OK for r in snap.authoritative) and not snap.lagging:
            summary.append(" · ".join([_("The zone still publishes the old MX: nothing to propagate yet."), *first]))
        else:
            summary.append(" · ".join(first))
        line2 = Text()
        if snap.safe_to_switch_off is not None:
            line2.append((_("old provider can be switched off after {time}") if snap.safe_final else
                          _("switch-off expected after {time}")).format(time=hhmm(snap.safe_to_switch_off)),
                         style="bold" if snap.safe_final else "")
        elif snap.cutover_at is not None or snap.lagging or any(r.status != OK for r in snap.authoritative):
            line2.append("! " + _("switch-off pending: {reason}").format(reason=snap.switch_off_pending),
                         style="bold yellow")
        if line2:
            if summary:
                summary.append("\n")
            summary.append_text(line2)
        return summary

    def _records_line(self, snap: Snapshot, name: str) -> Text:
        """Every record's state for one resolver (SPF, DKIM, autodiscover, SRV flap with a lagging secondary)."""
        text = Text(f"{name}: ", style="bold")
        since = snap.failing_since.get(name)
        standing = snap.standing.get(name, "")
        if since is not None:
            word = _("never answered") if standing == "unreachable" else _("not answering")
            text.append(f"✗ {word} " + _("since {time}").format(time=hhmm(since)) + " · ", style="bold red")
        for target in snap.targets:
            o = snap.observation(name, target.key)
            if o is None:
                continue
            kind = o.answer.status if o.state == ERROR and o.answer.status in ANSWER_CLASSES else o.state
            mark, word, style = ANSWER_CLASSES.get(kind, ("?", kind, "yellow"))
            short = target.key.replace("srv:_", "").replace("._tcp", "").replace("dkim:", "dkim ")
            text.append(f"{short} ", style="bold")
            text.append(f"{mark} {_(word)}", style=style)
            text.append("  ")
        return text

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id != "resolver-table" or self.snapshot is None or event.row_key.value is None:
            return
        self.query_one("#resolver-records", Static).update(self._records_line(self.snapshot, event.row_key.value))

    def _auth_line(self, snap: Snapshot) -> Text:
        if not snap.authoritative:
            return Text("✗ " + _("no authoritative servers found for {domain}: no resolver gave its NS set").format(
                domain=snap.targets[0].name if snap.targets else "—"), style="bold red")
        failed = [r for r in snap.authoritative if r.status != OK]
        if len(failed) == len(snap.authoritative):
            return Text("✗ " + _("authoritative servers unreachable: {statuses}").format(
                statuses=", ".join(sorted({r.status for r in failed}))), style="bold red")
        if snap.auth_converged:
            return Text("✓ " + _("authoritative converged on serial {serial}").format(serial=snap.auth_serial),
                        style="green")
        lagging = ", ".join(r.server.label for r in snap.lagging + failed)
        return Text("! " + _("authoritative lagging: {servers} (newest serial {serial})").format(
            servers=lagging, serial=snap.auth_serial or "—"), style="bold yellow")

    def _negative(self, snap: Snapshot, health: ResolverHealth) -> str:
        """The longest negative-cache countdown among a resolver's "does not exist" answers: first for
        names the zone now publishes (the resolver will flip when it runs out), else for any."""
        if not health.usable:
            return "—"
        now = clock.now()
        worst: tuple[bool, float, str] | None = None
        for o in snap.observations:
            if o.resolver != health.server.name or o.state != NEGATIVE or o.ttl is None:
                continue
            until = o.flip_at or snap.at + timedelta(seconds=o.ttl)
            candidate = (o.flip_at is not None, (until - now).total_seconds(), o.key.split(":")[-1])
            if worst is None or candidate[:2] > worst[:2]:
                worst = candidate
        if worst is None:
            return "—"
        return f"{worst[2][:8]} {countdown(worst[1])}"

    def _tick(self) -> None:
        """Once a second: the negative-cache countdowns follow the clock between sweeps."""
        snap = self.snapshot
        if snap is None or not self.display or not self.is_on_screen:
            return
        table = self.query_one("#resolver-table", DataTable)
        for health in snap.resolvers:
            with contextlib.suppress(Exception):
                table.update_cell(health.server.name, "negative", self._negative(snap, health))
