"""A sample migration a day after its MX cutover, for the report's screenshot (scripts/screenshots.py):
the demo project with the records the engines would have left (project-file sections, the archive index,
the identity map, the matrix cells, the DNS watch history, the send log), written with the engines' own
schemas. Sample data: the lab tests (tests/report/, tests/dns/test_report_dns.py) use real runs."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

from mailmig_tui.core.backup.engine import INDEX_NAME
from mailmig_tui.core.backup.index import Index
from mailmig_tui.core.copy.engine import IDMAP_NAME
from mailmig_tui.core.copy.idmap import IdentityMap
from mailmig_tui.core.dns.history import SCHEMA as WATCH_SCHEMA
from mailmig_tui.core.dns.history import watch_history_path
from mailmig_tui.core.mailout.log import SENT, SendLog, sendlog_path
from mailmig_tui.core.matrix.checks import CHECK_IDS, FAILED, PASSED, Cell
from mailmig_tui.core.matrix.results import ResultsDb
from mailmig_tui.core.model import Event
from mailmig_tui.core.phases import Phase, PhaseStatus
from mailmig_tui.core.project_factory import demo_project
from mailmig_tui.core.store import ProjectStore

# user -> (messages, bytes) in the archive
MAILBOXES = {0: (4211, 1_480_000_000), 1: (2890, 612_000_000), 2: (10234, 3_870_000_000), 3: (1502, 221_000_000),
             4: (6120, 1_020_000_000), 5: (880, 95_000_000), 6: (3304, 702_000_000), 7: (12011, 5_230_000_000),
             8: (450, 61_000_000), 9: (2750, 540_000_000)}
RESOLVERS = [("aliyun", 4), ("dnspod", 11), ("114dns", 7), ("google", 3), ("cloudflare", 2), ("quad9", 19)]


def prepare(folder: Path, now: datetime) -> tuple[Path, datetime]:
    """Write the sample project under `folder`; returns its path and the time to date the report at."""
    project = demo_project(now)
    plan = project.plan.dates
    backup_at = plan["backup_start"] + timedelta(minutes=12)  # type: ignore[operator]
    prestage_at = plan["prestage_copy"] + timedelta(hours=1)  # type: ignore[operator]
    cutover = plan["mx_cutover"] + timedelta(minutes=4)  # type: ignore[operator]
    generated = cutover + timedelta(hours=20)
    users = project.users
    path = folder / "corp.example.mailmig.toml"
    dest = folder / "corp.example-backup"
    dest.mkdir()
    index = Index(dest / INDEX_NAME)
    for i, u in enumerate(users):
        n, size = MAILBOXES[i]
        index.insert_tuples([(u.email, b"INBOX" if k % 3 else b"Sent", 1, k + 1, size // n, "2024-01-01T00:00:00+08:00",
                              "\\Seen", f"<m{k}@corp.example>", f"{k:064x}", f"users/{i}/cur/{k}")
                             for k in range(n)])
    index.close()
    bad = users[7].email
    project.sections["backup"] = {"dest": str(dest), "last_run": {
        "started": backup_at, "finished": backup_at + timedelta(hours=3, minutes=41), "users": len(users),
        "users_ok": len(users), "users_failed": 0, "users_cancelled": 0,
        "messages": sum(m for m, _b in MAILBOXES.values()), "bytes": sum(b for _m, b in MAILBOXES.values()),
        "seconds": 13260.0, "messages_per_second": 3.4, "errors": []},
        "last_verify": {"at": backup_at + timedelta(hours=4, minutes=30), "users": len(users),
                        "users_ok": len(users), "differences": [],
                        "results": {u.email: "ok" for u in users}}}
    copy_dir = folder / "corp.example.copy"
    copy_dir.mkdir()
    idmap = IdentityMap(copy_dir / IDMAP_NAME)
    idmap.db.execute("BEGIN")  # the map's connection is in autocommit mode: one transaction for the sample
    for i, u in enumerate(users):
        n, size = MAILBOXES[i]
        n -= 3 if u.email == bad else 0
        idmap.db.executemany(
            "INSERT INTO messages (user, source_raw, source_uidvalidity, source_uid, target_raw, target_uidvalidity, "
            "target_uid, sha256, size, message_id, flags, state) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            [(u.email, b"INBOX", 1, k + 1, b"INBOX", 7, k + 1, f"{k:064x}", size // MAILBOXES[i][0], "", "", "done")
             for k in range(n)])
    idmap.db.execute("COMMIT")
    idmap.close()
    verified = prestage_at + timedelta(hours=5)
    project.sections["copy"] = {
        "last_run": {"started": prestage_at, "finished": prestage_at + timedelta(hours=4), "phase": "prestage",
                     "source": "archive", "users": len(users), "users_ok": len(users), "users_failed": 0,
                     "users_cancelled": 0, "messages": 44_349, "bytes": 13_831_000_000, "seconds": 14400.0,
                     "messages_per_second": 3.1, "errors": []},
        "last_verify": {"at": verified, "users": len(users), "users_ok": len(users) - 1,
                        "differences": [f"{bad}: 3 missing in Projects/2024"]},
        "users": {u.email: {"copied_at": prestage_at + timedelta(hours=4), "state": "done", "phase": "prestage",
                            "messages": MAILBOXES[i][0], "bytes": MAILBOXES[i][1], "verified_at": verified,
                            "verify": "different" if u.email == bad else "ok",
                            "verify_missing": 3 if u.email == bad else 0, "verify_extra": 0, "verify_different": 0}
                  for i, u in enumerate(users)},
    }
    project.sections["accounts"] = {"last_check": {"at": prestage_at - timedelta(hours=2), "users": len(users),
                                                   "users_ok": len(users), "failures": []}}
    # The test matrix: pilots pass; one user's DKIM check failed.
    db_path = folder / "corp.example.matrix.sqlite"
    results = ResultsDb(db_path)
    run = results.start_run(len(users), CHECK_IDS)
    matrix_at = cutover + timedelta(hours=2)
    for u in users:
        for check in CHECK_IDS:
            failed = u.email == users[4].email and check == "dkim"
            results.add(run, Cell(u.email, check, FAILED if failed else PASSED,
                                  "no DKIM-Signature header" if failed else "", matrix_at, 1.2))
    results.finish_run(run, False)
    results.close()
    pilots = [u for u in users if u.role == "pilot"]
    project.sections["matrix"] = {"last_run": {
        "at": matrix_at, "seconds": 48.0, "users": len(users), "cells": len(users) * len(CHECK_IDS),
        "passed": len(users) * len(CHECK_IDS) - 1, "failed": 1, "warnings": 0, "not_run": 0, "cancelled": False,
        "pilots": len(pilots), "pilots_passed": len(pilots), "users_passed": len(users) - 1,
        "failures": [f"{users[4].email} dkim: no DKIM-Signature header"]}}
    # The DNS watch: the zone flipped at the cutover; the resolvers followed one by one.
    with sqlite3.connect(watch_history_path(path)) as db:
        db.executescript(WATCH_SCHEMA)
        start = cutover - timedelta(minutes=30)
        for server in ("ns1.hichina.com", "ns2.hichina.com"):
            db.execute("INSERT INTO states VALUES ('authoritative', ?, 'mx', 'new', ?, ?, ?)",
                       (server, cutover.isoformat(), generated.isoformat(), cutover.isoformat()))
        for name, minutes in RESOLVERS:
            flip = cutover + timedelta(minutes=minutes)
            db.execute("INSERT INTO states VALUES ('resolver', ?, 'mx', 'new', ?, ?, ?)",
                       (name, flip.isoformat(), (generated - timedelta(minutes=1)).isoformat(), flip.isoformat()))
            db.execute("INSERT INTO changes VALUES (?, 'resolver', ?, 'mx', 'new', 'old')", (flip.isoformat(), name))
        complete = cutover + timedelta(minutes=max(m for _n, m in RESOLVERS) + 1)
        db.executemany("INSERT INTO meta VALUES (?, ?)", [
            ("first_sweep", start.isoformat()), ("last_sweep", (generated - timedelta(minutes=1)).isoformat()),
            ("sweeps", "2520"), ("cutover_at", cutover.isoformat()), ("complete_at", complete.isoformat())])
    drained = cutover + timedelta(seconds=project.plan.old_mx_ttl)
    project.sections["golive"] = {
        "observed": {"auth_new_since": cutover, "drained_at": drained},
        "last_check": {"at": generated - timedelta(hours=1), "passed": False, "failing": [
            f"copy: verify found differences: {bad}",
            f"matrix: widened to everyone: {len(users) - 1}/{len(users)} pass",
            "final-delta: the final delta has not run (`mailmig golive final-delta`)",
            "stragglers: counted from the final delta, which has not run",
            "reminder: the go-live notice has not been sent (`mailmig notices send PROJECT --notice go_live`)"]}}
    with SendLog(sendlog_path(path)) as log:
        for u in users:
            log.record("announcement", u.email, SENT, f"<a-{u.email}>", "smtp.qiye.aliyun.com",
                       plan["ttl_lowered"] + timedelta(hours=1))  # type: ignore[operator]
    for item_id in ("prep-announce", "prep-imap-enabled", "backup-credentials", "backup-disk", "backup-run",
                    "backup-verify", "dns-inventory", "dns-dkim", "dns-spf", "dns-mx", "dns-watch", "acct-create",
                    "acct-passwords", "acct-prestage", "test-pilots", "test-send-receive"):
        item = project.item(item_id)
        item.done, item.done_by, item.done_at = True, "zhang.wei", cutover
    project.phases.update({Phase.PREPARATION: PhaseStatus.DONE, Phase.BACKUP: PhaseStatus.DONE,
                           Phase.DNS: PhaseStatus.DONE, Phase.ACCOUNTS: PhaseStatus.IN_PROGRESS,
                           Phase.TESTING: PhaseStatus.IN_PROGRESS})
    project.events += [Event(backup_at, "zhang.wei", "backed up 10 users (44,352 messages)"),
                       Event(prestage_at, "zhang.wei", "pre-stage copy of 10 users from the archive"),
                       Event(cutover, "li.na", "switched the MX records to the new provider"),
                       Event(matrix_at, "zhang.wei", "ran the test matrix: 79/80 cells pass")]
    ProjectStore.create(path, project, overwrite=True).close()
    return path, generated
