"""Fixed matrix results for the snapshot tests and screenshots: the demo project's pilots mid-run, and
after a run with failures. No mail server; the same picture every time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mailmig_tui.core.matrix.checks import CHECK_IDS, FAILED, PASSED, WARNING, Cell
from mailmig_tui.core.matrix.engine import CellDone, CellStarted, MatrixStarted
from mailmig_tui.core.matrix.results import record_run
from mailmig_tui.core.model import Project
from mailmig_tui.ui.phases.testing.matrix import MatrixPanel

STAGES = ("running", "failures")
AT = datetime(2026, 11, 27, 9, 52, tzinfo=UTC)
PILOTS = ("li.na@corp.example", "wang.fang@corp.example", "alice.wong@corp.example")
GOOD = {
    "old_login": "logged in to imap.exmail.qq.com in 0.4 s",
    "new_login": "logged in to imap.qiye.aliyun.com in 0.3 s",
    "send": "accepted by smtp.qiye.aliyun.com:465 (2.0.0 Ok: queued as 4F2A1C)",
    "receive": "arrived in the new INBOX after 2.1 s",
    "mx": "via mx1.qiye.aliyun.com: in the new INBOX after 3.4 s",
    "present": "6 folders match; the newest 5 messages are there",
    "client": "3 records point at the new provider (_imaps, _submission, autodiscover)",
    "dkim": "DKIM d=corp.example s=default verifies; SPF pass for 203.0.113.25",
}
SECONDS = {"old_login": 0.4, "new_login": 0.3, "send": 0.6, "receive": 2.1, "mx": 3.4, "present": 1.8,
           "client": 0.2, "dkim": 0.1}
BAD = {
    ("li.na@corp.example", "mx"): (FAILED, "landed at the old provider (MX mx.exmail.qq.com): the domain's MX still "
                                           "points there for this resolver", 3.9),
    ("wang.fang@corp.example", "present"): (FAILED, "Sent: 1,180 of 1,204 messages (and 1 more problems)", 2.4),
    ("wang.fang@corp.example", "dkim"): (FAILED, "the DKIM signature (d=corp.example, s=default) does not verify "
                                                 "against the key published at default._domainkey.corp.example", 0.1),
    ("alice.wong@corp.example", "client"): (WARNING, "autoconfig.corp.example → autoconfig.example.net, not a known "
                                                     "host of the new provider", 0.2),
}


def cells(users: tuple[str, ...] = PILOTS) -> list[Cell]:
    out = []
    for i, email in enumerate(users):
        for j, check in enumerate(CHECK_IDS):
            status, reason, seconds = BAD.get((email, check), (PASSED, GOOD[check], SECONDS[check]))
            out.append(Cell(email, check, status, reason, AT + timedelta(seconds=10 * i + j), seconds))
    return out


def prepare(project: Project) -> None:
    """The project as it is after the failing run (its `[matrix.last_run]` for the summary line)."""
    done = cells()
    latest = {(c.user, c.check): c for c in done}
    record_run(project, done, latest, AT, 41.0, False)


def show(panel: MatrixPanel, stage: str) -> None:
    done = cells()
    if stage == "failures":
        panel.show_results({(c.user, c.check): c for c in done})
        # the highlighted cell: li.na's MX, whose reason shows below the grid
        panel.table.move_cursor(row=0, column=1 + CHECK_IDS.index("mx"), animate=False)
        return
    panel.show_results({})
    panel.clock = lambda: 65.0
    panel._run_t0 = 0.0
    panel.worker_running = True
    panel.apply_event(MatrixStarted(PILOTS, CHECK_IDS, 3), refresh=False)
    first_rows = [c for c in done if c.user == PILOTS[0]]
    for cell in first_rows:
        panel.apply_event(CellDone(cell), refresh=False)
    for cell in done:
        if cell.user == PILOTS[1] and cell.check in ("old_login", "new_login", "send", "mx", "present"):
            panel.apply_event(CellDone(cell), refresh=False)
    for check in ("receive", "client"):
        panel.apply_event(CellStarted(PILOTS[1], check), refresh=False)
    for check in ("old_login", "new_login"):
        panel.apply_event(CellStarted(PILOTS[2], check), refresh=False)
    panel.refresh_bindings()
    panel.table.move_cursor(row=0, column=1 + CHECK_IDS.index("mx"), animate=False)
    panel.redraw()
