"""The Testing screen's Matrix tab: keys, a run in a worker against the mail lab, cancel, widen, and
the fixed-results views used by the snapshots. No timed assertions: waiting polls a bounded number of times."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Static

from mailmig_tui.core import credentials
from mailmig_tui.core.credentials import EncryptedFileBackend, service_name
from mailmig_tui.core.matrix.checks import CHECK_IDS, NOT_RUN, PASSED
from mailmig_tui.core.store import ProjectStore, load_project
from mailmig_tui.lab.mail import MailLab
from mailmig_tui.ui.app import MailmigApp
from mailmig_tui.ui.phases.testing.matrix import MatrixPanel
from mailmig_tui.ui.widgets.dialogs import ConfirmDialog
from tests.matrix.conftest import USERS

SIZE = (80, 24)
POLLS = 1200  # x 0.05 s


@pytest.fixture
def lab_credentials_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, good_zone: MailLab) -> Iterator[None]:
    monkeypatch.setenv("MAILMIG_CREDENTIALS_FILE", str(tmp_path / "creds.enc"))
    monkeypatch.setenv("MAILMIG_PASSPHRASE", "matrix-ui")
    import keyring.core

    keyring.core._keyring_backend = None
    credentials.forget_session()
    rows = []
    for email in USERS:
        rows += [(service_name("corp.test", "old"), email, good_zone.old.users[email]),
                 (service_name("corp.test", "new"), email, good_zone.new.users[email])]
    EncryptedFileBackend(tmp_path / "creds.enc", "matrix-ui").set_many(rows)
    yield
    credentials.forget_session()


async def wait_until(pilot: Pilot[Any], condition: Callable[[], bool], what: str) -> None:
    for _ in range(POLLS):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"still waiting for {what}")


def cell(panel: MatrixPanel, email: str, check: str) -> str:
    return str(panel.table.get_cell(email, check)).strip()


async def open_matrix(app: MailmigApp, pilot: Pilot[Any]) -> MatrixPanel:
    await pilot.press("5", "]")
    panel = app.screen.query_one(MatrixPanel)
    assert panel.table.has_focus
    return panel


@pytest.mark.lab
async def test_run_everything_for_the_pilots_then_one_cell_then_widen(project_path: Path,
                                                                       lab_credentials_file: None) -> None:
    app = MailmigApp(ProjectStore.open(project_path))
    async with app.run_test(size=SIZE) as pilot:
        panel = await open_matrix(app, pilot)
        assert panel.table.row_count == 2  # the pilots
        assert cell(panel, "ann@corp.test", "mx") == "·"
        await pilot.press("a")
        await wait_until(pilot, lambda: panel.progress[1] == 16 and not panel.worker_running, "the run to end")
        for email in ("ann@corp.test", "bob@corp.test"):
            assert [cell(panel, email, c) for c in CHECK_IDS] == ["✓ ok"] * 8
        info = str(panel.query_one("#matrix-info", Static).render())
        assert "2/2 of these users pass every check" in info
        # The summary is saved for the dashboard.
        assert load_project(project_path).sections["matrix"]["last_run"]["pilots_passed"] == 2
        # One cell: move to bob's MX and run it alone.
        await pilot.press("down", *["right"] * (CHECK_IDS.index("mx") + 1))
        assert panel._highlighted() == ("bob@corp.test", "mx")
        ann_before = panel.latest[("ann@corp.test", "mx")]
        await pilot.press("x")
        # progress counts this run's cells: one cell only, done
        await wait_until(pilot, lambda: panel.progress == (1, 1, 0) and not panel.worker_running, "the cell to run")
        assert panel.latest[("bob@corp.test", "mx")].status == PASSED
        assert panel.latest[("ann@corp.test", "mx")] == ann_before  # the rest untouched
        detail = str(panel.query_one("#matrix-detail", Static).render())
        assert "bob@corp.test · MX: ok · via mx1.newmail.test" in detail
        # Widen to everyone: cat and dan appear, never run.
        await pilot.press("w")
        assert panel.table.row_count == 4 and cell(panel, "cat@corp.test", "send") == "·"
        # The overview shows the summary.
        await pilot.press("0")
        summary = str(app.screen.query_one("#dash-summary", Static).render())
        assert "Test matrix: pilots 2/2 pass; all 2/4" in summary
    app.store.close()


@pytest.mark.lab
async def test_cancel_a_run(project_path: Path, lab_credentials_file: None, good_zone: MailLab,
                            tmp_path: Path) -> None:
    project = load_project(project_path)
    project.sections["matrix"]["probe_timeout"] = 60
    ProjectStore.create(project_path, project, overwrite=True).close()
    # The MX probes go to the old provider, whose mailboxes cannot be opened (no old passwords): the MX
    # cells wait for a probe that never shows up at the new provider, until the run is cancelled.
    good_zone.apply_zone(mx="old")
    store = EncryptedFileBackend(tmp_path / "creds.enc", "matrix-ui")
    for email in ("ann@corp.test", "bob@corp.test"):
        store.delete(service_name("corp.test", "old"), email)
    app = MailmigApp(ProjectStore.open(project_path))
    async with app.run_test(size=SIZE) as pilot:
        panel = await open_matrix(app, pilot)
        await pilot.press("a")
        await wait_until(pilot, lambda: panel.worker_running and panel.progress[0] >= 6, "cells to finish")
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the question")
        await pilot.press("y")
        await wait_until(pilot, lambda: not panel.worker_running, "the run to stop")
        mx = panel.latest[("ann@corp.test", "mx")]
        assert mx.status == NOT_RUN and "cancelled" in mx.reason
        assert panel.latest[("ann@corp.test", "send")].status == PASSED  # what finished is kept
    app.store.close()


def fixed_results() -> dict[tuple[str, str], Any]:
    from mailmig_tui.core.matrix.checks import Cell

    at = datetime(2026, 11, 27, 9, 58, tzinfo=UTC)
    cells: dict[tuple[str, str], Any] = {}
    for email in ("li.na@corp.example", "wang.fang@corp.example", "alice.wong@corp.example"):
        for check in CHECK_IDS:
            cells[(email, check)] = Cell(email, check, PASSED, "ok", at, 0.4)
    return cells


async def test_the_detail_line_tells_the_reason(demo_path: Path) -> None:
    from mailmig_tui.core.matrix.checks import FAILED, Cell

    app = MailmigApp(ProjectStore.open(demo_path))
    async with app.run_test(size=SIZE) as pilot:
        panel = await open_matrix(app, pilot)
        results = fixed_results()
        results[("li.na@corp.example", "mx")] = Cell("li.na@corp.example", "mx", FAILED,
                                                     "landed at the old provider (MX mx.exmail.qq.com)",
                                                     datetime(2026, 11, 27, 9, 59, tzinfo=UTC), 3.2)
        panel.show_results(results)
        await pilot.press(*["right"] * (CHECK_IDS.index("mx") + 1))
        assert cell(panel, "li.na@corp.example", "mx") == "✗ FAIL"
        detail = str(panel.query_one("#matrix-detail", Static).render())
        assert "✗ li.na@corp.example · MX: FAIL · landed at the old provider" in detail and "took 3.2 s" in detail
        # Keys that need a run are refused while one runs; cancel only then.
        assert panel.check_action("cancel", ()) is False and panel.check_action("run_all", ()) is True
    app.store.close()
