"""`mailmig test`: run the test-user matrix (core/matrix) from the command line.

JSON events (`--json`, one per line): started, cell (one per finished cell), summary, warning.
Exit codes as in cli.py: 0 every cell passed (or warned); 1 a cell failed or could not run; 2 usage;
3 project file; 5 credentials; 130 interrupted.
"""

from __future__ import annotations

import argparse
import textwrap
import threading
import time
import unicodedata
from pathlib import Path
from typing import Any

from mailmig_tui.commands.output import Reporter, first_ctrl_c_stops
from mailmig_tui.core.credentials import open_credentials, terminal_passphrase_prompt
from mailmig_tui.core.errors import MailmigError, ProjectLockedError, UsageError
from mailmig_tui.core.i18n import _
from mailmig_tui.core.matrix.checks import CHECK_IDS, FAILED, NOT_RUN, PASSED, WARNING, Cell, parse_checks, title
from mailmig_tui.core.matrix.engine import CellDone, MatrixEvent, MatrixStarted
from mailmig_tui.core.matrix.results import record_run, summary
from mailmig_tui.core.matrix.runner import Outcome, check_settings, run_matrix, select_users
from mailmig_tui.core.model import Project
from mailmig_tui.core.store import ProjectStore


class Interrupted(MailmigError):
    exit_code = 130


SHORT = {PASSED: "✓ ok", FAILED: "✗ FAIL", WARNING: "! warn", NOT_RUN: "— skip"}
CELL_WIDTH = 7


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "test", help=_("run the test-user matrix: real logins, mail sent and received through the new provider"),
        description=_("For each user (default: the pilots) and each check (old login, new login, send, receive, "
                      "receive via MX, mail present, client settings, DKIM), test against the real servers, print the "
                      "matrix and save the results (SQLite beside the project; the summary in [matrix.last_run]). "
                      "Exit codes: 0 every cell passed or warned; 1 a cell failed or could not run; 2 usage; "
                      "3 project file; 5 credentials; 130 interrupted."))
    p.add_argument("project", type=Path)
    p.add_argument("--users", default="pilots", help=_("pilots (default), all, or comma-separated emails"))
    p.add_argument("--checks", default="", help=_("comma-separated checks (default: all): {checks}").format(
        checks=",".join(CHECK_IDS)))
    p.add_argument("--json", action="store_true", help=_("print one JSON event per line"))
    p.set_defaults(func=cmd_test)


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _fit(text: str, width: int) -> str:
    if _width(text) <= width:
        return text + " " * (width - _width(text))
    out = ""
    for ch in text:
        if _width(out + ch) > width - 1:
            break
        out += ch
    return out + "…" + " " * (width - 1 - _width(out))


def render_table(project: Project, emails: list[str], latest: dict[tuple[str, str], Cell], width: int = 80) -> str:
    """The matrix as text, one row per user, fitting `width` columns; failures' reasons below it."""
    user_width = max(12, width - CELL_WIDTH * len(CHECK_IDS) - 1)
    lines = [(_fit(_("user"), user_width) + " " + "".join(_fit(title(c), CELL_WIDTH) for c in CHECK_IDS)).rstrip()]
    lines.append("-" * min(width, user_width + 1 + CELL_WIDTH * len(CHECK_IDS)))
    for email in emails:
        cells = []
        for check in CHECK_IDS:
            cell = latest.get((email.lower(), check))
            cells.append(_fit(SHORT[cell.status] if cell else "·", CELL_WIDTH))
        lines.append((_fit(email, user_width) + " " + "".join(cells)).rstrip())
    lines.append(_("✓ ok passed  ✗ FAIL failed  ! warn warning  — skip not run  · never run"))
    notes = [(e, c, latest[(e.lower(), c)]) for e in emails for c in CHECK_IDS
             if (e.lower(), c) in latest and latest[(e.lower(), c)].status in (FAILED, WARNING, NOT_RUN)]
    for email, check, cell in notes:
        lines += textwrap.wrap(f"{cell.symbol} {email} {title(check)}: {cell.reason}", width, subsequent_indent="    ")
    return "\n".join(lines)


def _printer(out: Reporter) -> Any:
    state = {"done": 0, "total": 0, "failed": 0}

    def on_event(event: MatrixEvent) -> None:
        if isinstance(event, MatrixStarted):
            state["total"] = len(event.users) * len(event.checks)
            out.event("started", _("Testing {n} users × {k} checks with {w} users at a time").format(
                n=len(event.users), k=len(event.checks), w=event.workers),
                users=list(event.users), checks=list(event.checks), workers=event.workers)
        elif isinstance(event, CellDone):
            c = event.cell
            state["done"] += 1
            state["failed"] += c.status == FAILED
            out.event("cell", None, user=c.user, check=c.check, status=c.status, reason=c.reason, started=c.started,
                      seconds=c.seconds, details=c.details)
            if not out.json_mode:
                out.progress("progress", _("  {done}/{total} cells done, {failed} failed").format(**state),
                             min_interval=1.0, force=state["done"] == state["total"])

    return on_event


def cmd_test(args: argparse.Namespace) -> int:
    out = Reporter(args.json)
    try:
        checks = parse_checks(args.checks) if args.checks else None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    store = ProjectStore.open(args.project)
    try:
        project = store.project
        users = select_users(project, args.users)
        check_settings(project, store.path)
        creds = open_credentials(terminal_passphrase_prompt)
        cancel = threading.Event()

        t0 = time.monotonic()
        with first_ctrl_c_stops(out, cancel.set,
                                _("stopping: cells still waiting are marked not run (Ctrl-C again to abort)")):
            outcome = run_matrix(store.path, project, creds, users, checks, _printer(out), cancel)
        _report(out, project, [u.email for u in users], outcome, time.monotonic() - t0)
        if not store.readonly:
            try:
                store.update(lambda p: record_run(p, outcome.cells, outcome.latest, outcome.started, outcome.seconds,
                                                  outcome.cancelled))
            except (ProjectLockedError, MailmigError) as exc:
                out.event("warning", _("warning: result not saved in the project: {error}").format(error=exc),
                          message=str(exc))
        else:
            out.event("warning", _("warning: the project is open elsewhere (read-only here): the cells are saved in "
                                   "{db}, the summary in the project is not").format(db=outcome.db), db=str(outcome.db))
        if outcome.cancelled:
            raise Interrupted(_("interrupted; cells not run are marked so"))
        return 1 if outcome.unproven else 0
    finally:
        store.close()


def _report(out: Reporter, project: Project, emails: list[str], outcome: Outcome, seconds: float) -> None:
    this_run = {(c.user.lower(), c.check): c for c in outcome.cells}
    if not out.json_mode:
        print(render_table(project, emails, this_run))
    counts = {s: sum(1 for c in outcome.cells if c.status == s) for s in (PASSED, FAILED, WARNING, NOT_RUN)}
    totals = summary(project, outcome.latest)
    out.event("summary", _("{cells} cells in {secs:.1f} s: {passed} passed, {failed} failed, {warnings} warnings, "
                           "{not_run} not run.\nPilots {pp}/{p} pass; all {up}/{u}.\nResults: {db}").format(
        cells=len(outcome.cells), secs=seconds, passed=counts[PASSED], failed=counts[FAILED],
        warnings=counts[WARNING], not_run=counts[NOT_RUN], pp=totals["pilots_passed"], p=totals["pilots"],
        up=totals["users_passed"], u=totals["users"], db=outcome.db),
        cells=len(outcome.cells), seconds=round(seconds, 2), passed=counts[PASSED], failed=counts[FAILED],
        warnings=counts[WARNING], not_run=counts[NOT_RUN], db=str(outcome.db), **totals)
