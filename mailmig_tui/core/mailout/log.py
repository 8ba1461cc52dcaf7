"""The send log: one row per (notice, recipient), written and synced before a message leaves.

States: `sending` (the row was committed and the message handed to SMTP; if a run dies here nobody
knows whether it went), `sent` (the server accepted it: its reply is kept), `refused` (a 5xx answer:
resending will not help), `deferred` (a 4xx answer or no connection: not accepted, safe to retry),
`uncertain` (the connection broke after the message was handed over).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS sends (
  notice TEXT NOT NULL,
  recipient TEXT NOT NULL,
  state TEXT NOT NULL,
  message_id TEXT NOT NULL,
  via TEXT NOT NULL,
  at TEXT NOT NULL,
  detail TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (notice, recipient)
);
"""

SENDING, SENT, REFUSED, DEFERRED, UNCERTAIN = "sending", "sent", "refused", "deferred", "uncertain"


def sendlog_path(project_path: Path) -> Path:
    stem = project_path.name.removesuffix(".mailmig.toml")
    return project_path.parent / f"{stem}.sendlog.sqlite"


@dataclass(frozen=True)
class Entry:
    notice: str
    recipient: str
    state: str
    message_id: str
    via: str
    at: datetime
    detail: str


class SendLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        # FULL: a row saying "sending" must be on disk before the message leaves, or a crash could lose
        # the only trace of a message that did go out.
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> SendLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, notice: str, recipient: str) -> Entry | None:
        row = self.db.execute("SELECT notice, recipient, state, message_id, via, at, detail FROM sends "
                              "WHERE notice = ? AND recipient = ?", (notice, recipient.lower())).fetchone()
        return None if row is None else Entry(row[0], row[1], row[2], row[3], row[4], datetime.fromisoformat(row[5]),
                                              row[6])

    def entries(self, notice: str | None = None) -> list[Entry]:
        sql = "SELECT notice, recipient, state, message_id, via, at, detail FROM sends"
        rows = self.db.execute(sql + (" WHERE notice = ?" if notice else "") + " ORDER BY at",
                               (notice,) if notice else ()).fetchall()
        return [Entry(r[0], r[1], r[2], r[3], r[4], datetime.fromisoformat(r[5]), r[6]) for r in rows]

    def record(self, notice: str, recipient: str, state: str, message_id: str, via: str, at: datetime,
               detail: str = "") -> None:
        """Upsert and commit (autocommit mode: each statement is its own synced transaction)."""
        self.db.execute(
            "INSERT INTO sends (notice, recipient, state, message_id, via, at, detail) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (notice, recipient) DO UPDATE SET state = excluded.state, message_id = excluded.message_id, "
            "via = excluded.via, at = excluded.at, detail = excluded.detail",
            (notice, recipient.lower(), state, message_id, via, at.isoformat(), detail))
