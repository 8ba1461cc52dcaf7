"""The propagation watcher: authoritative servers first, then every resolver, one snapshot per sweep.

Every server is asked concurrently with a per-query timeout, so one dead resolver costs at most one
timeout per sweep and never stalls the others. A sweep returns a `Snapshot` (plain dataclasses) the CLI
prints and a UI renders; `run()` yields one per interval until its stop event is set or it is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from mailmig_tui.core.dns.audit import discover_authoritative
from mailmig_tui.core.dns.config import Server
from mailmig_tui.core.dns.query import ERROR, OK, Answer, ask
from mailmig_tui.core.dns.records import MIXED, NEGATIVE, NEW, OLD, Target, classify
from mailmig_tui.core.i18n import _

# Resolver health, from the check made before a resolver is used.
HEALTHY, NO_RECURSION = "ok", "no-recursion"
MAX_HISTORY = 1000


@dataclass(frozen=True)
class ResolverHealth:
    server: Server
    status: str  # ok / no-recursion / timeout / refused / servfail / error
    detail: str = ""

    @property
    def usable(self) -> bool:
        return self.status == HEALTHY


async def probe_resolver(server: Server, domain: str, timeout: float) -> ResolverHealth:
    """Check a resolver before use: it must answer, and with recursion available."""
    probe = await ask(server, domain, "SOA", timeout=timeout)
    if probe.failed:
        return ResolverHealth(server, probe.status, probe.detail)
    if not probe.ra:
        return ResolverHealth(server, NO_RECURSION)
    return ResolverHealth(server, HEALTHY)


async def probe_resolvers(servers: list[Server], domain: str, timeout: float) -> list[ResolverHealth]:
    """Every resolver checked at once: dead ones cost one timeout in all, not one each."""
    return list(await asyncio.gather(*(probe_resolver(s, domain, timeout) for s in servers)))


@dataclass(frozen=True)
class Observation:
    """One resolver's answer about one record."""

    resolver: str
    key: str
    state: str  # new / old / mixed / negative / error
    answer: Answer
    flip_at: datetime | None = None  # old/mixed/negative while the zone has the new value: when it expires

    @property
    def ttl(self) -> int | None:
        return self.answer.negative_ttl if self.state == NEGATIVE else self.answer.ttl


@dataclass(frozen=True)
class AuthRow:
    server: Server
    serial: int | None
    aa: bool
    status: str  # ok / timeout / refused / servfail / error / not-authoritative
    states: dict[str, str]
    answers: dict[str, Answer]
    lagging: bool = False


# A resolver's standing in the watch (what "propagated" is made of).
STANDING_NEW = "new"  # answered the new MX in a sweep after the authoritative servers all served it
STANDING_OLD = "old"  # answers, but not (yet) the new MX since the cutover
STANDING_UNKNOWN = "unknown"  # answered before, not answering now, and its last answer was not the new MX
STANDING_UNREACHABLE = "unreachable"  # has not answered once during this watch


@dataclass
class Snapshot:
    at: datetime
    sweep_seconds: float
    targets: list[Target]
    authoritative: list[AuthRow]
    auth_converged: bool
    auth_serial: int | None
    auth_states: dict[str, str]  # what the (newest) authoritative serves, per target
    resolvers: list[ResolverHealth]
    observations: list[Observation]
    percent_new: float  # of the resolvers counted (all, or all but the unreachable when left out) on the new MX
    history: list[tuple[datetime, float]]
    worst_case_complete: datetime | None
    draining: int  # resolvers whose answer in this sweep is an old MX
    safe_to_switch_off: datetime | None  # None while pending (see switch_off_pending)
    complete: bool  # every authoritative server and every resolver counted answered the new MX (see module doc)
    cutover_at: datetime | None = None  # when the last authoritative server was seen serving the new MX
    standing: dict[str, str] = field(default_factory=dict)  # resolver name -> new / old / unknown / unreachable
    failing_since: dict[str, datetime] = field(default_factory=dict)  # resolvers not answering, since when
    ignore_unreachable: bool = False
    on_new: int = 0
    counted: int = 0
    safe_final: bool = False  # the switch-off time is no longer a prediction (propagation complete)
    switch_off_pending: str = ""  # why there is no switch-off time yet
    progress_text: str = ""  # "complete on 18 of 20; 2 not answering since 10:04:12 (…)"

    def observation(self, resolver: str, key: str) -> Observation | None:
        return next((o for o in self.observations if o.resolver == resolver and o.key == key), None)

    @property
    def lagging(self) -> list[AuthRow]:
        return [r for r in self.authoritative if r.lagging]

    @property
    def unknown(self) -> list[str]:
        return [n for n, s in self.standing.items() if s == STANDING_UNKNOWN]

    @property
    def unreachable(self) -> list[str]:
        return [n for n, s in self.standing.items() if s == STANDING_UNREACHABLE]


def _now() -> datetime:
    return datetime.now(UTC)


def clock_text(when: datetime | None) -> str:
    return when.astimezone().strftime("%H:%M:%S") if when else "—"


def _names(names: list[str], limit: int = 3) -> str:
    return ", ".join(names[:limit]) + (", …" if len(names) > limit else "")


@dataclass
class _Seen:
    sweep: int
    state: str
    at: datetime


@dataclass
class Watcher:
    """Sweeps the authoritative servers and the resolvers and keeps what "propagated" needs across sweeps.

    Propagated (`Snapshot.complete`): every authoritative server answers the new MX, and every resolver
    in the list answered the new MX in a sweep AFTER the one in which all the authoritative servers were
    first seen serving it. A resolver that does not answer is unknown, never new; one that has never
    answered during the watch is unreachable and counts against completion unless `ignore_unreachable`.
    Any authoritative server seen serving the old MX again (a rollback, a lagging secondary) restarts it.

    Safe to switch off: given only when no resolver is unknown (or unreachable and not left out):
    the old MX's TTL after the cutover (the last authoritative server seen on the new MX) and no
    earlier than the last resolver's flip (a prediction until complete, then final)."""

    domain: str
    targets: list[Target]
    resolvers: list[Server]
    authoritative: list[Server] = field(default_factory=list)  # empty: discovered from the NS set
    timeout: float = 1.0
    interval: float = 30.0
    old_mx_ttl: int = 0
    clock: Callable[[], datetime] = _now
    history: list[tuple[datetime, float]] = field(default_factory=list)
    health: dict[str, ResolverHealth] = field(default_factory=dict)
    ignore_unreachable: bool = False
    sweeps: int = 0
    cutover_sweep: int | None = None
    cutover_at: datetime | None = None
    _last: dict[str, _Seen] = field(default_factory=dict)  # each resolver's last MX answer
    _new_since: dict[str, datetime] = field(default_factory=dict)  # first seen on the new MX after the cutover
    _failing_since: dict[str, datetime] = field(default_factory=dict)
    # Called with every snapshot (the history beside the project, see history.py); must not raise.
    on_sweep: Callable[[Snapshot], None] | None = None

    @property
    def mx(self) -> Target | None:
        return next((t for t in self.targets if t.key == "mx"), None)

    async def run(self, stop: asyncio.Event | None = None) -> AsyncIterator[Snapshot]:
        """One snapshot now, then one per `interval` (read each time, so a UI may change it)."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            started = time.monotonic()
            yield await self.sweep()
            wait = max(0.0, self.interval - (time.monotonic() - started))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)

    async def sweep(self) -> Snapshot:
        started = time.monotonic()
        if not self.authoritative:
            # Check the resolvers together first, so discovery does not wait on dead ones one by one.
            unchecked = [r for r in self.resolvers if r.name not in self.health]
            for health in await probe_resolvers(unchecked, self.domain, self.timeout):
                self.health[health.server.name] = health
            usable = [r for r in self.resolvers if self.health.get(r.name, ResolverHealth(r, HEALTHY)).usable]
            self.authoritative = await discover_authoritative(self.domain, usable, self.timeout)
        auth_task = asyncio.gather(*(self._ask_authoritative(s) for s in self.authoritative))
        resolver_task = asyncio.gather(*(self._ask_resolver(r) for r in self.resolvers))
        auth_rows, per_resolver = await asyncio.gather(auth_task, resolver_task)
        at = self.clock()
        snap = self._snapshot(at, list(auth_rows), per_resolver, time.monotonic() - started)
        if self.on_sweep is not None:
            self.on_sweep(snap)
        return snap

    async def _ask(self, server: Server, name: str, rdtype: str, recursion: bool = True) -> Answer:
        answer = await ask(server, name, rdtype, timeout=self.timeout, recursion=recursion)
        return replace(answer, at=self.clock())  # timed when it arrived, not when the sweep ends

    async def _ask_authoritative(self, server: Server) -> AuthRow:
        questions = [(self.domain, "SOA"), *((t.name, t.rdtype) for t in self.targets)]
        answers = await asyncio.gather(*(self._ask(server, n, t, recursion=False) for n, t in questions))
        soa, rest = answers[0], answers[1:]
        by_key = {t.key: a for t, a in zip(self.targets, rest, strict=True)}
        status = soa.status if soa.failed else ("not-authoritative" if not soa.aa else OK)
        states = {t.key: classify(t, by_key[t.key]) for t in self.targets}
        return AuthRow(server, soa.serial, soa.aa, status, states, by_key)

    async def _ask_resolver(self, server: Server) -> tuple[ResolverHealth, list[Answer]]:
        health = self.health.get(server.name)
        if health is None or not health.usable:
            health = await probe_resolver(server, self.domain, self.timeout)
            self.health[server.name] = health
            if not health.usable:
                return health, []
        answers = await asyncio.gather(*(self._ask(server, t.name, t.rdtype) for t in self.targets))
        if all(a.failed for a in answers):
            # Re-check it next sweep rather than trust it: it may have died or started refusing.
            self.health[server.name] = ResolverHealth(server, answers[0].status, answers[0].detail)
        return health, list(answers)

    def _track_authoritative(self, at: datetime, auth: list[AuthRow]) -> None:
        """The cutover: the first sweep in which every authoritative server answered the new MX."""
        mx_states = [r.states.get("mx") for r in auth if r.status == OK]
        if any(s in (OLD, MIXED) for s in mx_states):
            # The old MX is served again (or still, by a lagging server): the clock starts again.
            self.cutover_sweep = self.cutover_at = None
            self._new_since.clear()
            for r in auth:
                a = r.answers.get("mx")
                if r.status == OK and r.states.get("mx") == OLD and a is not None and a.ttl:
                    self.old_mx_ttl = max(self.old_mx_ttl, a.ttl)
            return
        if self.cutover_sweep is None and auth and len(mx_states) == len(auth) and all(s == NEW for s in mx_states):
            self.cutover_sweep = self.sweeps
            self.cutover_at = max((a.at for r in auth if (a := r.answers.get("mx")) is not None and a.at), default=at)

    def _track_resolver(self, name: str, mx: Observation | None, at: datetime) -> str:
        """Update one resolver's record from this sweep's MX answer; return its standing."""
        if mx is None or mx.answer.failed:
            self._failing_since.setdefault(name, at)
        else:
            self._failing_since.pop(name, None)
            self._last[name] = _Seen(self.sweeps, mx.state, mx.answer.at or at)
        last = self._last.get(name)
        if last is None:
            return STANDING_UNREACHABLE
        if last.state == NEW and self.cutover_sweep is not None and last.sweep > self.cutover_sweep:
            self._new_since.setdefault(name, last.at)
            return STANDING_NEW
        self._new_since.pop(name, None)
        return STANDING_UNKNOWN if name in self._failing_since else STANDING_OLD

    def _snapshot(self, at: datetime, auth: list[AuthRow], per_resolver: list[tuple[ResolverHealth, list[Answer]]],
                  seconds: float) -> Snapshot:
        self.sweeps += 1
        answering = [r for r in auth if r.status == OK]
        top = max((r.serial for r in answering if r.serial is not None), default=None)
        auth = [AuthRow(r.server, r.serial, r.aa, r.status, r.states, r.answers,
                        lagging=r.status == OK and top is not None and r.serial is not None and r.serial < top)
                for r in auth]
        newest = [r for r in auth if r.status == OK and r.serial == top]
        auth_states = dict(newest[0].states) if newest else {}
        converged = bool(auth) and len(newest) == len(auth) and all(
            r.answers[t.key].values == newest[0].answers[t.key].values for r in newest for t in self.targets)
        mx = self.mx
        if mx is not None:
            self._track_authoritative(at, auth)
        auth_all_new = bool(auth) and all(r.status == OK and r.states.get("mx") == NEW for r in auth)

        observations: list[Observation] = []
        health_list: list[ResolverHealth] = []
        for health, answers in per_resolver:
            health_list.append(health)
            for target, answer in zip(self.targets, answers, strict=False):
                state = classify(target, answer)
                flip = None
                when = answer.at or at
                if auth_states.get(target.key) == NEW and state in (OLD, MIXED) and answer.ttl is not None:
                    flip = when + timedelta(seconds=answer.ttl)
                elif auth_states.get(target.key) == NEW and state == NEGATIVE and answer.negative_ttl is not None:
                    flip = when + timedelta(seconds=answer.negative_ttl)
                observations.append(Observation(health.server.name, target.key, state, answer, flip))

        standing: dict[str, str] = {}
        mx_obs: dict[str, Observation] = {o.resolver: o for o in observations if o.key == "mx"}
        for health in health_list:
            name = health.server.name
            standing[name] = self._track_resolver(name, mx_obs.get(name), at) if mx is not None else STANDING_OLD
        counted = [n for n, s in standing.items() if not (self.ignore_unreachable and s == STANDING_UNREACHABLE)]
        on_new = sum(1 for n in counted if standing[n] == STANDING_NEW)
        percent = 100.0 * on_new / len(counted) if counted else 0.0
        self.history.append((at, percent))
        del self.history[:-MAX_HISTORY]
        draining = sum(1 for o in mx_obs.values() if o.state in (OLD, MIXED))
        flips = [o.flip_at for o in mx_obs.values() if o.flip_at is not None and standing.get(o.resolver) == STANDING_OLD]
        worst = max([at, *flips]) if auth_all_new and self.cutover_at is not None else None
        complete = (mx is not None and auth_all_new and self.cutover_sweep is not None and bool(counted)
                    and on_new == len(counted))

        pending = self._pending(mx, auth, standing)
        safe_off: datetime | None = None
        if not pending and self.cutover_at is not None:
            new_at = [self._new_since[n] for n in counted if n in self._new_since]
            safe_off = max([self.cutover_at + timedelta(seconds=self.old_mx_ttl), *new_at, *flips])
        failing = {n: self._failing_since[n] for n in standing if n in self._failing_since}
        snap = Snapshot(at, seconds, list(self.targets), auth, converged, top, auth_states, health_list, observations,
                        percent, list(self.history), worst, draining, safe_off, complete, self.cutover_at, standing,
                        failing, self.ignore_unreachable, on_new, len(counted), complete and safe_off is not None,
                        pending)
        snap.progress_text = progress_text(snap)
        return snap

    def _pending(self, mx: Target | None, auth: list[AuthRow], standing: dict[str, str]) -> str:
        """Why there is no switch-off time ('' when there can be one)."""
        if mx is None:
            return _("the project names no new MX: nothing to watch")
        if not auth:
            return _("no authoritative server known")
        dead = [r for r in auth if r.status != OK]
        if dead:
            return _("authoritative {servers} not answering ({status})").format(
                servers=_names([r.server.label for r in dead]), status=dead[0].status)
        old = [r for r in auth if r.states.get("mx") != NEW]
        if old and len(old) < len(auth):
            return _("authoritative {servers} still serves the old MX").format(servers=_names([r.server.label for r in old]))
        if old or self.cutover_at is None:
            return _("the zone still publishes the old MX")
        unknown = [n for n, s in standing.items() if s == STANDING_UNKNOWN]
        if unknown:
            return _("{n} resolver(s) stopped answering before serving the new MX: {names}").format(
                n=len(unknown), names=_names(unknown))
        unreachable = [n for n, s in standing.items() if s == STANDING_UNREACHABLE]
        if unreachable and not self.ignore_unreachable:
            return _("{n} resolver(s) never answered: {names}").format(n=len(unreachable), names=_names(unreachable))
        return ""


def progress_head(snap: Snapshot) -> str:
    total = len(snap.standing)
    if snap.complete:
        return _("complete on {n} of {total}").format(n=snap.on_new, total=total)
    return _("new MX on {n} of {total}").format(n=snap.on_new, total=total)


def progress_details(snap: Snapshot) -> list[str]:
    """The resolvers not answering: "2 not answering since 10:04:12 (a, b)", and the unknown ones."""
    parts = []
    unreachable, unknown = snap.unreachable, snap.unknown
    if unreachable:
        since = min(snap.failing_since[n] for n in unreachable if n in snap.failing_since)
        part = _("{n} not answering since {time} ({names})").format(
            n=len(unreachable), time=clock_text(since), names=_names(unreachable))
        if snap.ignore_unreachable:
            part += " " + _("left out")
        parts.append(part)
    if unknown:
        parts.append(_("{n} unknown, stopped answering ({names})").format(n=len(unknown), names=_names(unknown)))
    return parts


def progress_text(snap: Snapshot) -> str:
    """One line: "complete on 18 of 20; 2 not answering since 10:04:12 (a, b)" and the like."""
    return "; ".join([progress_head(snap), *progress_details(snap)])


STATES = (NEW, OLD, MIXED, NEGATIVE, ERROR)


def snapshot_to_dict(snap: Snapshot) -> dict[str, object]:
    """A JSON-ready view of a snapshot (the `--json` event stream and any other consumer)."""

    def answer(a: Answer) -> dict[str, object]:
        return {"status": a.status, "values": list(a.values), "ttl": a.ttl, "negative_ttl": a.negative_ttl,
                "aa": a.aa, "tcp": a.tcp, "detail": a.detail, "at": a.at}

    return {
        "at": snap.at,
        "sweep_seconds": round(snap.sweep_seconds, 3),
        "authoritative": [{
            "name": r.server.name, "address": r.server.label, "serial": r.serial, "aa": r.aa, "status": r.status,
            "lagging": r.lagging, "states": r.states,
        } for r in snap.authoritative],
        "authoritative_converged": snap.auth_converged,
        "serial": snap.auth_serial,
        "zone_states": snap.auth_states,
        "resolvers": [{"name": h.server.name, "address": h.server.label, "region": h.server.region,
                       "status": h.status, "detail": h.detail} for h in snap.resolvers],
        "observations": [{"resolver": o.resolver, "record": o.key, "state": o.state, "ttl": o.ttl,
                          "flip_at": o.flip_at, "answer": answer(o.answer)} for o in snap.observations],
        "percent_new": round(snap.percent_new, 1),
        "history": [[at, round(p, 1)] for at, p in snap.history[-50:]],
        "worst_case_complete": snap.worst_case_complete,
        "old_mx_draining": snap.draining,
        "safe_to_switch_off": snap.safe_to_switch_off,
        "safe_to_switch_off_final": snap.safe_final,
        "switch_off_pending": snap.switch_off_pending,
        "cutover_at": snap.cutover_at,
        "standing": snap.standing,
        "unknown": snap.unknown,
        "unreachable": snap.unreachable,
        "not_answering_since": snap.failing_since,
        "ignore_unreachable": snap.ignore_unreachable,
        "summary": snap.progress_text,
        "complete": snap.complete,
    }
