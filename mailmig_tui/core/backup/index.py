"""The archive's SQLite index: one row per archived message, one per folder (the name manifest).

Each worker thread opens its own connection (WAL journal, so readers never block the writer for long).
A message's row is inserted only after its file is durable in the Maildir, so the index never points
at a file that a crash could lose; files without a row are removed and fetched again on the next run.
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
    raw_name BLOB NOT NULL,          -- exactly as the server listed it (modified UTF-7)
    name TEXT NOT NULL,              -- decoded, with the server's separator
    delimiter TEXT NOT NULL,
    dirname TEXT NOT NULL,           -- the Maildir++ folder directory ('' for INBOX)
    uidvalidity INTEGER NOT NULL DEFAULT 0,
    selectable INTEGER NOT NULL DEFAULT 1,
    -- What the server said (STATUS) when this folder was last backed up completely: an unchanged
    -- UIDVALIDITY, UIDNEXT, MESSAGES and HIGHESTMODSEQ (CONDSTORE) mean nothing to do. 0/-1: unknown.
    uidnext INTEGER NOT NULL DEFAULT 0,
    highestmodseq INTEGER NOT NULL DEFAULT 0,
    server_messages INTEGER NOT NULL DEFAULT -1,
    -- The folder directory's cur/new/tmp modification times (and cur's inode) when the index last agreed
    -- with it, after a run's last write there: the same stamp on the next run means nothing touched the
    -- files since (no killed run, no other tool), so the directory need not be listed again. '' = list it.
    settled TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (user, raw_name)
);
CREATE TABLE IF NOT EXISTS messages (
    user TEXT NOT NULL,
    folder BLOB NOT NULL,            -- folders.raw_name
    uidvalidity INTEGER NOT NULL,
    uid INTEGER NOT NULL,
    size INTEGER NOT NULL,
    internaldate TEXT NOT NULL,      -- ISO 8601 with the server's offset
    flags TEXT NOT NULL,             -- space-separated IMAP flags and keywords
    message_id TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    path TEXT NOT NULL,              -- relative to the archive root
    deleted_on_server TEXT NOT NULL DEFAULT '',  -- when a run first found it gone from the server ('' = there)
    PRIMARY KEY (user, folder, uidvalidity, uid)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

# Columns added after the first release: an older archive gets them on open (ALTER TABLE keeps its rows).
ADDED_COLUMNS = {
    "folders": [("uidnext", "INTEGER NOT NULL DEFAULT 0"), ("highestmodseq", "INTEGER NOT NULL DEFAULT 0"),
                ("server_messages", "INTEGER NOT NULL DEFAULT -1"), ("settled", "TEXT NOT NULL DEFAULT ''")],
    "messages": [("deleted_on_server", "TEXT NOT NULL DEFAULT ''")],
}


@dataclass
class Row:
    user: str
    folder: bytes
    uidvalidity: int
    uid: int
    size: int
    internaldate: str
    flags: str
    message_id: str
    sha256: str
    path: str
    deleted_on_server: str = ""


@dataclass
class FolderRow:
    user: str
    raw_name: bytes
    name: str
    delimiter: str
    dirname: str
    uidvalidity: int
    selectable: bool
    uidnext: int = 0
    highestmodseq: int = 0
    server_messages: int = -1
    settled: str = ""


_FOLDER_COLUMNS = ("user, raw_name, name, delimiter, dirname, uidvalidity, selectable, uidnext, highestmodseq, "
                   "server_messages, settled")


def _folder_row(r: tuple[Any, ...]) -> FolderRow:
    return FolderRow(r[0], bytes(r[1]), r[2], r[3], r[4], r[5], bool(r[6]), r[7], r[8], r[9], r[10])


class Index:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        # NORMAL with WAL survives a killed process (kill -9); only a power cut can lose the last commit,
        # and then the matching files are orphans that the next run removes and fetches again.
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self._add_columns()

    def _add_columns(self) -> None:
        for table, columns in ADDED_COLUMNS.items():
            have = {r[1] for r in self.db.execute(f"PRAGMA table_info({table})")}
            for name, decl in columns:
                if name not in have:
                    try:
                        self.db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {decl}")
                    except sqlite3.OperationalError as exc:  # another worker added it first
                        if "duplicate column" not in str(exc):
                            raise

    def close(self) -> None:
        self.db.close()

    # --- folders -----------------------------------------------------------------------------

    def folder(self, user: str, raw_name: bytes) -> FolderRow | None:
        r = self.db.execute(f"SELECT {_FOLDER_COLUMNS} FROM folders WHERE user=? AND raw_name=?", (user, raw_name)).fetchone()
        return _folder_row(r) if r else None

    def folders(self, user: str) -> list[FolderRow]:
        rows = self.db.execute(f"SELECT {_FOLDER_COLUMNS} FROM folders WHERE user=? ORDER BY dirname", (user,)).fetchall()
        return [_folder_row(r) for r in rows]

    def upsert_folder(self, f: FolderRow) -> None:
        """Names, UIDVALIDITY and selectability; the synced state (UIDNEXT…) only through set_synced."""
        self.db.execute(
            f"INSERT INTO folders ({_FOLDER_COLUMNS}) VALUES (?,?,?,?,?,?,?,0,0,-1,'') ON CONFLICT(user, raw_name) DO UPDATE "
            "SET name=excluded.name, delimiter=excluded.delimiter, dirname=excluded.dirname, "
            "uidvalidity=excluded.uidvalidity, selectable=excluded.selectable",
            (f.user, f.raw_name, f.name, f.delimiter, f.dirname, f.uidvalidity, int(f.selectable)))

    def set_synced(self, user: str, raw_name: bytes, uidnext: int, highestmodseq: int, messages: int) -> None:
        """The folder is backed up completely as of a STATUS that said these (0, 0, -1: forget it)."""
        self.db.execute("UPDATE folders SET uidnext=?, highestmodseq=?, server_messages=? WHERE user=? AND raw_name=?",
                        (uidnext, highestmodseq, messages, user, raw_name))

    def forget_synced(self, user: str) -> None:
        self.db.execute("UPDATE folders SET uidnext=0, highestmodseq=0, server_messages=-1, settled='' WHERE user=?",
                        (user,))

    def set_settled(self, user: str, stamps: list[tuple[bytes, str]]) -> None:
        """(raw_name, directory stamp) for folders whose files and rows agree now ('' = unknown)."""
        with transaction(self.db):
            self.db.executemany("UPDATE folders SET settled=? WHERE user=? AND raw_name=?",
                                [(stamp, user, raw) for raw, stamp in stamps])

    def move_folder(self, user: str, raw_name: bytes, old_dirname: str, new_dirname: str, user_prefix: str) -> None:
        """The folder's directory was renamed: its row and every message path follow, in one transaction."""
        old_prefix = f"{user_prefix}/{old_dirname}/" if old_dirname else f"{user_prefix}/"
        new_prefix = f"{user_prefix}/{new_dirname}/" if new_dirname else f"{user_prefix}/"
        with transaction(self.db):
            self.db.execute("UPDATE folders SET dirname=? WHERE user=? AND raw_name=?", (new_dirname, user, raw_name))
            self.db.execute("UPDATE messages SET path=? || substr(path, ?) WHERE user=? AND folder=? AND substr(path, 1, ?)=?",
                            (new_prefix, len(old_prefix) + 1, user, raw_name, len(old_prefix), old_prefix))

    def users(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT DISTINCT user FROM folders ORDER BY user")]

    # --- messages ----------------------------------------------------------------------------

    def rows(self, user: str, folder: bytes, uidvalidity: int | None = None) -> list[Row]:
        sql = "SELECT * FROM messages WHERE user=? AND folder=?"
        args: tuple[object, ...] = (user, folder)
        if uidvalidity is not None:
            sql += " AND uidvalidity=?"
            args += (uidvalidity,)
        return [Row(r[0], bytes(r[1]), *r[2:]) for r in self.db.execute(sql, args)]

    def user_rows(self, user: str) -> list[Row]:
        return [Row(r[0], bytes(r[1]), *r[2:]) for r in self.db.execute("SELECT * FROM messages WHERE user=?", (user,))]

    def paths(self, user: str, folder: bytes) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT path FROM messages WHERE user=? AND folder=?", (user, folder))]

    def uids(self, user: str, folder: bytes, uidvalidity: int) -> dict[int, tuple[str, str]]:
        """uid -> (flags, path) for one folder generation."""
        cur = self.db.execute("SELECT uid, flags, path FROM messages WHERE user=? AND folder=? AND uidvalidity=?",
                              (user, folder, uidvalidity))
        return {r[0]: (r[1], r[2]) for r in cur}

    def insert_many(self, rows: list[Row]) -> None:
        self.insert_tuples([(r.user, r.folder, r.uidvalidity, r.uid, r.size, r.internaldate, r.flags,
                             r.message_id, r.sha256, r.path) for r in rows])

    def insert_tuples(self, rows: list[tuple[str, bytes, int, int, int, str, str, str, str, str]]) -> None:
        with transaction(self.db):
            self.insert_tuples_nocommit(rows)

    def insert_tuples_nocommit(self, rows: list[tuple[str, bytes, int, int, int, str, str, str, str, str]]) -> None:
        self.db.executemany("INSERT OR REPLACE INTO messages (user, folder, uidvalidity, uid, size, internaldate, flags, "
                            "message_id, sha256, path) VALUES (?,?,?,?,?,?,?,?,?,?)", rows)

    def mark_deleted(self, user: str, folder: bytes, uidvalidity: int, uids: list[int], when: str) -> None:
        """Messages gone from the server stay archived; the row says since when they are gone."""
        with transaction(self.db):
            self.db.executemany("UPDATE messages SET deleted_on_server=? WHERE user=? AND folder=? AND uidvalidity=? "
                                "AND uid=? AND deleted_on_server=''", [(when, user, folder, uidvalidity, u) for u in uids])

    def deleted_count(self, user: str) -> int:
        (n,) = self.db.execute("SELECT count(*) FROM messages WHERE user=? AND deleted_on_server!=''", (user,)).fetchone()
        return int(n)

    def begin(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.db.execute("COMMIT")

    def rollback(self) -> None:
        self.db.execute("ROLLBACK")

    def delete_paths(self, user: str, paths: list[str]) -> None:
        with transaction(self.db):
            self.db.executemany("DELETE FROM messages WHERE user=? AND path=?", [(user, p) for p in paths])

    def set_flags(self, changes: list[tuple[str, str, str]]) -> None:
        """(new_flags, new_path, old_path)."""
        with transaction(self.db):
            self.db.executemany("UPDATE messages SET flags=?, path=? WHERE path=?", changes)

    def move_paths(self, changes: list[tuple[str, str]]) -> None:
        """(new_path, old_path): files another tool renamed."""
        with transaction(self.db):
            self.db.executemany("UPDATE messages SET path=? WHERE path=?", changes)

    def rekey(self, user: str, folder: bytes, changes: list[tuple[int, int, str, str]]) -> None:
        """After a UIDVALIDITY change: (new_uidvalidity, new_uid, new_path, old_path)."""
        self.db.executemany("UPDATE messages SET uidvalidity=?, uid=?, path=? WHERE user=? AND folder=? AND path=?",
                            [(v, u, p, user, folder, old) for v, u, p, old in changes])
