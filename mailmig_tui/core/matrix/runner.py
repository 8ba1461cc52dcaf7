"""One matrix run as the CLI and the TUI both do it: users chosen, the project's `[matrix]` and `[dns]`
settings read, every finished cell written to the results database as it comes, the latest cells and
the summary for the project file at the end."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from mailmig_tui.core import clock
from mailmig_tui.core.copy.config import project_copy_config
from mailmig_tui.core.credentials import Credentials
from mailmig_tui.core.dns.project import project_config
from mailmig_tui.core.errors import UsageError
from mailmig_tui.core.i18n import _
from mailmig_tui.core.matrix.checks import FAILED, NOT_RUN, Cell
from mailmig_tui.core.matrix.config import db_path, project_matrix_config
from mailmig_tui.core.matrix.engine import CellDone, MatrixEngine, MatrixEvent
from mailmig_tui.core.matrix.results import ResultsDb
from mailmig_tui.core.model import Project, User


def select_users(project: Project, spec: str | None) -> list[User]:
    """`pilots` (the default), `all`, or comma-separated emails."""
    spec = (spec or "pilots").strip()
    if spec == "all":
        if not project.users:
            raise UsageError(_("the project has no users; add them with `mailmig users import`"))
        return list(project.users)
    if spec == "pilots":
        pilots = [u for u in project.users if u.role == "pilot"]
        if not pilots:
            raise UsageError(_("the project has no pilot users (role = \"pilot\"); name users with --users a@x,b@x "
                               "or test everyone with --users all"))
        return pilots
    chosen = []
    for email in (e.strip() for e in spec.split(",") if e.strip()):
        try:
            chosen.append(project.user(email))
        except KeyError:
            raise UsageError(_("{email} is not a user of this project").format(email=email)) from None
    if not chosen:
        raise UsageError(_("--users needs pilots, all, or email addresses"))
    return chosen


def check_settings(project: Project, project_path: Path) -> None:
    """Read `[matrix]`, `[dns]` and `[copy]` now, so a bad value is told (line and key) before anything
    asks for a passphrase or connects."""
    project_matrix_config(project, project_path)
    project_config(project, project_path)
    project_copy_config(project, project_path)


@dataclass
class Outcome:
    cells: list[Cell]
    latest: dict[tuple[str, str], Cell]
    started: datetime
    seconds: float
    cancelled: bool
    db: Path

    @property
    def failed(self) -> list[Cell]:
        return [c for c in self.cells if c.status == FAILED]

    @property
    def unproven(self) -> bool:
        """True when some cell failed or could not run: nothing may then be called a pass."""
        return any(c.status in (FAILED, NOT_RUN) for c in self.cells)


def run_matrix(project_path: Path, project: Project, credentials: Credentials, users: list[User],
               checks: list[str] | None, on_event: Callable[[MatrixEvent], None] | None = None,
               cancel: threading.Event | None = None) -> Outcome:
    config = project_matrix_config(project, project_path)
    dns = project_config(project, project_path)
    copy_config = project_copy_config(project, project_path)  # "Mail present" maps folders as the copy did
    path = db_path(project_path, config)
    db = ResultsDb(path)
    try:
        engine = MatrixEngine(project, credentials, users=users, checks=checks, config=config, dns=dns, cancel=cancel,
                              copy_config=copy_config)
        run_id = db.start_run(len(users), engine.checks)

        def forward(event: MatrixEvent) -> None:
            if isinstance(event, CellDone):
                db.add(run_id, event.cell)
            if on_event is not None:
                on_event(event)

        engine.on_event = forward
        started, t0 = clock.now(), time.monotonic()
        cells = engine.run()
        cancelled = engine.cancel.is_set()
        db.finish_run(run_id, cancelled)
        return Outcome(cells, db.latest(), started, time.monotonic() - t0, cancelled, path)
    finally:
        db.close()


def latest_cells(project_path: Path, project: Project) -> dict[tuple[str, str], Cell]:
    """The latest cell of every (user, check), for the screen; empty before the first run."""
    path = db_path(project_path, project_matrix_config(project, project_path))
    if not path.exists():
        return {}
    db = ResultsDb(path)
    try:
        return db.latest()
    finally:
        db.close()
