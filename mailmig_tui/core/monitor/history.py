"""The monitor's history: one row per check per run, in SQLite beside the project file."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from mailmig_tui.core.monitor.checks import Health

SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
  run TEXT NOT NULL,         -- ISO time the run started: one run, many checks
  at TEXT NOT NULL,          -- ISO time the check finished
  key TEXT NOT NULL,         -- the check's stable id (dns:mx, imap, smtp, tls:imap, stragglers …)
  status TEXT NOT NULL,      -- ok / warn / fail / unknown
  value REAL,                -- a number to draw over time (latency ms, days to expiry, messages)
  title TEXT NOT NULL,
  detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS results_key_at ON results (key, at);
"""


def history_path(project_path: Path) -> Path:
    stem = project_path.name.removesuffix(".mailmig.toml")
    return project_path.parent / f"{stem}.monitor.sqlite"


@dataclass(frozen=True)
class Point:
    at: datetime
    status: str
    value: float | None


class History:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = sqlite3.connect(path, timeout=10, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add(self, run: datetime, results: list[Health]) -> None:
        with self.db:
            self.db.executemany(
                "INSERT INTO results (run, at, key, status, value, title, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(run.isoformat(), r.at.isoformat(), r.key, r.status, r.value, r.title, r.detail) for r in results])

    def failure_free_since(self) -> datetime | None:
        """When the current stretch of runs with no failing check began; None if the last run had one."""
        rows = self.db.execute("SELECT run, MAX(status IN ('fail', 'unknown')) FROM results GROUP BY run "
                               "ORDER BY run DESC").fetchall()
        first = None
        for run, bad in rows:
            if bad:
                break
            first = datetime.fromisoformat(run)
        return first

    def series(self, key: str, limit: int = 60) -> list[Point]:
        rows = self.db.execute("SELECT at, status, value FROM results WHERE key = ? ORDER BY at DESC LIMIT ?",
                               (key, limit)).fetchall()
        return [Point(datetime.fromisoformat(at), status, value) for at, status, value in reversed(rows)]

    def first_seen(self, key: str, status: str) -> datetime | None:
        """When `key` first had `status` in the current unbroken run of it (None if the latest differs)."""
        rows = self.db.execute("SELECT at, status FROM results WHERE key = ? ORDER BY at DESC", (key,)).fetchall()
        first = None
        for at, st in rows:
            if st != status:
                break
            first = datetime.fromisoformat(at)
        return first


SPARK = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float | None], width: int = 20) -> str:
    """Latency over time as block characters; a run with no value (failed) is a space."""
    values = values[-width:]
    known = [v for v in values if v is not None]
    if not known:
        return ""
    low, high = min(known), max(known)
    span = (high - low) or 1.0
    return "".join(" " if v is None else SPARK[min(len(SPARK) - 1, int((v - low) / span * (len(SPARK) - 1)))]
                   for v in values)
