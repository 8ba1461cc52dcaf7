"""DNS watcher benchmark: one full sweep, and the CPU the watcher uses while watching.

Runs against the loopback lab only (NSD + Unbound on 127.0.53.x, see mailmig_tui/lab/dns.py):
20 resolvers (16 plain Unbound, one sticky, one REFUSED, one SERVFAIL, one that never answers) x the
records audited for the lab project. Targets: a sweep well under 2 s even with the dead resolver, and
under 2% of one core while watching at the default interval.

    python bench/dns_watch.py [--sweeps 10] [--window 60]
"""

from __future__ import annotations

import os
import sys

# bench/copy.py is named like the standard library's `copy`, and Python puts this folder first on sys.path:
# take it off before anything imports `copy` (dataclasses does).
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import argparse
import asyncio
import statistics
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mailmig_tui.core.dns.config import DnsConfig, Server
from mailmig_tui.core.dns.records import derive_targets
from mailmig_tui.core.dns.watch import Watcher
from mailmig_tui.lab.dns import DnsLab, lab_project


def make_watcher(lab: DnsLab, names: list[str], interval: float) -> Watcher:
    defaults = DnsConfig()  # the shipped timeout and interval
    project = lab_project()
    targets = derive_targets(project, defaults)
    return Watcher(project.domain, targets, [Server(n, lab.resolvers[n]) for n in names],
                   [Server(a, a) for a in lab.authoritative], timeout=defaults.timeout, interval=interval)


async def sweeps(watcher: Watcher, count: int) -> tuple[float, list[float], int]:
    first = (await watcher.sweep()).sweep_seconds  # includes each resolver's check before use
    times = []
    queries = 0
    for _i in range(count):
        snap = await watcher.sweep()
        times.append(snap.sweep_seconds)
        queries = len(snap.observations) + len(snap.authoritative) * (len(snap.targets) + 1)
    return first, times, queries


async def watch_cpu(watcher: Watcher, window: float) -> tuple[float, int]:
    stop = asyncio.Event()
    n = 0
    cpu0 = time.process_time()

    async def consume() -> None:
        nonlocal n
        async for _snap in watcher.run(stop):
            n += 1

    task = asyncio.create_task(consume())
    await asyncio.sleep(window)
    stop.set()
    await task
    return time.process_time() - cpu0, n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweeps", type=int, default=10)
    parser.add_argument("--window", type=float, default=60.0, help="seconds of watching to measure CPU over")
    args = parser.parse_args()
    defaults = DnsConfig()
    with DnsLab(plain_resolvers=16) as lab:
        everyone = list(lab.resolvers)
        alive = [n for n in everyone if n != "timeout"]
        rows = []
        for label, names in (("20 resolvers, 1 dead", everyone), ("19 resolvers, none dead", alive)):
            lab.flush_resolvers()
            watcher = make_watcher(lab, names, defaults.interval)
            first, times, queries = asyncio.run(sweeps(watcher, args.sweeps))
            rows.append((label, len(names), len(watcher.targets), queries, first, statistics.median(times), max(times)))
        lab.flush_resolvers()
        watcher = make_watcher(lab, everyone, defaults.interval)
        wall0 = time.monotonic()
        cpu, n = asyncio.run(watch_cpu(watcher, args.window))
        wall = time.monotonic() - wall0

    print(f"DNS watcher benchmark (loopback lab; per-query timeout {defaults.timeout:g} s, "
          f"interval {defaults.interval:g} s, {args.sweeps} sweeps after the first)")
    print()
    print(f"{'case':<26}{'resolvers':>10}{'records':>9}{'answers':>9}{'first s':>9}{'median s':>10}{'max s':>8}")
    for label, r, rec, q, first, med, worst in rows:
        print(f"{label:<26}{r:>10}{rec:>9}{q:>9}{first:>9.3f}{med:>10.3f}{worst:>8.3f}")
    print()
    print(f"{'watching':<26}{'window s':>10}{'sweeps':>9}{'CPU s':>9}{'CPU s/min':>10}{'% core':>8}")
    print(f"{'20 resolvers, default':<26}{wall:>10.1f}{n:>9}{cpu:>9.3f}{cpu / wall * 60:>10.3f}{100 * cpu / wall:>8.2f}")


if __name__ == "__main__":
    main()
