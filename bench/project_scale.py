"""How a large project behaves: 5,000 users and 300 checklist items.

    .venv/bin/python bench/project_scale.py [--users 5000] [--items 300]

Prints a table: file size, load, save, dashboard build, TUI start to first screen, and the time
from a key press (tick an item) to the change being saved and shown. Target: opens in under a second.
"""

from __future__ import annotations

import os
import sys

# bench/copy.py is named like the standard library's `copy`, and Python puts this folder first on sys.path:
# take it off before anything imports `copy` (dataclasses does).
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import argparse
import asyncio
import resource
import statistics
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mailmig_tui.core import dashboard
from mailmig_tui.core.checklist import add_item, toggle
from mailmig_tui.core.model import User
from mailmig_tui.core.phases import Phase
from mailmig_tui.core.project_factory import demo_project
from mailmig_tui.core.store import ProjectStore, load_project


def big_project(users: int, items: int):  # type: ignore[no-untyped-def]
    project = demo_project()
    project.users = [User(f"user{i:05d}@corp.example", f"用户{i}", f"部门{i % 40}", role="pilot" if i % 100 == 0 else "user")
                     for i in range(users)]
    phases = list(Phase)
    while len(project.checklist) < items:
        n = len(project.checklist)
        add_item(project, phases[n % 7], f"Extra task number {n} for the migration team", owner=f"owner{n % 9}")
    return project


def timed(fn, repeat: int = 5) -> float:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


async def tui_times(path: Path) -> tuple[float, float]:
    from mailmig_tui.ui.app import MailmigApp

    start = time.perf_counter()
    app = MailmigApp(ProjectStore.open(path))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        opened = time.perf_counter() - start
        await pilot.press("1")
        await pilot.pause()
        samples = []
        for _ in range(5):
            t = time.perf_counter()
            await pilot.press("space")
            await pilot.pause()
            samples.append(time.perf_counter() - t)
    app.store.close()
    return opened, statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--items", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "corp.example.mailmig.toml"
        project = big_project(args.users, args.items)
        ProjectStore.create(path, project).close()
        size = path.stat().st_size
        load = timed(lambda: load_project(path))
        store = ProjectStore.open(path)
        item = store.project.checklist[0].id
        start = time.perf_counter()
        store.update(lambda p: toggle(p, item))  # the first save after opening cuts the text in segments
        first_change = time.perf_counter() - start
        change = timed(lambda: store.update(lambda p: toggle(p, item)))
        save = timed(store.save)
        store.close()
        build = timed(lambda: dashboard.build(project))
        opened, tick = asyncio.run(tui_times(path))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = [
        ("project file size", f"{size / 1024:.0f} KiB"),
        ("load (parse + validate)", f"{load * 1000:.0f} ms"),
        ("save (atomic, fsync, .bak)", f"{save * 1000:.0f} ms"),
        ("tick + save, first after open", f"{first_change * 1000:.0f} ms"),
        ("tick + save (style-preserving)", f"{change * 1000:.0f} ms"),
        ("dashboard build", f"{build * 1000:.1f} ms"),
        ("TUI start to first screen", f"{opened * 1000:.0f} ms"),
        ("tick → saved and redrawn", f"{tick * 1000:.0f} ms"),
        ("peak RSS", f"{peak:.0f} MB"),
    ]
    print(f"mailmig project scale: {args.users} users, {args.items} checklist items")
    print(f"{'measure':<30} {'value':>12}")
    print("-" * 43)
    for name, value in rows:
        print(f"{name:<30} {value:>12}")


if __name__ == "__main__":
    main()
