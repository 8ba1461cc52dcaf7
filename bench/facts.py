"""How long the dashboard's phase facts (core/facts.py) take to read on a big project.

    .venv/bin/python bench/facts.py [--users 5000] [--runs 5] [--days 30]

Builds a project of N users whose last test matrix passed (a real matrix SQLite file of `--runs` runs of
every check for every user) and a monitor history of `--days` days at one run every 5 minutes, then
prints a table: the first read of each phase that reads SQLite, every phase's facts again (nothing
changed: the SQLite reads are kept until the file changes), and after one more matrix cell is written.
The dashboard derives the facts on the UI thread at every refresh, so the cached line is what matters.
"""

from __future__ import annotations

import os
import sys

# bench/copy.py is named like the standard library's `copy`, and Python puts this folder first on sys.path.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mailmig_tui.core.facts import derive, derive_one
from mailmig_tui.core.matrix.checks import CHECK_IDS, PASSED, Cell
from mailmig_tui.core.matrix.results import ResultsDb
from mailmig_tui.core.model import User
from mailmig_tui.core.monitor.checks import OK, Health
from mailmig_tui.core.monitor.history import History, history_path
from mailmig_tui.core.phases import Phase
from mailmig_tui.core.project_factory import new_project

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="mailmig-bench-facts-"))
    path = folder / "corp.example.mailmig.toml"
    project = new_project("corp.example", "generic-imap", "generic-imap")
    project.users = [User(f"u{i}@corp.example") for i in range(args.users)]
    db = ResultsDb(folder / "corp.example.matrix.sqlite")
    for _run in range(args.runs):
        run = db.start_run(args.users, CHECK_IDS)
        for user in project.users:
            for check in CHECK_IDS:
                db.add(run, Cell(user.email, check, PASSED, "seen", T0, 0.1))
        db.finish_run(run, False)
    cells = args.users * len(CHECK_IDS)
    project.sections["matrix"] = {"last_run": {"at": T0, "users": args.users, "cells": cells, "passed": cells,
                                               "failed": 0, "warnings": 0, "not_run": 0, "cancelled": False,
                                               "users_passed": args.users}}
    with History(history_path(path)) as history:
        for k in range(args.days * 288):
            at = T0 + timedelta(minutes=5 * k)
            history.add(at, [Health(f"check{i}", OK, "check", "seen", at=at) for i in range(10)])
    now = T0 + timedelta(days=args.days)

    rows: list[tuple[str, float, str]] = []

    def timed(label: str, work):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        result = work()
        rows.append((label, time.perf_counter() - start, result))

    timed(f"Testing, first read ({args.runs * cells:,} cells)",
          lambda: derive_one(project, Phase.TESTING, path, now).status.value)
    timed(f"After-care, first read ({args.days * 288:,} monitor runs)",
          lambda: derive_one(project, Phase.AFTERCARE, path, now).status.value)
    timed("all 7 phases again (SQLite unchanged)", lambda: f"{len(derive(project, path, now))} facts")
    db.add(1, Cell(project.users[0].email, CHECK_IDS[0], PASSED, "seen", T0, 0.1))
    timed("all 7 phases after one more matrix cell", lambda: f"{len(derive(project, path, now))} facts")
    db.close()
    print(f"{'what':<48} {'seconds':>8}  result")
    for label, seconds, result in rows:
        print(f"{label:<48} {seconds:>8.3f}  {result}")


if __name__ == "__main__":
    main()
