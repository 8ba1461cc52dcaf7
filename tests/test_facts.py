"""Each phase's facts derived from crafted project files and real SQLite data (core/facts.py), and the
rule for when a status set by hand agrees with them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mailmig_tui.core import dashboard
from mailmig_tui.core.facts import AgainstFacts, Fact, FactStatus, agrees, derive, derive_one, set_status
from mailmig_tui.core.matrix.checks import CHECK_IDS, FAILED, PASSED, Cell
from mailmig_tui.core.matrix.results import ResultsDb
from mailmig_tui.core.model import PLAN_KEYS, Project, User
from mailmig_tui.core.monitor.checks import FAIL, OK, UNKNOWN, Health
from mailmig_tui.core.monitor.history import History, history_path
from mailmig_tui.core.phases import Phase, PhaseStatus
from mailmig_tui.core.project_factory import new_project
from mailmig_tui.core.store import ProjectStore, load_project

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
USERS = ["a@corp.example", "b@corp.example"]


def make(tmp_path: Path, sections: dict[str, Any] | None = None) -> tuple[Project, Path]:
    project = new_project("corp.example", "generic-imap", "generic-imap")
    project.users = [User(u) for u in USERS]
    project.sections.update(sections or {})
    path = tmp_path / "corp.example.mailmig.toml"
    ProjectStore.create(path, project, overwrite=True).close()
    return load_project(path), path  # read back: what the file holds, not what was built


def fact(tmp_path: Path, phase: Phase, sections: dict[str, Any], now: datetime = T0 + timedelta(hours=1)) -> Fact:
    project, path = make(tmp_path, sections)
    return derive_one(project, phase, path, now)


# --- Preparation ----------------------------------------------------------------------------------


def test_preparation_needs_every_item_and_a_whole_plan(tmp_path: Path) -> None:
    project, path = make(tmp_path)
    for item in project.items_for(Phase.PREPARATION):
        item.done = False
    assert derive_one(project, Phase.PREPARATION, path).status == FactStatus.NOT_STARTED
    first = project.items_for(Phase.PREPARATION)[0]
    first.done, first.done_at = True, T0
    got = derive_one(project, Phase.PREPARATION, path)
    assert got.status == FactStatus.IN_PROGRESS and "1/" in got.evidence and "2026-12-01" in got.evidence
    for item in project.items_for(Phase.PREPARATION):
        item.done = True
    assert derive_one(project, Phase.PREPARATION, path).status == FactStatus.IN_PROGRESS  # no plan yet
    for i, key in enumerate(PLAN_KEYS):
        project.plan.dates[key] = T0 + timedelta(days=i + 1)
    got = derive_one(project, Phase.PREPARATION, path)
    assert got.status == FactStatus.DONE, got


# --- Backup (the archive's index.sqlite from a real backup: tests/test_facts_lab.py) ---------------


def _run(**over: Any) -> dict[str, Any]:
    return {"started": T0, "finished": T0 + timedelta(minutes=5), "users": 2, "users_ok": 2, "users_failed": 0,
            "users_cancelled": 0, "messages": 10, "bytes": 1000, **over}


def _verify(at: datetime, users: int = 2, ok: int = 2) -> dict[str, Any]:
    return {"at": at, "users": users, "users_ok": ok, "differences": []}


@pytest.mark.parametrize(("backup", "status", "words"), [
    ({}, FactStatus.NOT_STARTED, "no backup has run"),
    ({"last_run": _run(users_failed=1, users_ok=1)}, FactStatus.FAILED, "1 of 2 users failed"),
    ({"last_run": _run(users_cancelled=1, users_ok=1)}, FactStatus.IN_PROGRESS, "stopped for 1 users"),
    ({"last_run": _run(users=1, users_ok=1)}, FactStatus.IN_PROGRESS, "covered 1 of 2 users"),
    ({"last_run": _run()}, FactStatus.IN_PROGRESS, "not verified since"),
    # a verify from BEFORE the last run says nothing about it
    ({"last_run": _run(), "last_verify": _verify(T0 - timedelta(days=1))}, FactStatus.IN_PROGRESS, "not verified since"),
    ({"last_run": _run(), "last_verify": _verify(T0 + timedelta(minutes=9), ok=1)}, FactStatus.FAILED,
     "1 of 2 users differ"),
    ({"last_run": _run(), "last_verify": _verify(T0 + timedelta(minutes=9), users=1, ok=1)}, FactStatus.IN_PROGRESS,
     "covered 1 of 2"),
    ({"last_run": {"finished": "yesterday"}}, FactStatus.UNKNOWN, "unreadable"),
    # the per-user verdicts name someone else: a verify of the right count is not a verify of everyone
    ({"last_run": _run(), "last_verify": {**_verify(T0 + timedelta(minutes=9)), "results": {
        "a@corp.example": "ok", "old@corp.example": "ok"}}}, FactStatus.IN_PROGRESS, "has no ok for b@corp.example"),
    # verified after the run, but the archive it describes is not there: unknown, never done
    ({"dest": "gone", "last_run": _run(), "last_verify": _verify(T0 + timedelta(minutes=9))}, FactStatus.UNKNOWN,
     "missing or unreadable"),
])
def test_backup(tmp_path: Path, backup: dict[str, Any], status: FactStatus, words: str) -> None:
    got = fact(tmp_path, Phase.BACKUP, {"backup": backup} if backup else {})
    assert got.status == status, got
    assert words in got.evidence


# --- Account sync ---------------------------------------------------------------------------------


def _copy(verify: str = "ok", verified: datetime | None = T0 + timedelta(hours=1), **over: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"copied_at": T0, "state": "done", "phase": "prestage", "messages": 5, "bytes": 100, **over}
    if verified is not None:
        entry.update({"verified_at": verified, "verify": verify})
    return entry


LOGINS_OK = {"check": {u: {"at": T0, "old": "ok", "new": "ok", "smtp": "ok"} for u in USERS},
             "last_check": {"at": T0, "users": 2, "users_ok": 2, "failures": []}}


@pytest.mark.parametrize(("copy", "accounts", "status", "words"), [
    ({}, {}, FactStatus.NOT_STARTED, "no login check or copy"),
    ({USERS[0]: _copy()}, LOGINS_OK, FactStatus.IN_PROGRESS, "1/2 users copied and verified"),
    ({USERS[0]: _copy(), USERS[1]: _copy(verified=T0 - timedelta(hours=1))}, LOGINS_OK, FactStatus.IN_PROGRESS,
     "not verified since the last copy: b@corp.example"),
    ({USERS[0]: _copy(), USERS[1]: _copy(verify="different")}, LOGINS_OK, FactStatus.FAILED,
     "verify found differences for b@corp.example"),
    ({USERS[0]: _copy(), USERS[1]: _copy(state="failed", error="login refused")}, LOGINS_OK, FactStatus.FAILED,
     "copy failed for b@corp.example"),
    ({u: _copy() for u in USERS}, {}, FactStatus.IN_PROGRESS, "logins not checked ok"),
    ({u: _copy() for u in USERS}, {**LOGINS_OK, "check": {**LOGINS_OK["check"], USERS[1]: {
        "at": T0, "old": "ok", "new": "refused", "smtp": "ok"}}}, FactStatus.FAILED, "login check failed for b@"),
    ({u: _copy() for u in USERS}, LOGINS_OK, FactStatus.DONE, "2 users copied and verified"),
])
def test_accounts(tmp_path: Path, copy: dict[str, Any], accounts: dict[str, Any], status: FactStatus, words: str) -> None:
    sections: dict[str, Any] = {}
    if copy:
        sections["copy"] = {"users": copy}
    if accounts:
        sections["accounts"] = accounts
    got = fact(tmp_path, Phase.ACCOUNTS, sections)
    assert got.status == status, got
    assert words in got.evidence


# --- DNS (the record written by a real watch: tests/dns/test_last_watch.py) -------------------------


def _watch(**over: Any) -> dict[str, Any]:
    return {"dns": {"last_watch": {"started": T0, "updated": T0 + timedelta(minutes=3), "resolvers": 6, "on_new": 6,
                                   "mx": [], **over}}}


@pytest.mark.parametrize(("sections", "status", "words"), [
    ({}, FactStatus.NOT_STARTED, "no propagation watch"),
    (_watch(outcome="watching", on_new=2), FactStatus.IN_PROGRESS, "new MX on 2 of 6"),
    (_watch(outcome="ended", on_new=4, ended=T0 + timedelta(minutes=5)), FactStatus.IN_PROGRESS,
     "ended 2026-12-01 10:05 without full propagation"),
    (_watch(outcome="propagated", propagated_at=T0 + timedelta(minutes=3)), FactStatus.DONE,
     "every resolver (6) answered the new MX at 2026-12-01 10:03"),
    # resolvers left out because they never answered are not "every resolver"
    (_watch(outcome="propagated", on_new=4, resolvers=4, left_out=["x", "y"], propagated_at=T0), FactStatus.IN_PROGRESS,
     "left out, never answered: x, y"),
    (_watch(outcome="propagated", propagated_at=T0, mx=["10 mx.old.example"]), FactStatus.UNKNOWN, "another MX"),
    ({"dns": {"last_watch": "yes"}}, FactStatus.UNKNOWN, "unreadable"),
])
def test_dns(tmp_path: Path, sections: dict[str, Any], status: FactStatus, words: str) -> None:
    got = fact(tmp_path, Phase.DNS, sections)
    assert got.status == status, got
    assert words in got.evidence


# --- Testing (the matrix's own SQLite results) -----------------------------------------------------


def _matrix(**over: Any) -> dict[str, Any]:
    return {"matrix": {"last_run": {"at": T0, "seconds": 3.0, "users": 2, "cells": 16, "passed": 16, "failed": 0,
                                    "warnings": 0, "not_run": 0, "cancelled": False, "pilots": 1, "pilots_passed": 1,
                                    "users_passed": 2, **over}}}


def _results(path: Path, failing: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    db = ResultsDb(path.parent / "corp.example.matrix.sqlite")
    run = db.start_run(len(USERS), CHECK_IDS)
    for user in USERS:
        for check in CHECK_IDS:
            status = FAILED if user in failing else PASSED
            db.add(run, Cell(user, check, status, "seen" if status == PASSED else "never arrived", T0, 0.1))
    db.finish_run(run, cancelled=False)
    db.close()


@pytest.mark.parametrize(("sections", "status", "words"), [
    ({}, FactStatus.NOT_STARTED, "has not run"),
    (_matrix(failed=2, passed=14, users_passed=1), FactStatus.FAILED, "2 cells failed"),
    (_matrix(cancelled=True), FactStatus.IN_PROGRESS, "stopped before the end"),
    (_matrix(users=1, cells=8, passed=8, users_passed=1), FactStatus.IN_PROGRESS, "covered 1 of 2 users"),
    (_matrix(not_run=1, passed=15), FactStatus.IN_PROGRESS, "1 cells not run"),
    (_matrix(), FactStatus.UNKNOWN, "are missing"),  # the record alone, without its results database
])
def test_testing_from_the_record(tmp_path: Path, sections: dict[str, Any], status: FactStatus, words: str) -> None:
    got = fact(tmp_path, Phase.TESTING, sections)
    assert got.status == status, got
    assert words in got.evidence


def test_testing_done_only_when_the_results_database_agrees(tmp_path: Path) -> None:
    project, path = make(tmp_path, _matrix())
    _results(path, failing={USERS[1]})
    got = derive_one(project, Phase.TESTING, path)
    assert got.status == FactStatus.UNKNOWN and "do not show a pass for b@corp.example" in got.evidence
    _results(path)  # a later run in which everyone passes
    got = derive_one(project, Phase.TESTING, path)
    assert got.status == FactStatus.DONE and "all 2 users pass every check" in got.evidence


# --- Go-live --------------------------------------------------------------------------------------


def _gate(passed: bool, at: datetime = T0, **golive: Any) -> dict[str, Any]:
    return {"golive": {"last_check": {"at": at, "passed": passed, "failing": [] if passed else ["backup: no", "matrix: no"]},
                       **golive}}


@pytest.mark.parametrize(("sections", "status", "words"), [
    ({}, FactStatus.NOT_STARTED, "has not been checked"),
    (_gate(False), FactStatus.IN_PROGRESS, "2 conditions fail"),
    (_gate(True), FactStatus.IN_PROGRESS, "go-live not recorded"),
    (_gate(True, done_at=T0 + timedelta(minutes=1)), FactStatus.DONE, "gate passed 2026-12-01 10:00; go-live recorded"),
    (_gate(False, done_at=T0 + timedelta(minutes=1), overrides=[{"at": T0, "who": "li.na", "what": "go_live",
                                                                 "reason": "CEO says so", "failing": []}]),
     FactStatus.FAILED, "overridden by li.na"),
    ({"golive": {"done_at": T0}}, FactStatus.UNKNOWN, "without a gate check"),
    ({"golive": {"last_check": {"at": T0, "passed": "false", "failing": []}}}, FactStatus.IN_PROGRESS,
     "0 conditions fail"),  # a hand-edited string is not a pass
])
def test_go_live(tmp_path: Path, sections: dict[str, Any], status: FactStatus, words: str) -> None:
    got = fact(tmp_path, Phase.GO_LIVE, sections)
    assert got.status == status, got
    assert words in got.evidence


# --- After-care (the monitor's SQLite history) -----------------------------------------------------


def _monitor_run(path: Path, at: datetime, *statuses: str) -> None:
    with History(history_path(path)) as history:
        history.add(at, [Health(f"check{i}", s, "Check", "seen", at=at) for i, s in enumerate(statuses)])


def test_aftercare_from_the_monitor_history(tmp_path: Path) -> None:
    project, path = make(tmp_path)
    now = T0 + timedelta(days=20)
    assert derive_one(project, Phase.AFTERCARE, path, now).status == FactStatus.NOT_STARTED
    project.sections["golive"] = {"done_at": T0}
    _monitor_run(path, T0 + timedelta(days=1), OK, FAIL)
    got = derive_one(project, Phase.AFTERCARE, path, now)
    assert got.status == FactStatus.FAILED  # the last thing seen was broken, however long ago
    _monitor_run(path, now - timedelta(hours=1), OK, FAIL)
    got = derive_one(project, Phase.AFTERCARE, path, now)
    assert got.status == FactStatus.FAILED and "1 checks failing" in got.evidence
    _monitor_run(path, now - timedelta(minutes=30), OK, UNKNOWN)
    got = derive_one(project, Phase.AFTERCARE, path, now)
    assert got.status == FactStatus.UNKNOWN and "could not run" in got.evidence
    _monitor_run(path, now - timedelta(minutes=10), OK, OK)
    got = derive_one(project, Phase.AFTERCARE, path, now)
    assert got.status == FactStatus.IN_PROGRESS and "clean for 0 of 14 days" in got.evidence
    # healthy, but the last run is two days old: stale, so unknown
    got = derive_one(project, Phase.AFTERCARE, path, now + timedelta(days=2))
    assert got.status == FactStatus.UNKNOWN and "more than a day old" in got.evidence


def test_aftercare_done_after_a_clean_stretch_and_the_checklist(tmp_path: Path) -> None:
    project, path = make(tmp_path)
    project.sections["golive"] = {"done_at": T0}
    for day in range(0, 16):
        _monitor_run(path, T0 + timedelta(days=day), OK, OK)
    now = T0 + timedelta(days=15, hours=1)
    got = derive_one(project, Phase.AFTERCARE, path, now)
    assert got.status == FactStatus.IN_PROGRESS and "clean for 15 of 14 days; checklist 0/" in got.evidence
    for item in project.items_for(Phase.AFTERCARE):
        item.done = True
    assert derive_one(project, Phase.AFTERCARE, path, now).status == FactStatus.DONE


def test_aftercare_without_the_project_path_is_unknown(tmp_path: Path) -> None:
    project, _path = make(tmp_path)
    assert derive_one(project, Phase.AFTERCARE).status == FactStatus.UNKNOWN


# --- agreeing, setting, the dashboard ------------------------------------------------------------


def test_agreement_rule() -> None:
    def f(status: FactStatus) -> Fact:
        return Fact(Phase.BACKUP, status, "x")

    assert agrees(PhaseStatus.DONE, f(FactStatus.DONE))
    for other in (FactStatus.NOT_STARTED, FactStatus.IN_PROGRESS, FactStatus.FAILED, FactStatus.UNKNOWN):
        assert not agrees(PhaseStatus.DONE, f(other))  # never done without evidence
        assert agrees(PhaseStatus.IN_PROGRESS, f(other)) and agrees(PhaseStatus.BLOCKED, f(other))
    assert not agrees(PhaseStatus.NOT_STARTED, f(FactStatus.FAILED))  # something ran
    assert agrees(PhaseStatus.NOT_STARTED, f(FactStatus.UNKNOWN))
    assert not agrees(PhaseStatus.IN_PROGRESS, f(FactStatus.DONE))


def test_set_status_against_the_facts_needs_confirming_and_is_logged(tmp_path: Path) -> None:
    project, path = make(tmp_path, {"backup": {"last_run": _run(users_failed=1, users_ok=1)}})
    got = derive_one(project, Phase.BACKUP, path)
    with pytest.raises(AgainstFacts, match="the facts say ✗ failed"):
        set_status(project, Phase.BACKUP, PhaseStatus.DONE, got)
    assert project.phases[Phase.BACKUP] == PhaseStatus.NOT_STARTED
    assert set_status(project, Phase.BACKUP, PhaseStatus.IN_PROGRESS, got) is False  # in line: no fuss
    assert set_status(project, Phase.BACKUP, PhaseStatus.DONE, got, confirmed=True, who="li.na") is True
    event = project.events[-1]
    assert event.who == "li.na" and "against the facts" in event.what and "1 of 2 users failed" in event.what
    assert event.extra["overrode"] == {"phase": "backup", "status": "done", "facts": "failed",
                                       "evidence": got.evidence}


def test_dashboard_rows_and_text_show_facts_and_disagreement(tmp_path: Path) -> None:
    project, path = make(tmp_path, {"backup": {"last_run": _run(users_failed=1, users_ok=1)}})
    project.phases[Phase.BACKUP] = PhaseStatus.DONE
    board = dashboard.build(project, T0, path=path)
    row = board.rows[1]
    assert row.fact.status == FactStatus.FAILED and not row.agrees
    assert dashboard.facts_text(row) == "≠ ✗ failed"
    text = dashboard.render_text(board)
    assert "facts: ≠ ✗ failed · backup 2026-12-01 10:05: 1 of 2 users failed" in text
    assert "≠ set to ✓ done by hand; the facts say ✗ failed" in text
    assert all(dashboard.display_width(line) <= 80 for line in text.splitlines() if "facts" in line)
    assert set(derive(project, path)) == set(Phase)
