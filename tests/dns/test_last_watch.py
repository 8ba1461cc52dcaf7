"""`[dns.last_watch]` written by a real watch against the DNS lab, and the DNS phase's facts read from it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from mailmig_tui.core.facts import FactStatus, derive_one
from mailmig_tui.core.model import MxHost, Project
from mailmig_tui.core.phases import Phase
from mailmig_tui.core.store import load_project
from mailmig_tui.lab.dns import DnsLab
from tests.dns.conftest import lab_args, run_cli, write_project

pytestmark = pytest.mark.lab

NEW_MX = ("@ 5 IN MX 10 mx1.newmail.test.", "@ 5 IN MX 20 mx2.newmail.test.")


def test_watch_records_last_watch_and_the_dns_facts_follow(fresh_lab: DnsLab, project: Project, tmp_path: Path) -> None:
    path = write_project(tmp_path, project, mx_ttl=5)
    args = lab_args(fresh_lab, fresh_lab.plain)
    assert derive_one(load_project(path), Phase.DNS).status == FactStatus.NOT_STARTED

    # One sweep on the old MX: the watch ends without full propagation, and says so.
    first = run_cli("dns", "watch", str(path), "--count", "1", *args)
    assert first.returncode == 1, first.stderr
    record = load_project(path).sections["dns"]["last_watch"]
    assert record["outcome"] == "ended" and "propagated_at" not in record
    assert isinstance(record["started"], datetime) and record["ended"] >= record["started"]
    assert record["resolvers"] == len(fresh_lab.plain) and record["on_new"] == 0
    fact = derive_one(load_project(path), Phase.DNS)
    assert fact.status == FactStatus.IN_PROGRESS and "without full propagation" in fact.evidence

    # The zone moves to the new MX: watched until every resolver answers it.
    fresh_lab.edit("corp.test", remove=("@ 5 IN MX",), add=NEW_MX)
    done = run_cli("dns", "watch", str(path), "--interval", "1", "--until-propagated", *args)
    assert done.returncode == 0, done.stderr
    saved = load_project(path)
    record = saved.sections["dns"]["last_watch"]
    assert record["outcome"] == "propagated" and record["on_new"] == record["resolvers"] == len(fresh_lab.plain)
    assert record["started"] <= record["propagated_at"] <= record["ended"]
    assert record["mx"] == ["10 mx1.newmail.test", "20 mx2.newmail.test"]
    fact = derive_one(saved, Phase.DNS)
    assert fact.status == FactStatus.DONE, fact
    assert "every resolver (2) answered the new MX at" in fact.evidence
    assert saved.sections["dns"]["mx_ttl"] == 5  # the rest of [dns] is kept

    # The project now names another MX: that watch is no evidence for it.
    saved.new.mx = [MxHost("mx9.elsewhere.test", 10)]
    assert derive_one(saved, Phase.DNS).status == FactStatus.UNKNOWN


async def test_tui_propagation_tab_records_last_watch_and_the_dashboard_shows_it(
        fresh_lab: DnsLab, project: Project, tmp_path: Path) -> None:
    from textual.widgets import DataTable, Static

    from mailmig_tui.core.store import ProjectStore
    from mailmig_tui.ui.app import MailmigApp
    from mailmig_tui.ui.phases.dns.watch import DnsWatchPanel
    from tests.waiting import wait_for

    path = write_project(tmp_path, project, interval=1, timeout=0.5, mx_ttl=5,
                         authoritative=list(fresh_lab.authoritative),
                         resolvers=[{"name": n, "address": fresh_lab.resolvers[n], "region": "lab"}
                                    for n in fresh_lab.plain])

    def record() -> dict[str, object]:
        return load_project(path).sections["dns"].get("last_watch") or {}

    app = MailmigApp(ProjectStore.open(path))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3", "]", "]")  # opening the tab starts watching
        panel = app.screen.query_one(DnsWatchPanel)
        await wait_for(pilot, lambda: record().get("outcome") == "watching", "the watch recorded")
        assert record()["on_new"] == 0 and record()["resolvers"] == len(fresh_lab.plain)
        fresh_lab.edit("corp.test", remove=("@ 5 IN MX",), add=NEW_MX)
        await wait_for(pilot, lambda: record().get("outcome") == "propagated", "propagation recorded", 60)
        assert isinstance(record()["propagated_at"], datetime) and "ended" not in record()
        await pilot.press("w")  # stop watching: the record says when, and stays propagated
        assert panel.state == "stopped"
        assert record()["outcome"] == "propagated" and isinstance(record()["ended"], datetime)

        await pilot.press("0")
        table = app.screen.query_one("#dash-phases", DataTable)
        assert str(table.get_row_at(2)[2]) == "≠ ✓ done"  # DNS: the facts say done, the status not started
        await pilot.press("down", "down")
        evidence = str(app.screen.query_one("#dash-evidence", Static).render())
        assert "Facts · DNS: ✓ done — every resolver (2) answered the new MX at" in evidence
        assert "≠ set to · not started by hand; the facts say ✓ done" in evidence
        await pilot.press("s")  # out of line with the facts: s sets what they say, without asking
        assert load_project(path).phases[Phase.DNS].value == "done"
        assert str(table.get_row_at(2)[2]) == "✓ done"
