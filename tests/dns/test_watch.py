"""The propagation watcher against real NSD and Unbound: the zone changes and resolvers flip.

No timed assertions: loops wait for an outcome up to a generous deadline; the order of events (the
sticky resolver flips last) is asserted, not how long anything took.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from mailmig_tui.core.dns.query import NXDOMAIN, REFUSED, SERVFAIL, TIMEOUT
from mailmig_tui.core.dns.records import NEGATIVE, NEW, OLD, derive_targets
from mailmig_tui.core.dns.watch import Snapshot, Watcher, snapshot_to_dict
from mailmig_tui.core.model import Project
from mailmig_tui.lab.dns import DnsLab
from tests.dns.completion import assert_completion
from tests.dns.conftest import lab_args, lab_config, run_cli, write_project

pytestmark = pytest.mark.lab

NEW_MX = ("@ 5 IN MX 10 mx1.newmail.test.", "@ 5 IN MX 20 mx2.newmail.test.")


def _watcher(lab: DnsLab, project: Project) -> Watcher:
    config = lab_config(lab)
    return Watcher(project.domain, derive_targets(project, config), config.resolvers, config.authoritative,
                   timeout=config.timeout, interval=0.5, old_mx_ttl=project.plan.old_mx_ttl)


async def _until(watcher: Watcher, done: object, deadline: float = 60.0) -> list[Snapshot]:
    snaps: list[Snapshot] = []
    stop = asyncio.Event()
    end = time.monotonic() + deadline
    async for snap in watcher.run(stop):
        snaps.append(snap)
        if done(snap) or time.monotonic() > end:  # type: ignore[operator]
            stop.set()
    return snaps


def test_propagation_sticky_last_and_failures_classified(fresh_lab: DnsLab, project: Project, dkim_key: str) -> None:
    watcher = _watcher(fresh_lab, project)
    watcher.ignore_unreachable = True  # refused, servfail and timeout never answer: left out, as asked

    async def scenario() -> tuple[Snapshot, Snapshot, list[Snapshot]]:
        before = await watcher.sweep()  # starts every resolver's TTL clock on the old answers
        fresh_lab.edit("corp.test", remove=("@ 5 IN MX",),
                       add=(*NEW_MX, f'mm1._domainkey 5 IN TXT "v=DKIM1; k=rsa; p={dkim_key}"'))
        after_change = await watcher.sweep()
        rest = await _until(watcher, lambda s: s.complete)
        return before, after_change, rest

    before, changed, rest = asyncio.run(scenario())
    health = {h.server.name: h.status for h in before.resolvers}
    assert health == {"plain1": "ok", "plain2": "ok", "sticky": "ok", "refused": REFUSED,
                      "servfail": SERVFAIL, "timeout": TIMEOUT}
    assert before.auth_converged and before.auth_states["mx"] == OLD and before.percent_new == 0
    assert before.draining == 3 and before.worst_case_complete is None
    # The new DKIM name does not exist yet: a negative answer with its negative-cache TTL, not a failure.
    dkim = before.observation("plain1", "dkim:mm1")
    assert dkim is not None and dkim.state == NEGATIVE and dkim.answer.status == NXDOMAIN and dkim.ttl == 3
    sticky = before.observation("sticky", "mx")
    assert sticky is not None and sticky.ttl is not None and sticky.ttl > 5  # held beyond the zone's TTL

    assert changed.auth_converged and changed.auth_states["mx"] == NEW and changed.auth_serial == fresh_lab.serials["corp.test"]
    for o in changed.observations:
        if o.key == "mx" and o.state == OLD:
            assert o.flip_at is not None and o.flip_at >= changed.at
    assert changed.worst_case_complete is not None and changed.safe_to_switch_off is not None

    snaps = [changed, *rest]
    assert snaps[-1].complete, "propagation never completed"
    # `complete` exactly when the definition holds, on every snapshot (unreachable ones left out here).
    assert_completion([before, *snaps], list(health), [True] * (len(snaps) + 1))

    def first_new(name: str) -> int:
        return next(i for i, s in enumerate(snaps) if (o := s.observation(name, "mx")) and o.state == NEW)

    assert first_new("sticky") > max(first_new("plain1"), first_new("plain2"))
    last = snaps[-1]
    assert last.percent_new == 100 and last.draining == 0
    assert last.history[0][1] == 0 and last.history[-1][1] == 100
    percents = [p for _at, p in last.history]
    assert percents == sorted(percents)
    assert last.observation("plain1", "dkim:mm1").state == NEW  # type: ignore[union-attr]
    # Failing resolvers stay exactly what they are and are left out of the percentage.
    assert {h.server.name: h.status for h in last.resolvers if not h.usable} == {
        "refused": REFUSED, "servfail": SERVFAIL, "timeout": TIMEOUT}
    assert all(o.resolver not in ("refused", "servfail", "timeout") for o in last.observations)
    json.dumps(snapshot_to_dict(last), default=str)


def test_lagging_secondary(fresh_lab: DnsLab, project: Project) -> None:
    watcher = _watcher(fresh_lab, project)
    fresh_lab.edit("corp.test", remove=("@ 5 IN MX",), add=NEW_MX, servers=("primary",))
    lagging = asyncio.run(watcher.sweep())
    assert not lagging.auth_converged
    rows = {r.server.address: r for r in lagging.authoritative}
    assert rows[fresh_lab.secondary].lagging and not rows[fresh_lab.primary].lagging
    assert rows[fresh_lab.secondary].serial == fresh_lab.serials["corp.test"] - 1
    assert rows[fresh_lab.secondary].states["mx"] == OLD and rows[fresh_lab.primary].states["mx"] == NEW
    assert all(r.aa for r in lagging.authoritative)
    assert not lagging.complete
    fresh_lab.sync_secondary("corp.test")
    caught_up = asyncio.run(watcher.sweep())
    assert caught_up.auth_converged and not caught_up.lagging


def test_watch_command_exits_once_propagated(fresh_lab: DnsLab, project: Project, tmp_path: Path) -> None:
    path = write_project(tmp_path, project, mx_ttl=5)
    args = lab_args(fresh_lab)
    primed = run_cli("dns", "watch", str(path), "--count", "1", "--json", *args)
    assert primed.returncode == 1  # one refresh, not propagated
    first = json.loads(primed.stdout.splitlines()[0])
    assert first["event"] == "dns.snapshot" and first["percent_new"] == 0
    fresh_lab.edit("corp.test", remove=("@ 5 IN MX",), add=NEW_MX)
    result = run_cli("dns", "watch", str(path), "--interval", "1", "--until-propagated", "--ignore-unreachable", *args)
    assert result.returncode == 0, result.stderr
    assert "left out" in result.stdout.splitlines()[0]  # the flag is said first
    assert "propagated on 3 of 6; left out, never answered: refused, servfail, timeout\a" in result.stdout
    assert "REFUSED" in result.stdout and "SERVFAIL" in result.stdout and "TIMEOUT" in result.stdout
    assert "safe to switch the old provider off after" in result.stdout
    too_long = [line for line in result.stdout.splitlines() if len(line) > 80]
    assert not too_long, too_long
