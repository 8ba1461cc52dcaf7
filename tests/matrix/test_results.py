"""Results kept in SQLite (latest per cell, history), the summary for the dashboard, [matrix] errors
naming line and key. No server needed."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mailmig_tui.core.matrix.checks import CHECK_IDS, FAILED, NOT_RUN, PASSED, Cell, parse_checks
from mailmig_tui.core.matrix.config import parse_matrix_section
from mailmig_tui.core.matrix.results import ResultsDb, dashboard_line, record_run, summary
from mailmig_tui.core.model import Project, SchemaError, User
from mailmig_tui.core.project_factory import demo_project
from mailmig_tui.core.store import ProjectStore

AT = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def test_latest_cell_and_history(tmp_path: Path) -> None:
    db = ResultsDb(tmp_path / "m.sqlite")
    run1 = db.start_run(1, ["mx"])
    db.add(run1, Cell("Ann@corp.test", "mx", FAILED, "landed at the old provider", AT, 3.0))
    db.finish_run(run1, False)
    run2 = db.start_run(1, ["mx"])
    db.add(run2, Cell("ann@corp.test", "mx", PASSED, "via mx1", AT, 1.0))
    run3 = db.start_run(1, ["mx"])
    db.add(run3, Cell("ann@corp.test", "mx", NOT_RUN, "cancelled", AT, 0.0))  # does not hide the pass
    latest = db.latest()
    assert latest[("ann@corp.test", "mx")].status == PASSED
    assert [c.status for c in db.history("ann@corp.test", "mx")] == [NOT_RUN, PASSED, FAILED]
    db.close()


def test_summary_and_dashboard_line() -> None:
    project = Project("corp.test", users=[User("a@corp.test", role="pilot"), User("b@corp.test", role="pilot"),
                                          User("c@corp.test")])
    cells = [Cell(u, c, PASSED, "", AT, 0.1) for u in ("a@corp.test", "c@corp.test") for c in CHECK_IDS]
    cells.append(Cell("b@corp.test", "mx", FAILED, "nowhere", AT, 20.0))
    latest = {(c.user, c.check): c for c in cells}
    assert summary(project, latest) == {"pilots": 2, "pilots_passed": 1, "users": 3, "users_passed": 2}
    assert dashboard_line(project) is None
    record_run(project, cells, latest, AT, 12.0, False)
    assert dashboard_line(project).startswith("Test matrix: pilots 1/2 pass; all 2/3")  # type: ignore[union-attr]
    assert project.sections["matrix"]["last_run"]["failures"] == ["b@corp.test mx: nowhere"]


def test_checks_and_config_errors() -> None:
    assert parse_checks("DKIM, send,mx") == ["send", "mx", "dkim"]
    with pytest.raises(ValueError, match="unknown check 'x'"):
        parse_checks("x")
    with pytest.raises(SchemaError) as err:
        parse_matrix_section({"probe_timeout": "soon"})
    assert err.value.path == ("matrix", "probe_timeout")
    with pytest.raises(SchemaError) as err:
        parse_matrix_section({"sending_ips": ["not-an-ip"]})
    assert err.value.path == ("matrix", "sending_ips", 0)


def test_a_bad_matrix_section_is_one_line_naming_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "corp.example.mailmig.toml"
    project = demo_project(AT)
    project.sections["matrix"] = {"probe_timeout": 0}
    ProjectStore.create(path, project).close()
    result = subprocess.run([sys.executable, "-m", "mailmig_tui", "test", str(path)], capture_output=True, text=True,
                            timeout=60, env={**__import__("os").environ, "MAILMIG_LANG": "en"})
    assert result.returncode == 3, result.stderr
    assert "key matrix.probe_timeout: must be between 1 and 3600" in result.stderr and "line" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_sending_limit_spaces_submissions_and_stops_on_cancel() -> None:
    import threading
    import time

    from mailmig_tui.core.matrix.engine import RateLimit

    cancel = threading.Event()
    limit = RateLimit(6000, cancel)  # one every 10 ms
    t0 = time.monotonic()
    for _ in range(6):
        limit.wait()
    assert time.monotonic() - t0 >= 0.05  # five intervals at least, however fast the machine
    slow = RateLimit(1, cancel)  # one a minute
    slow.wait()
    cancel.set()
    t0 = time.monotonic()
    slow.wait()  # would wait a minute; the cancel ends it
    assert time.monotonic() - t0 < 30
    assert RateLimit(0, cancel).interval == 0.0
