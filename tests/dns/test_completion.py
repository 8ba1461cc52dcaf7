"""What "propagated" and "safe to switch off" mean, against the real lab with faults (issue 11 and 14).

- Propagated (`complete`): every authoritative server answers the new MX, and every resolver in the list
  has answered the new MX in a sweep after the one in which all the authoritative servers were first
  seen serving it. A resolver that does not answer is unknown, never new.
- Safe to switch off: only once no resolver is unknown; no earlier than the old MX's TTL after the
  last authoritative server stopped serving the old MX, and no earlier than the last resolver's flip.

`complete` is checked on EVERY snapshot against an oracle computed from the snapshots alone.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from mailmig_tui.core.dns.records import NEW, OLD, derive_targets
from mailmig_tui.core.dns.watch import Snapshot, Watcher
from mailmig_tui.core.model import Project
from mailmig_tui.lab.dns import DnsLab
from tests.dns.completion import all_auth_new, assert_completion
from tests.dns.conftest import FAULTS, lab_args, lab_config, write_project

pytestmark = pytest.mark.lab

NEW_MX = ("@ 5 IN MX 10 mx1.newmail.test.", "@ 5 IN MX 20 mx2.newmail.test.")
OLD_MX = ("@ 5 IN MX 10 mx1.oldmail.test.",)


def watcher_for(lab: DnsLab, project: Project, names: list[str], timeout: float = 0.5) -> Watcher:
    config = lab_config(lab, names)
    return Watcher(project.domain, derive_targets(project, config), config.resolvers, config.authoritative,
                   timeout=timeout, interval=0.4, old_mx_ttl=project.plan.old_mx_ttl)


class Recorder:
    def __init__(self, watcher: Watcher) -> None:
        self.watcher = watcher
        self.snaps: list[Snapshot] = []
        self.ignore: list[bool] = []

    async def sweep(self) -> Snapshot:
        snap = await self.watcher.sweep()
        self.snaps.append(snap)
        self.ignore.append(getattr(self.watcher, "ignore_unreachable", False))
        return snap

    async def until(self, done: Callable[[Snapshot], bool], deadline: float = 40.0) -> Snapshot:
        end = time.monotonic() + deadline
        while True:
            started = time.monotonic()
            snap = await self.sweep()
            if done(snap):
                return snap
            assert time.monotonic() < end, "timed out waiting"
            await asyncio.sleep(max(0.0, self.watcher.interval - (time.monotonic() - started)))


def state(snap: Snapshot, name: str) -> str:
    o = snap.observation(name, "mx")
    return o.state if o is not None else "-"


def test_resolvers_in_each_fault_state_holding_the_old_mx(fresh_lab: DnsLab, holders: list[str], project: Project,
                                                           tmp_path: Path) -> None:
    names = ["plain1", "plain2", *holders, "timeout"]
    rec = Recorder(watcher_for(fresh_lab, project, names))
    path = write_project(tmp_path, project, mx_ttl=5)
    out = tmp_path / "watch.jsonl"
    with out.open("w") as sink:
        cli = subprocess.Popen(
            [sys.executable, "-m", "mailmig_tui", "dns", "watch", str(path), "--json", "--interval", "0.5",
             "--until-propagated", *lab_args(fresh_lab, ["plain1", "plain2", *holders])],
            stdout=sink, stderr=subprocess.STDOUT, env={**__import__("os").environ, "MAILMIG_LANG": "en"})
    try:
        async def scenario() -> None:
            before = await rec.sweep()  # every resolver caches the old MX (the holders for 60 s)
            assert all(state(before, n) == OLD for n in names if n != "timeout")
            end = time.monotonic() + 20
            while out.read_text().count('"dns.snapshot"') < 1:  # the command saw them answer old too
                assert time.monotonic() < end and cli.poll() is None, out.read_text()
                await asyncio.sleep(0.05)
            for name, kind in zip(holders, FAULTS, strict=True):
                fresh_lab.fault(name, kind)
            fresh_lab.edit("corp.test", remove=("@ 5 IN MX",), add=NEW_MX)
            # The plain resolvers flip after the MX TTL (5 s); the faulted ones are unknown, never new.
            await rec.until(lambda s: state(s, "plain1") == NEW and state(s, "plain2") == NEW)
            for _i in range(3):
                snap = await rec.sweep()
                assert not snap.complete and snap.safe_to_switch_off is None
                assert sorted(snap.unknown) == sorted(holders) and snap.unreachable == ["timeout"]
                assert snap.switch_off_pending
            assert cli.poll() is None, "dns watch --until-propagated exited while resolvers were failing"
            assert '"dns.propagated"' not in out.read_text()
            # Cleared, three of them still hand out the old MX they held all along (servfail lost its cache).
            for name in holders:
                fresh_lab.clear_fault(name)
            held = [n for n in holders if n != "hold-servfail"]
            snap = await rec.until(lambda s: all(state(s, n) in (OLD, NEW) for n in holders))
            assert all(state(snap, n) == OLD for n in held) and not snap.complete
            assert cli.poll() is None
            for name in holders:
                fresh_lab.flush(name)
            snap = await rec.until(lambda s: all(state(s, n) == NEW for n in names if n != "timeout"))
            snap = await rec.sweep()
            # Everyone answered new except the resolver that never answered: still not complete ...
            assert not snap.complete and snap.unreachable == ["timeout"] and snap.safe_to_switch_off is None
            assert "1 not answering since" in snap.progress_text and "timeout" in snap.progress_text
            # ... unless the user leaves unreachable resolvers out, which the summary then says.
            rec.watcher.ignore_unreachable = True
            snap = await rec.sweep()
            assert snap.complete and snap.safe_to_switch_off is not None
            assert "complete on 6 of 7" in snap.progress_text and "left out" in snap.progress_text

        asyncio.run(scenario())
        assert cli.wait(timeout=20) == 0, out.read_text()[-2000:]
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    assert_completion(rec.snaps, names, rec.ignore)
    events = [json.loads(line) for line in out.read_text().splitlines() if line.startswith("{")]
    snaps = [e for e in events if e["event"] == "dns.snapshot"]
    propagated = [i for i, e in enumerate(events) if e["event"] == "dns.propagated"]
    assert propagated == [len(events) - 1] and snaps[-1]["complete"]
    assert all(not e["complete"] for e in snaps[:-1])
    assert all(e["unknown"] or not e["complete"] for e in snaps if any(r["name"] in holders and r["status"] != "ok"
                                                                       for r in e["resolvers"]))


def test_lagging_secondary_switch_off_counted_from_its_change(fresh_lab: DnsLab, project: Project) -> None:
    project.plan.old_mx_ttl = 300  # the TTL before it was lowered: what caches may still hold
    names = ["plain1", "plain2"]
    rec = Recorder(watcher_for(fresh_lab, project, names))

    async def scenario() -> None:
        await rec.sweep()
        fresh_lab.edit("corp.test", remove=("@ 5 IN MX",), add=NEW_MX, servers=("primary",))
        for _i in range(4):  # about two seconds with the secondary on the old MX
            snap = await rec.sweep()
            assert not snap.complete and snap.safe_to_switch_off is None
            assert fresh_lab.secondary in snap.switch_off_pending
            await asyncio.sleep(0.4)
        fresh_lab.sync_secondary("corp.test")
        synced = rec.watcher.clock()
        snap = await rec.until(lambda s: s.safe_to_switch_off is not None)
        assert snap.safe_to_switch_off is not None and snap.safe_to_switch_off >= synced + timedelta(seconds=300)
        assert snap.cutover_at is not None and snap.cutover_at >= synced
        await rec.until(lambda s: s.complete)

    asyncio.run(scenario())
    assert_completion(rec.snaps, names)


def test_rollback_then_second_cutover_restarts_the_clock(fresh_lab: DnsLab, project: Project) -> None:
    project.plan.old_mx_ttl = 300
    names = ["plain1", "plain2"]
    rec = Recorder(watcher_for(fresh_lab, project, names))

    async def scenario() -> None:
        await rec.sweep()
        fresh_lab.edit("corp.test", remove=("@ 5 IN MX",), add=NEW_MX)
        first = await rec.until(lambda s: s.complete)
        fresh_lab.edit("corp.test", remove=("@ 5 IN MX",), add=OLD_MX)  # rollback
        back = await rec.until(lambda s: all(r.states.get("mx") == OLD for r in s.authoritative))
        assert back.safe_to_switch_off is None and not back.complete
        await asyncio.sleep(1.0)
        again_at = rec.watcher.clock()
        fresh_lab.edit("corp.test", remove=("@ 5 IN MX",), add=NEW_MX)
        snap = await rec.until(lambda s: s.complete)
        assert snap.safe_to_switch_off is not None and snap.safe_to_switch_off >= again_at + timedelta(seconds=300)
        assert first.cutover_at is not None and snap.cutover_at is not None
        assert back.cutover_at is None and snap.cutover_at >= again_at > first.cutover_at

    asyncio.run(scenario())
    assert_completion(rec.snaps, names)


def test_authoritative_server_dies_mid_watch(fresh_lab: DnsLab, project: Project) -> None:
    names = ["plain1", "plain2"]
    rec = Recorder(watcher_for(fresh_lab, project, names))

    async def scenario() -> None:
        await rec.sweep()
        fresh_lab.edit("corp.test", remove=("@ 5 IN MX",), add=NEW_MX)
        await rec.until(all_auth_new)
        fresh_lab.pause("secondary", "nsd")
        try:
            # The resolvers get the new MX from the primary; the stopped secondary still blocks "complete".
            await rec.until(lambda s: state(s, "plain1") == NEW and state(s, "plain2") == NEW)
            for _i in range(2):
                snap = await rec.sweep()
                assert snap.standing == {"plain1": "new", "plain2": "new"}
                assert not snap.complete and snap.safe_to_switch_off is None
                assert fresh_lab.secondary in snap.switch_off_pending
        finally:
            fresh_lab.resume("secondary", "nsd")
        await rec.until(lambda s: s.complete)

    asyncio.run(scenario())
    assert_completion(rec.snaps, names)


def test_each_answer_is_timed_when_it_arrived(fresh_lab: DnsLab, project: Project) -> None:
    # A resolver that never answers makes every sweep last a whole timeout (1 s here).
    watcher = watcher_for(fresh_lab, project, ["plain1", "timeout"], timeout=1.0)

    async def scenario() -> None:
        await watcher.sweep()
        fresh_lab.edit("corp.test", remove=("@ 5 IN MX",), add=NEW_MX)
        started = watcher.clock()
        snap = await watcher.sweep()
        assert snap.sweep_seconds >= 0.9
        o = snap.observation("plain1", "mx")
        assert o is not None and o.state == OLD and o.flip_at is not None and o.ttl is not None
        assert o.flip_at - started < timedelta(seconds=o.ttl + 0.5)  # not the sweep's end + TTL
        assert o.answer.at is not None and o.answer.at - started < timedelta(seconds=0.5)
        assert o.flip_at == o.answer.at + timedelta(seconds=o.ttl)

    asyncio.run(scenario())
