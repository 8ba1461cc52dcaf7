"""One SQLite transaction on a connection opened with `isolation_level=None`.

With that setting (which our stores use, to control transactions themselves) `with connection:` opens
no transaction: each statement of an `executemany` commits on its own, a WAL frame and a round of file
locks per row, and a group of statements meant to land together does not. `transaction(db)` is BEGIN
IMMEDIATE (the write lock taken up front, so the busy timeout applies instead of a failed upgrade) …
COMMIT, or ROLLBACK on an exception. Inside an open transaction it joins that one.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator


@contextlib.contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    if db.in_transaction:
        yield db
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
