"""The go-live gate against the mail lab (Dovecot, Postfix, NSD, Unbound): each condition going red and
green — a resolver still on the old MX, the drain clock restarted by a rollback, a straggler arriving at
the old provider after the final delta, a copy verify failing — and `golive done` refused without an
override, recorded with one."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from imapclient import IMAPClient

from mailmig_tui.core.dns.project import project_config
from mailmig_tui.core.golive import FAIL, PASS, check_gate, record_gate
from mailmig_tui.core.mailout import SendOptions, parse_mailout_section, send_notice
from mailmig_tui.core.model import Project, now
from mailmig_tui.core.phases import Phase, PhaseStatus
from mailmig_tui.core.store import ProjectStore, load_project
from mailmig_tui.lab.mail import MailLab, zone_records
from tests.backup_helpers import credentials, run_cli
from tests.matrix.conftest import USERS, matrix_project

SENDER, SENDER_PW = "it@corp.test", "it-secret"


def _recorded_results(project: Project) -> None:
    """What the backup, copy and matrix runs leave in the project when they all went well."""
    t = now() - timedelta(minutes=5)
    n = len(project.users)
    project.sections["backup"] = {
        "last_run": {"started": t, "finished": t, "users": n, "users_ok": n, "users_failed": 0, "users_cancelled": 0},
        "last_verify": {"at": t + timedelta(minutes=1), "users": n, "users_ok": n, "differences": []}}
    project.sections["copy"] = {"users": {u.email: {"copied_at": t, "state": "done", "verified_at": t + timedelta(minutes=1),
                                                    "verify": "ok"} for u in project.users}}
    pilots = sum(1 for u in project.users if u.role == "pilot")
    project.sections.setdefault("matrix", {})["last_run"] = {"at": t, "pilots": pilots, "pilots_passed": pilots,
                                                               "users": n, "users_passed": pilots}


@pytest.fixture
def gate_project(good_zone: MailLab, tmp_path: Path) -> Iterator[Path]:
    for inst in (good_zone.new, good_zone.old):
        if SENDER not in inst.users:
            inst.add_user(SENDER, SENDER_PW)
    project = matrix_project(good_zone)
    project.plan.old_mx_ttl = 2
    project.plan.dates["mx_cutover"] = now() - timedelta(hours=1)
    project.sections["mailout"] = {"sender": SENDER, "rate_per_minute": 600}
    _recorded_results(project)
    path = tmp_path / "corp.test.mailmig.toml"
    ProjectStore.create(path, project).close()
    creds = credentials(tmp_path)
    creds.set_many("corp.test", [("new", SENDER, SENDER_PW)] + [("new", e, pw[1]) for e, pw in USERS.items()]
                   + [("old", e, pw[0]) for e, pw in USERS.items()])
    yield path
    # The session's mail lab is shared (the matrix compares both sides): take out what these tests added.
    from tests.matrix.test_notices_send import clear_all

    clear_all(good_zone)
    with IMAPClient("127.0.0.1", good_zone.old.imap_port, ssl=False) as client:
        client.login("cat@corp.test", good_zone.old.users["cat@corp.test"])
        client.select_folder("INBOX")
        uids = client.search(["HEADER", "Subject", "sent with stale DNS"])
        if uids:
            client.delete_messages(uids)
            client.expunge()


def _check(path: Path) -> dict[str, object]:
    store = ProjectStore.open(path)
    try:
        result = check_gate(store.project, path, credentials(path.parent), project_config(store.project, path))
        store.update(lambda p: record_gate(p, result))
    finally:
        store.close()
    return {c.key: c for c in result.conditions}


def _set(path: Path, change) -> None:  # type: ignore[no-untyped-def]
    store = ProjectStore.open(path)
    store.update(change)
    store.close()


def _final_delta(path: Path) -> None:
    _set(path, lambda p: p.sections.setdefault("golive", {}).update(
        final_delta={"started": now(), "finished": now(), "messages": 0, "users_ok": len(p.users), "users_failed": 0}))


def test_gate_goes_green_only_when_every_condition_holds(gate_project: Path, good_zone: MailLab) -> None:
    first = _check(gate_project)
    assert first["backup"].status == PASS and first["copy"].status == PASS and first["matrix"].status == PASS  # type: ignore[attr-defined]
    assert first["dns-authoritative"].status == PASS and first["dns-resolvers"].status == PASS  # type: ignore[attr-defined]
    assert first["dns-drained"].status == FAIL and "pending until" in first["dns-drained"].evidence  # type: ignore[attr-defined]
    assert first["final-delta"].status == FAIL and first["reminder"].status == FAIL  # type: ignore[attr-defined]
    code, _events, out = run_cli(gate_project.parent, "golive", "check", str(gate_project))
    assert code == 1 and "✗ Not safe to switch off" in out

    time.sleep(2.2)  # the old MX's TTL (2 s) runs out
    assert _check(gate_project)["dns-drained"].status == PASS  # type: ignore[attr-defined]
    _final_delta(gate_project)
    project = load_project(gate_project)
    summary = send_notice(project, gate_project, credentials(gate_project.parent),
                          parse_mailout_section(project.sections["mailout"]), SendOptions("go_live"))
    assert summary.complete
    code, events, out = run_cli(gate_project.parent, "golive", "check", str(gate_project), "--json")
    assert code == 0, out
    assert all(e["status"] == "ok" for e in events if e["event"] == "golive.condition")
    assert next(e for e in events if e["event"] == "golive.gate")["passed"] is True


def test_a_resolver_still_on_the_old_mx_and_a_rollback(gate_project: Path, good_zone: MailLab) -> None:
    good_zone.apply_zone(mx="old")
    rolled_back = _check(gate_project)
    assert rolled_back["dns-authoritative"].status == FAIL and "mx1.oldmail.test" in rolled_back["dns-authoritative"].evidence  # type: ignore[attr-defined]
    assert "auth_new_since" not in load_project(gate_project).sections["golive"]["observed"]
    # Cut over again without flushing the resolver, which still caches the old MX (TTL 5 s).
    for zone, lines in zone_records(good_zone, mx="new").items():
        if good_zone.dns.records.get(zone) != lines:  # type: ignore[union-attr]
            good_zone.dns.set_records(zone, lines)  # type: ignore[union-attr]
    good_zone.state = {}
    again = _check(gate_project)
    assert again["dns-authoritative"].status == PASS  # type: ignore[attr-defined]
    assert again["dns-resolvers"].status == FAIL and "still hands out mx1.oldmail.test" in again["dns-resolvers"].evidence  # type: ignore[attr-defined]
    observed = load_project(gate_project).sections["golive"]["observed"]
    assert observed["auth_new_since"] >= now() - timedelta(seconds=30)  # the clock restarted at the second cutover


def test_a_straggler_after_the_final_delta_and_a_failing_copy_verify(gate_project: Path, good_zone: MailLab) -> None:
    time.sleep(0.1)
    _check(gate_project)
    time.sleep(2.2)
    _final_delta(gate_project)
    assert _check(gate_project)["stragglers"].status == PASS  # type: ignore[attr-defined]
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "late@elsewhere.test", "cat@corp.test", "sent with stale DNS"
    msg.set_content("arrived at the old provider after the final delta")
    with IMAPClient("127.0.0.1", good_zone.old.imap_port, ssl=False) as client:
        client.login("cat@corp.test", good_zone.old.users["cat@corp.test"])
        client.append("INBOX", msg.as_bytes(), (), now() + timedelta(seconds=1))
    late = _check(gate_project)["stragglers"]
    assert late.status == FAIL and "cat@corp.test (1)" in late.evidence  # type: ignore[attr-defined]

    _set(gate_project, lambda p: p.sections["copy"]["users"]["dan@corp.test"].update(verify="different"))
    copy = _check(gate_project)["copy"]
    assert copy.status == FAIL and "dan@corp.test" in copy.evidence  # type: ignore[attr-defined]


def test_done_needs_a_passing_gate_or_a_recorded_override(gate_project: Path) -> None:
    _check(gate_project)
    code, _events, out = run_cli(gate_project.parent, "golive", "done", str(gate_project))
    assert code == 1 and "gate is not passing" in out
    assert load_project(gate_project).phases[Phase.GO_LIVE] != PhaseStatus.DONE
    code, _events, out = run_cli(gate_project.parent, "golive", "done", str(gate_project), "--override")
    assert code == 1 and "needs a reason" in out
    code, _events, out = run_cli(gate_project.parent, "golive", "done", str(gate_project), "--override", "--reason",
                                 "board decision")
    assert code == 0, out
    project = load_project(gate_project)
    override = project.sections["golive"]["overrides"][-1]
    assert override["reason"] == "board decision" and override["what"] == "go_live" and override["who"]
    assert any(f.startswith("dns-drained") for f in override["failing"])
    assert "overrode the failing go-live gate" in project.events[-1].what


async def test_gate_tab_checks_in_a_worker_and_records_an_override(gate_project: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from textual.widgets import DataTable, Input

    from mailmig_tui.core import credentials as credentials_module
    from mailmig_tui.ui.app import MailmigApp
    from mailmig_tui.ui.phases.golive.gate import GatePanel
    from mailmig_tui.ui.widgets.dialogs import FormDialog
    from tests.backup_helpers import PASSPHRASE

    monkeypatch.setenv("MAILMIG_CREDENTIALS_FILE", str(tmp_path / "creds.enc"))
    monkeypatch.setenv("MAILMIG_PASSPHRASE", PASSPHRASE)
    credentials_module.forget_session()
    app = MailmigApp(ProjectStore.open(gate_project))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("6", "]", "]", "]")
        panel = app.screen.query_one(GatePanel)
        for _ in range(800):
            if panel.result is not None and not panel.checking:
                break
            await pilot.pause(0.05)
        assert panel.result is not None and not panel.result.passed
        table = panel.query_one("#gate-table", DataTable)
        assert table.row_count == 9
        assert app.store.project.sections["golive"]["last_check"]["passed"] is False
        await pilot.press("d")
        assert isinstance(app.screen, FormDialog)
        app.screen.query_one(Input).value = "the board decided"
        await pilot.press("enter")
        await pilot.pause()
    project = load_project(gate_project)
    assert project.phases[Phase.GO_LIVE] == PhaseStatus.DONE
    assert project.sections["golive"]["overrides"][-1]["reason"] == "the board decided"
    app.store.close()


@pytest.mark.parametrize("record", [{"passed": "false"}, {"passed": "true"}, {"passed": 1},
                                    {"passed": True, "failing": ["MX still old"]}, "passed"])
def test_a_hand_edited_gate_record_is_never_read_as_passed(record: object) -> None:
    from mailmig_tui.core.golive.gate import gate_passed, last_check_line
    from mailmig_tui.core.project_factory import new_project

    project = new_project("corp.example", "generic-imap", "generic-imap")
    project.sections["golive"] = {"last_check": record}
    passed, failing = gate_passed(project)
    assert not passed and (failing or not isinstance(record, dict))
    assert "✓" not in (last_check_line(project) or "")
