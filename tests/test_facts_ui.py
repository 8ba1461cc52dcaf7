"""Setting a phase's status against its facts: the dashboard's confirmation dialog and log entry (Pilot),
and `mailmig phase` refusing without --force."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from textual.widgets import DataTable, Static

from mailmig_tui.core.phases import Phase, PhaseStatus
from mailmig_tui.core.store import ProjectStore, load_project
from mailmig_tui.ui.app import MailmigApp
from mailmig_tui.ui.widgets.dialogs import ConfirmDialog
from tests.waiting import wait_for

SIZE = (80, 24)


def backup_status(path: Path) -> PhaseStatus:
    return load_project(path).phases[Phase.BACKUP]


async def test_s_against_the_facts_asks_and_logs_the_facts_it_overrode(demo_path: Path, frozen_clock: datetime) -> None:
    app = MailmigApp(ProjectStore.open(demo_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("down")  # Backup: nothing has run, the facts say not started
        table = app.screen.query_one("#dash-phases", DataTable)
        assert str(table.get_row_at(1)[2]) == "· not started"
        await pilot.press("s", "s")  # in progress, blocked: in line with the facts, no questions
        assert backup_status(demo_path) == PhaseStatus.BLOCKED
        assert not isinstance(app.screen, ConfirmDialog)
        events = len(load_project(demo_path).events)

        await pilot.press("s")  # done, with no backup at all: asks first
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the confirmation")
        message = str(app.screen.query_one(".title", Static).render())
        assert "Set Backup to ✓ done?" in message and "The facts say · not started: no backup has run" in message
        await pilot.press("n")
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmDialog), "the dialog to close")
        assert backup_status(demo_path) == PhaseStatus.BLOCKED and len(load_project(demo_path).events) == events

        await pilot.press("s")  # the declined status is skipped once: on to not started
        assert backup_status(demo_path) == PhaseStatus.NOT_STARTED
        await pilot.press("s", "s", "s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the confirmation")
        await pilot.press("y")
        await wait_for(pilot, lambda: backup_status(demo_path) == PhaseStatus.DONE, "the forced status saved")
        event = load_project(demo_path).events[-1]
        assert event.who == "tester"
        assert event.what == "set Backup to done against the facts (· not started: no backup has run (`mailmig backup`))"
        assert event.extra["overrode"]["facts"] == "not_started"

        # Both are shown, by symbol and word: the status set by hand and what the facts say.
        assert str(table.get_row_at(1)[1]) == "✓ done" and str(table.get_row_at(1)[2]) == "≠ · not started"
        evidence = str(app.screen.query_one("#dash-evidence", Static).render())
        assert "≠ set to ✓ done by hand; the facts say · not started" in evidence
        assert "Facts · Backup: · not started — no backup has run" in evidence

        await pilot.press("s")  # out of line with the facts: s goes back to what they say
        assert backup_status(demo_path) == PhaseStatus.NOT_STARTED


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mailmig_tui", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "MAILMIG_LANG": "en", "MAILMIG_OPERATOR": "li.na"})


def test_cli_phase_refuses_against_the_facts_unless_forced(demo_path: Path) -> None:
    before = demo_path.read_text()
    refused = run("phase", str(demo_path), "backup", "done")
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        "mailmig: Backup: the facts say · not started: no backup has run (`mailmig backup`); setting it to done "
        "needs --force"]
    assert demo_path.read_text() == before  # nothing written

    fine = run("phase", str(demo_path), "backup", "in_progress")  # in line with the facts
    assert fine.returncode == 0, fine.stderr
    project = load_project(demo_path)
    assert project.phases[Phase.BACKUP] == PhaseStatus.IN_PROGRESS
    assert project.events[-1].what == "set Backup to in progress" and "overrode" not in project.events[-1].extra

    forced = run("phase", str(demo_path), "backup", "done", "--force")
    assert forced.returncode == 0, forced.stderr
    assert "set against the facts (· not started: no backup has run" in forced.stdout
    project = load_project(demo_path)
    assert project.phases[Phase.BACKUP] == PhaseStatus.DONE
    assert project.events[-1].who == "li.na" and "against the facts" in project.events[-1].what
    assert project.events[-1].extra["overrode"] == {"phase": "backup", "status": "done", "facts": "not_started",
                                                    "evidence": "no backup has run (`mailmig backup`)"}

    golive = run("phase", str(demo_path), "go_live", "done", "--force")  # only through the gate
    assert golive.returncode == 2 and "mailmig golive done" in golive.stderr

    status = run("status", str(demo_path))
    assert "facts: ≠ · not started · no backup has run" in status.stdout
    as_json = json.loads(run("status", str(demo_path), "--json").stdout)
    backup = next(p for p in as_json["phases"] if p["phase"] == "backup")
    assert backup["status"] == "done" and backup["agrees_with_facts"] is False
    assert backup["facts"] == {"status": "not_started", "evidence": "no backup has run (`mailmig backup`)", "at": None}


async def test_s_marks_go_live_done_through_the_passed_gate(demo_path: Path, frozen_clock: datetime) -> None:
    with ProjectStore.open(demo_path) as store:
        store.update(lambda p: p.sections.__setitem__("golive", {"last_check": {
            "at": frozen_clock, "passed": True, "failing": []}}))
    app = MailmigApp(ProjectStore.open(demo_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*["down"] * 5)  # Go-live: the gate passed, go-live not recorded yet
        table = app.screen.query_one("#dash-phases", DataTable)
        assert str(table.get_row_at(5)[2]) == "≠ ▶ in progress"  # not started by hand, but the gate ran
        await pilot.press("s")  # first: what the facts say
        assert load_project(demo_path).phases[Phase.GO_LIVE] == PhaseStatus.IN_PROGRESS
        await pilot.press("s", "s")  # blocked, then done: recorded as `golive done` records it, no dialog
        saved = load_project(demo_path)
        assert saved.phases[Phase.GO_LIVE] == PhaseStatus.DONE and saved.sections["golive"]["done_at"] == frozen_clock
        assert not isinstance(app.screen, ConfirmDialog)
        assert str(table.get_row_at(5)[2]) == "✓ done"


async def test_a_phase_screen_set_done_by_hand_says_what_the_facts_say(demo_path: Path, frozen_clock: datetime) -> None:
    from mailmig_tui.core.facts import derive_one, set_status

    with ProjectStore.open(demo_path) as store:
        fact = derive_one(store.project, Phase.BACKUP, demo_path)
        store.update(lambda p: set_status(p, Phase.BACKUP, PhaseStatus.DONE, fact, confirmed=True, who="tester"))
    app = MailmigApp(ProjectStore.open(demo_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await wait_for(pilot, lambda: bool(app.screen.query("#phase-summary")), "the Backup screen")
        summary = str(app.screen.query_one("#phase-summary", Static).render())
        assert summary.startswith("2. Backup · done (≠ the facts say · not started) · "), summary
        await pilot.press("3")  # a phase in line with its facts reads as before
        await wait_for(pilot, lambda: str(app.screen.query_one("#phase-summary", Static).render()).startswith("3."),
                       "the DNS screen")
        assert "≠" not in str(app.screen.query_one("#phase-summary", Static).render())
