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
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from mailmig_tui.core.dns.audit import discover_authoritative
from mailmig_tui.core.dns.config import Server
from mailmig_tui.core.dns.query import ERROR, OK, Answer, ask
from mailmig_tui.core.dns.records import MIXED, NEGATIVE, NEW, OLD, Target, classify

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
    percent_new: float  # of usable resolvers serving only the new MX
    history: list[tuple[datetime, float]]
    worst_case_complete: datetime | None
    draining: int  # usable resolvers still handing out an old MX
    safe_to_switch_off: datetime | None
    complete: bool  # authoritative converged on the new MX and every usable resolver serves it

    def observation(self, resolver: str, key: str) -> Observation | None:
        return next((o for o in self.observations if o.resolver == resolver and o.key == key), None)

    @property
    def lagging(self) -> list[AuthRow]:
        return [r for r in self.authoritative if r.lagging]


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Watcher:
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
    new_mx_seen_at: datetime | None = None

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
        return self._snapshot(at, list(auth_rows), per_resolver, time.monotonic() - started)

    async def _ask_authoritative(self, server: Server) -> AuthRow:
        questions = [(self.domain, "SOA"), *((t.name, t.rdtype) for t in self.targets)]
        answers = await asyncio.gather(*(ask(server, n, t, timeout=self.timeout, recursion=False) for n, t in questions))
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
        answers = await asyncio.gather(*(ask(server, t.name, t.rdtype, timeout=self.timeout) for t in self.targets))
        if all(a.failed for a in answers):
            # Re-check it next sweep rather than trust it: it may have died or started refusing.
            self.health[server.name] = ResolverHealth(server, answers[0].status, answers[0].detail)
        return health, list(answers)

    def _snapshot(self, at: datetime, auth: list[AuthRow], per_resolver: list[tuple[ResolverHealth, list[Answer]]],
                  seconds: float) -> Snapshot:
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
        if mx is not None and newest:
            mx_answer = newest[0].answers["mx"]
            if auth_states.get("mx") == NEW and self.new_mx_seen_at is None:
                self.new_mx_seen_at = at
            elif auth_states.get("mx") == OLD and mx_answer.ttl:
                self.old_mx_ttl = max(self.old_mx_ttl, mx_answer.ttl)

        observations: list[Observation] = []
        health_list: list[ResolverHealth] = []
        for health, answers in per_resolver:
            health_list.append(health)
            for target, answer in zip(self.targets, answers, strict=False):
                state = classify(target, answer)
                flip = None
                if auth_states.get(target.key) == NEW and state in (OLD, MIXED) and answer.ttl is not None:
                    flip = at + timedelta(seconds=answer.ttl)
                elif auth_states.get(target.key) == NEW and state == NEGATIVE and answer.negative_ttl is not None:
                    flip = at + timedelta(seconds=answer.negative_ttl)
                observations.append(Observation(health.server.name, target.key, state, answer, flip))

        usable = [h for h in health_list if h.usable]
        mx_obs = [o for o in observations if o.key == "mx"]
        on_new = sum(1 for o in mx_obs if o.state == NEW)
        percent = 100.0 * on_new / len(usable) if usable else 0.0
        self.history.append((at, percent))
        del self.history[:-MAX_HISTORY]
        draining = sum(1 for o in mx_obs if o.state in (OLD, MIXED))
        worst: datetime | None = None
        safe_off: datetime | None = None
        mx_new = auth_states.get("mx") == NEW
        if mx_new:
            flips = [o.flip_at for o in mx_obs if o.flip_at is not None]
            worst = max([at, *flips])
            # Any cache anywhere that fetched the old MX before the change has expired one old TTL after
            # we first saw the new MX (the change happened no later than that).
            seen = self.new_mx_seen_at or at
            safe_off = max(worst, seen + timedelta(seconds=self.old_mx_ttl))
        complete = mx_new and converged and bool(usable) and on_new == len(usable) and len(mx_obs) == len(usable)
        return Snapshot(at, seconds, list(self.targets), auth, converged, top, auth_states, health_list, observations,
                        percent, list(self.history), worst, draining, safe_off, complete)


STATES = (NEW, OLD, MIXED, NEGATIVE, ERROR)


def snapshot_to_dict(snap: Snapshot) -> dict[str, object]:
    """A JSON-ready view of a snapshot (the `--json` event stream and any other consumer)."""

    def answer(a: Answer) -> dict[str, object]:
        return {"status": a.status, "values": list(a.values), "ttl": a.ttl, "negative_ttl": a.negative_ttl,
                "aa": a.aa, "tcp": a.tcp, "detail": a.detail}

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
        "complete": snap.complete,
    }
