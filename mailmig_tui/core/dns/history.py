"""The propagation watcher's history: what each server answered, and when it changed, in SQLite beside
the project (`<project>.dns-watch.sqlite`, the same place as the monitor's and the send log's files).

The watcher (`mailmig dns watch` and the DNS tab alike, through `make_watcher`) hands every sweep to a
`WatchHistory`, which keeps:

- `states`: per server (resolver or authoritative) and record, the last answer class seen, since when,
  and when it was FIRST seen answering the new value (`first_new`): the flip the migration report shows;
- `changes`: one row each time a server's answer class for a record changed (old → new, a rollback
  new → old, an error): the timeline behind those firsts;
- `meta`: when the authoritative servers were first all seen serving the new MX (`cutover_at`), when the
  watcher first saw propagation complete (`complete_at`), the first and last sweep, how many sweeps.

Only what was observed is written: a resolver that never answered has no row, never a "new" one.
Writing is best effort: a history that cannot be written (read-only folder, full disk) is reported in
`problem` and never stops the watch.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from mailmig_tui.core.dns.records import NEW

if TYPE_CHECKING:
    from mailmig_tui.core.dns.watch import Snapshot

SCHEMA = """
CREATE TABLE IF NOT EXISTS states (
  kind TEXT NOT NULL,        -- resolver | authoritative
  server TEXT NOT NULL,      -- the resolver's name, or the authoritative server's address
  record TEXT NOT NULL,      -- the target's key: mx, spf, dkim:mm1, dmarc, srv:_imaps._tcp …
  state TEXT NOT NULL,       -- new / old / mixed / negative / error (the last answer's class)
  since TEXT NOT NULL,       -- ISO time of the first answer in this state
  last_at TEXT NOT NULL,     -- ISO time of the latest answer
  first_new TEXT,            -- ISO time it was first seen answering the new value (NULL: never)
  PRIMARY KEY (kind, server, record)
);
CREATE TABLE IF NOT EXISTS changes (
  at TEXT NOT NULL, kind TEXT NOT NULL, server TEXT NOT NULL, record TEXT NOT NULL,
  state TEXT NOT NULL, previous TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS changes_at ON changes (at);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

RESOLVER, AUTHORITATIVE = "resolver", "authoritative"


def watch_history_path(project_path: Path) -> Path:
    stem = project_path.name.removesuffix(".mailmig.toml")
    return project_path.parent / f"{stem}.dns-watch.sqlite"


@dataclass(frozen=True)
class ServerState:
    kind: str
    server: str
    record: str
    state: str
    since: datetime
    last_at: datetime
    first_new: datetime | None


@dataclass(frozen=True)
class Change:
    at: datetime
    kind: str
    server: str
    record: str
    state: str
    previous: str


@dataclass(frozen=True)
class WatchRecord:
    """What a report reads back: every server's state, the changes, and the watch's own times."""

    states: list[ServerState]
    changes: list[Change]
    cutover_at: datetime | None
    complete_at: datetime | None
    first_sweep: datetime | None
    last_sweep: datetime | None
    sweeps: int


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class WatchHistory:
    """Writes one sweep at a time; opened lazily on the first sweep, so a watch that never sweeps makes no file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.problem = ""
        self._db: sqlite3.Connection | None = None
        self._known: dict[tuple[str, str, str], str] = {}

    def _open(self) -> sqlite3.Connection:
        if self._db is None:
            db = sqlite3.connect(self.path, timeout=10, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(SCHEMA)
            self._known = {(k, s, r): st for k, s, r, st in db.execute("SELECT kind, server, record, state FROM states")}
            self._db = db
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> WatchHistory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def record(self, snap: Snapshot) -> None:
        """Add one sweep. Never raises: a failure is kept in `problem` (the watch goes on)."""
        try:
            self._record(snap)
            self.problem = ""
        except (sqlite3.Error, OSError) as exc:
            self.problem = f"{self.path}: {exc}"

    def _record(self, snap: Snapshot) -> None:
        db = self._open()
        answers: list[tuple[str, str, str, str, datetime]] = []
        for row in snap.authoritative:
            if row.status != "ok":
                continue  # a server that did not answer says nothing about the record
            for target, state in row.states.items():
                answer = row.answers.get(target)
                answers.append((AUTHORITATIVE, row.server.label, target, state, (answer.at if answer else None) or snap.at))
        for o in snap.observations:
            answers.append((RESOLVER, o.resolver, o.key, o.state, o.answer.at or snap.at))
        with db:
            for kind, server, record, state, at in answers:
                iso = at.isoformat()
                key = (kind, server, record)
                previous = self._known.get(key)
                first_new = iso if state == NEW else None
                if previous is None:
                    db.execute("INSERT OR IGNORE INTO states (kind, server, record, state, since, last_at, first_new) "
                               "VALUES (?, ?, ?, ?, ?, ?, ?)", (kind, server, record, state, iso, iso, first_new))
                elif previous != state:
                    db.execute("UPDATE states SET state = ?, since = ?, last_at = ?, first_new = COALESCE(first_new, ?) "
                               "WHERE kind = ? AND server = ? AND record = ?",
                               (state, iso, iso, first_new, kind, server, record))
                else:
                    db.execute("UPDATE states SET last_at = ? WHERE kind = ? AND server = ? AND record = ?",
                               (iso, kind, server, record))
                if previous != state:
                    db.execute("INSERT INTO changes (at, kind, server, record, state, previous) VALUES (?, ?, ?, ?, ?, ?)",
                               (iso, kind, server, record, state, previous or ""))
                    self._known[key] = state
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
            updates = {"last_sweep": snap.at.isoformat(), "sweeps": str(int(meta.get("sweeps", "0")) + 1)}
            if "first_sweep" not in meta:
                updates["first_sweep"] = snap.at.isoformat()
            if snap.cutover_at is not None and "cutover_at" not in meta:
                updates["cutover_at"] = snap.cutover_at.isoformat()
            if snap.complete and "complete_at" not in meta:
                updates["complete_at"] = snap.at.isoformat()
            db.executemany("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                           list(updates.items()))


def read_history(path: Path) -> WatchRecord | None:
    """The history at `path`, read only; None when the watcher never wrote one there."""
    if not path.is_file():
        return None
    try:
        db = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=10)
    except sqlite3.Error:
        return None
    try:
        states = [ServerState(k, s, r, st, datetime.fromisoformat(since), datetime.fromisoformat(last), _dt(first))
                  for k, s, r, st, since, last, first in db.execute(
                      "SELECT kind, server, record, state, since, last_at, first_new FROM states ORDER BY kind, server, record")]
        changes = [Change(datetime.fromisoformat(at), k, s, r, st, prev) for at, k, s, r, st, prev in db.execute(
            "SELECT at, kind, server, record, state, previous FROM changes ORDER BY at, rowid")]
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    except sqlite3.Error:
        return None
    finally:
        db.close()
    return WatchRecord(states, changes, _dt(meta.get("cutover_at")), _dt(meta.get("complete_at")),
                       _dt(meta.get("first_sweep")), _dt(meta.get("last_sweep")), int(meta.get("sweeps", "0") or 0))
