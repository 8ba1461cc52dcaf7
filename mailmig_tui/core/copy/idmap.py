"""The identity map: which source message became which target message (SQLite, beside the copy's data).

One row per copied source message: (user, source folder, source UIDVALIDITY, source UID) → (target
folder, target UIDVALIDITY, target UID), with the message's sha256, size, Message-ID and the flags last
set on the target. The source key is the old provider's own (folder name as listed, UIDVALIDITY, UID),
which is also what the backup index records: a copy from the archive and a later one from the old
server share their rows, so neither copies what the other did.

A row is written as an *intent* (state 'intent', no target UID) and committed before its APPEND is
sent, and set 'done' with the target UID after the server confirms. A run killed in between leaves
intents; the next run looks each one up on the target (size, then sha256 of the candidates) and either
completes the row or drops it so the message is sent again. Nothing is ever both missing and mapped.

Commits survive a killed process (WAL). For a power cut, which can lose the last commits, each user's
run first records durably (one fsync) the UIDNEXT of every target folder it will write to (`inflight`);
the next run hashes the unclaimed target messages above it and adopts those that match instead of
sending them again.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mailmig_tui.core.transactions import transaction

SCHEMA = """
CREATE TABLE IF NOT EXISTS folders (
    user TEXT NOT NULL,
    source_raw BLOB NOT NULL,
    source_uidvalidity INTEGER NOT NULL,
    target_raw BLOB NOT NULL,
    target_uidvalidity INTEGER NOT NULL,
    -- The source folder's STATUS (UIDVALIDITY:UIDNEXT:MESSAGES:HIGHESTMODSEQ, and the --since date) as
    -- listed before the last pass that completed; the same STATUS next time means nothing to do there.
    -- Cleared when a pass starts, so a killed pass leaves none. '' = scan the folder.
    source_stamp TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (user, source_raw)
);
CREATE TABLE IF NOT EXISTS messages (
    user TEXT NOT NULL,
    source_raw BLOB NOT NULL,
    source_uidvalidity INTEGER NOT NULL,
    source_uid INTEGER NOT NULL,
    target_raw BLOB NOT NULL,
    target_uidvalidity INTEGER NOT NULL,
    target_uid INTEGER NOT NULL DEFAULT 0,   -- 0 while state = 'intent'
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    message_id TEXT NOT NULL DEFAULT '',
    flags TEXT NOT NULL DEFAULT '',          -- as last set on the target (space-separated, sorted)
    state TEXT NOT NULL,                     -- intent | done
    PRIMARY KEY (user, source_raw, source_uidvalidity, source_uid)
);
CREATE INDEX IF NOT EXISTS messages_target ON messages (user, target_raw, target_uidvalidity, target_uid);
-- Target folders a run is about to APPEND to, with the folder's UIDNEXT before the first APPEND: after
-- a power cut that lost the latest commits, every unclaimed target message at or above it may be one
-- of ours, and is matched by sha256 instead of being sent again.
CREATE TABLE IF NOT EXISTS inflight (
    user TEXT NOT NULL,
    target_raw BLOB NOT NULL,
    target_uidvalidity INTEGER NOT NULL,     -- 0: the folder did not exist yet
    uidnext INTEGER NOT NULL,
    run TEXT NOT NULL,
    PRIMARY KEY (user, target_raw)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass
class MapRow:
    user: str
    source_raw: bytes
    source_uidvalidity: int
    source_uid: int
    target_raw: bytes
    target_uidvalidity: int
    target_uid: int
    sha256: str
    size: int
    message_id: str
    flags: str
    state: str


@dataclass
class FolderState:
    user: str
    source_raw: bytes
    source_uidvalidity: int
    target_raw: bytes
    target_uidvalidity: int
    source_stamp: str = ""


def _row(r: Any) -> MapRow:
    return MapRow(str(r[0]), bytes(r[1]), int(r[2]), int(r[3]), bytes(r[4]), int(r[5]), int(r[6]),
                  str(r[7]), int(r[8]), str(r[9]), str(r[10]), str(r[11]))


class IdentityMap:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        # NORMAL (WAL): commits survive a killed process; only mark_inflight() waits for the disk (FULL),
        # once per user and run, which covers a power cut (see the module docstring).
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        have = {r[1] for r in self.db.execute("PRAGMA table_info(folders)")}
        if "source_stamp" not in have:  # a map written before the column existed keeps its rows
            try:
                self.db.execute("ALTER TABLE folders ADD COLUMN source_stamp TEXT NOT NULL DEFAULT ''")
            except sqlite3.OperationalError as exc:  # another worker added it first
                if "duplicate column" not in str(exc):
                    raise

    def close(self) -> None:
        self.db.close()

    # --- folders -------------------------------------------------------------------------------

    def folder(self, user: str, source_raw: bytes) -> FolderState | None:
        r = self.db.execute("SELECT user, source_raw, source_uidvalidity, target_raw, target_uidvalidity, source_stamp "
                            "FROM folders WHERE user=? AND source_raw=?", (user, source_raw)).fetchone()
        return FolderState(r[0], bytes(r[1]), r[2], bytes(r[3]), r[4], r[5]) if r else None

    def set_folder(self, f: FolderState) -> None:
        with transaction(self.db):
            self.db.execute("INSERT OR REPLACE INTO folders (user, source_raw, source_uidvalidity, target_raw, "
                            "target_uidvalidity, source_stamp) VALUES (?,?,?,?,?,?)",
                            (f.user, f.source_raw, f.source_uidvalidity, f.target_raw, f.target_uidvalidity,
                             f.source_stamp))

    def set_stamp(self, user: str, source_raw: bytes, stamp: str) -> None:
        """The pass over this folder that began with the source at `stamp` completed."""
        with transaction(self.db):
            self.db.execute("UPDATE folders SET source_stamp=? WHERE user=? AND source_raw=?", (stamp, user, source_raw))

    # --- messages ------------------------------------------------------------------------------

    def rows(self, user: str, source_raw: bytes) -> list[MapRow]:
        return [_row(r) for r in self.db.execute("SELECT * FROM messages WHERE user=? AND source_raw=?", (user, source_raw))]

    def target_rows(self, user: str, target_raw: bytes) -> list[MapRow]:
        return [_row(r) for r in self.db.execute("SELECT * FROM messages WHERE user=? AND target_raw=?", (user, target_raw))]

    def user_rows(self, user: str) -> list[MapRow]:
        return [_row(r) for r in self.db.execute("SELECT * FROM messages WHERE user=?", (user,))]

    def claimed(self, user: str, target_raw: bytes, target_uidvalidity: int) -> set[int]:
        cur = self.db.execute("SELECT target_uid FROM messages WHERE user=? AND target_raw=? AND target_uidvalidity=? "
                              "AND state='done'", (user, target_raw, target_uidvalidity))
        return {r[0] for r in cur}

    def add_intents(self, rows: list[MapRow]) -> None:
        with transaction(self.db):
            self.db.executemany("INSERT OR REPLACE INTO messages VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                                [(r.user, r.source_raw, r.source_uidvalidity, r.source_uid, r.target_raw,
                                  r.target_uidvalidity, 0, r.sha256, r.size, r.message_id, r.flags, "intent")
                                 for r in rows])

    def complete(self, done: list[tuple[MapRow, int, int]]) -> None:
        """(row, target_uidvalidity, target_uid) for rows whose message is now on the target."""
        with transaction(self.db):
            self.db.executemany(
                "UPDATE messages SET target_uidvalidity=?, target_uid=?, state='done' WHERE user=? AND source_raw=? "
                "AND source_uidvalidity=? AND source_uid=?",
                [(v, u, r.user, r.source_raw, r.source_uidvalidity, r.source_uid) for r, v, u in done])

    def drop(self, rows: list[MapRow]) -> None:
        with transaction(self.db):
            self.db.executemany("DELETE FROM messages WHERE user=? AND source_raw=? AND source_uidvalidity=? AND source_uid=?",
                                [(r.user, r.source_raw, r.source_uidvalidity, r.source_uid) for r in rows])

    def rekey_source(self, changes: list[tuple[MapRow, int, int]]) -> None:
        """After the source's UIDVALIDITY changed: (row, new source uidvalidity, new source uid)."""
        with transaction(self.db):
            self.db.executemany(
                "UPDATE messages SET source_uidvalidity=?, source_uid=? WHERE user=? AND source_raw=? "
                "AND source_uidvalidity=? AND source_uid=?",
                [(v, u, r.user, r.source_raw, r.source_uidvalidity, r.source_uid) for r, v, u in changes])

    def set_flags(self, changes: list[tuple[MapRow, str]]) -> None:
        with transaction(self.db):
            self.db.executemany(
                "UPDATE messages SET flags=? WHERE user=? AND source_raw=? AND source_uidvalidity=? AND source_uid=?",
                [(f, r.user, r.source_raw, r.source_uidvalidity, r.source_uid) for r, f in changes])

    def add_done(self, rows: list[MapRow]) -> None:
        """Rows for target messages adopted after a lost commit (state 'done' already)."""
        with transaction(self.db):
            self.db.executemany("INSERT OR REPLACE INTO messages VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                                [(r.user, r.source_raw, r.source_uidvalidity, r.source_uid, r.target_raw,
                                  r.target_uidvalidity, r.target_uid, r.sha256, r.size, r.message_id, r.flags, "done")
                                 for r in rows])

    # --- in-flight markers -----------------------------------------------------------------------

    def mark_inflight(self, user: str, folders: list[tuple[bytes, int, int]], run: str) -> None:
        """(target_raw, uidvalidity, uidnext) before this run writes there; durable (fsync) on return.
        A marker a previous run left is kept: its UIDNEXT is the lower bound that matters."""
        if not folders:
            return
        self.db.execute("PRAGMA synchronous=FULL")
        try:
            with transaction(self.db):
                self.db.executemany("INSERT OR IGNORE INTO inflight VALUES (?,?,?,?,?)",
                                    [(user, raw, v, n, run) for raw, v, n in folders])
        finally:
            self.db.execute("PRAGMA synchronous=NORMAL")

    def inflight(self, user: str, target_raw: bytes) -> tuple[int, int, str] | None:
        r = self.db.execute("SELECT target_uidvalidity, uidnext, run FROM inflight WHERE user=? AND target_raw=?",
                            (user, target_raw)).fetchone()
        return (int(r[0]), int(r[1]), str(r[2])) if r else None

    def clear_inflight(self, user: str, target_raw: bytes) -> None:
        with transaction(self.db):
            self.db.execute("DELETE FROM inflight WHERE user=? AND target_raw=?", (user, target_raw))
