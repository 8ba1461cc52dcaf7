"""Where the matrix's results live, and the summary the dashboard shows.

Every cell of every run goes to SQLite next to the project (`<project>.matrix.sqlite`, or `[matrix] db`):
5,000 users × 8 checks is 40,000 cells per run, too many and too often rewritten for the TOML file, and
the history of a cell ("failed yesterday, passes now") is worth keeping. The project file keeps only
what a person reads there and the dashboard needs: `[matrix.last_run]` (when, how many cells passed,
failed…) and the pass counts for the pilots and for everyone, recomputed from the latest cells.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from mailmig_tui.core import clock
from mailmig_tui.core.i18n import _
from mailmig_tui.core.matrix.checks import CHECK_IDS, FAILED, NOT_RUN, PASSED, WARNING, Cell
from mailmig_tui.core.model import Project

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY, started TEXT NOT NULL, finished TEXT, users INTEGER, checks TEXT, cancelled INTEGER
);
CREATE TABLE IF NOT EXISTS cells (
  run INTEGER NOT NULL REFERENCES runs(id), user TEXT NOT NULL, check_id TEXT NOT NULL, status TEXT NOT NULL,
  reason TEXT NOT NULL, started TEXT, seconds REAL, details TEXT
);
CREATE INDEX IF NOT EXISTS cells_by_cell ON cells(user, check_id, run);
"""


class ResultsDb:
    """Thread-safe (engine workers add cells as they finish)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._db.close()

    def start_run(self, users: int, checks: Iterable[str]) -> int:
        with self._lock:
            cur = self._db.execute("INSERT INTO runs(started, users, checks, cancelled) VALUES (?, ?, ?, 0)",
                                   (clock.now().isoformat(), users, ",".join(checks)))
            return int(cur.lastrowid or 0)

    def finish_run(self, run: int, cancelled: bool) -> None:
        with self._lock:
            self._db.execute("UPDATE runs SET finished = ?, cancelled = ? WHERE id = ?",
                             (clock.now().isoformat(), int(cancelled), run))

    def add(self, run: int, cell: Cell) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO cells(run, user, check_id, status, reason, started, seconds, details) VALUES (?,?,?,?,?,?,?,?)",
                (run, cell.user.lower(), cell.check, cell.status, cell.reason,
                 cell.started.isoformat() if cell.started else None, cell.seconds, json.dumps(cell.details)))

    def latest(self) -> dict[tuple[str, str], Cell]:
        """The newest cell of every (user, check) that ever ran; a "not run" never hides an earlier result."""
        with self._lock:
            rows = self._db.execute(
                "SELECT user, check_id, status, reason, started, seconds, details FROM cells c WHERE run = "
                "(SELECT MAX(run) FROM cells d WHERE d.user = c.user AND d.check_id = c.check_id AND d.status != ?)",
                (NOT_RUN,)).fetchall()
            not_run = self._db.execute(
                "SELECT user, check_id, status, reason, started, seconds, details FROM cells c WHERE status = ? AND run = "
                "(SELECT MAX(run) FROM cells d WHERE d.user = c.user AND d.check_id = c.check_id)", (NOT_RUN,)).fetchall()
        out: dict[tuple[str, str], Cell] = {}
        for row in [*not_run, *rows]:  # a real result overrides a later "not run"
            out[(row[0], row[1])] = _cell(row)
        return out

    def history(self, user: str, check: str, limit: int = 20) -> list[Cell]:
        with self._lock:
            rows = self._db.execute(
                "SELECT user, check_id, status, reason, started, seconds, details FROM cells WHERE user = ? AND "
                "check_id = ? ORDER BY run DESC LIMIT ?", (user.lower(), check, limit)).fetchall()
        return [_cell(r) for r in rows]


def _cell(row: tuple[Any, ...]) -> Cell:
    started = datetime.fromisoformat(row[4]) if row[4] else None
    return Cell(row[0], row[1], row[2], row[3], started, float(row[5] or 0.0), json.loads(row[6] or "{}"))


def user_passes(latest: dict[tuple[str, str], Cell], email: str) -> bool:
    """A user passes when every check's latest result is a pass or a warning (none failed, none missing)."""
    return all((c := latest.get((email.lower(), check))) is not None and c.ok for check in CHECK_IDS)


def summary(project: Project, latest: dict[tuple[str, str], Cell]) -> dict[str, int]:
    pilots = [u for u in project.users if u.role == "pilot"]
    return {
        "pilots": len(pilots), "pilots_passed": sum(user_passes(latest, u.email) for u in pilots),
        "users": len(project.users), "users_passed": sum(user_passes(latest, u.email) for u in project.users),
    }


def record_run(project: Project, cells: list[Cell], latest: dict[tuple[str, str], Cell], started: datetime,
               seconds: float, cancelled: bool) -> None:
    """Write `[matrix.last_run]` into `project` (pass this to ProjectStore.update or app.mutate)."""
    section = project.sections.get("matrix")
    if not isinstance(section, dict):
        section = {}
    counts = {s: sum(1 for c in cells if c.status == s) for s in (PASSED, FAILED, WARNING, NOT_RUN)}
    section["last_run"] = {
        "at": started, "seconds": round(seconds, 1), "users": len({c.user for c in cells}), "cells": len(cells),
        "passed": counts[PASSED], "failed": counts[FAILED], "warnings": counts[WARNING], "not_run": counts[NOT_RUN],
        "cancelled": cancelled, **summary(project, latest),
        "failures": [f"{c.user} {c.check}: {c.reason}"[:200] for c in cells if c.status == FAILED][:20],
    }
    project.sections["matrix"] = section


def dashboard_line(project: Project) -> str | None:
    """"Test matrix: pilots 5/5 pass; all 187/200 (2026-12-01 19:20)", or None before the first run."""
    section = project.sections.get("matrix")
    run = section.get("last_run") if isinstance(section, dict) else None
    if not isinstance(run, dict):
        return None
    at = run.get("at")
    when = at.astimezone().strftime("%Y-%m-%d %H:%M") if isinstance(at, datetime) else "?"
    try:
        return _("Test matrix: pilots {pp}/{p} pass; all {up}/{u} ({when})").format(
            pp=int(run.get("pilots_passed", 0)), p=int(run.get("pilots", 0)), up=int(run.get("users_passed", 0)),
            u=int(run.get("users", 0)) if "users_passed" in run else 0, when=when)
    except (TypeError, ValueError):
        return None
