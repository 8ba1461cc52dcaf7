"""The DNS watcher's history and the report's DNS timeline, against the real DNS lab: the zone's MX is
flipped, the watcher (the command, and the DNS tab, which share the engine) records when each server first
answered the new MX, and the report shows those times."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import pytest

from mailmig_tui.core import report
from mailmig_tui.core.dns.history import read_history, watch_history_path
from mailmig_tui.core.model import Project
from mailmig_tui.core.report.build import when
from mailmig_tui.core.store import ProjectStore, load_project
from mailmig_tui.lab.dns import DnsLab
from mailmig_tui.ui.app import MailmigApp
from mailmig_tui.ui.phases.dns.watch import DnsWatchPanel
from tests.dns.conftest import run_cli, write_project
from tests.dns.test_ui import NEW_MX, lab_section
from tests.waiting import wait_for

pytestmark = pytest.mark.lab

RESOLVERS = ["plain1", "plain2", "sticky"]


def test_watch_command_records_each_flip_and_the_report_shows_it(fresh_lab: DnsLab, project: Project,
                                                                  tmp_path: Path) -> None:
    path = write_project(tmp_path, project, **lab_section(fresh_lab, tmp_path, RESOLVERS))
    history = watch_history_path(path)
    done = run_cli("dns", "watch", str(path), "--count", "1")  # the resolvers cache the old MX
    assert done.returncode == 1, done.stderr
    before = read_history(history)
    assert before is not None and before.cutover_at is None and before.sweeps == 1
    mx = {s.server: s for s in before.states if s.record == "mx" and s.kind == "resolver"}
    assert sorted(mx) == RESOLVERS and all(s.state == "old" and s.first_new is None for s in mx.values())

    edited = datetime.now().astimezone()
    fresh_lab.edit("corp.test", remove=("@ 5 IN MX",), add=NEW_MX)
    done = run_cli("dns", "watch", str(path), "--until-propagated", "--interval", "1")
    assert done.returncode == 0, done.stdout + done.stderr
    after = read_history(history)
    assert after is not None and after.sweeps > 2
    assert after.cutover_at is not None and after.complete_at is not None and after.cutover_at <= after.complete_at
    mx = {s.server: s for s in after.states if s.record == "mx" and s.kind == "resolver"}
    assert all(s.state == "new" and s.first_new is not None and s.first_new >= edited.replace(microsecond=0)
               for s in mx.values()), mx
    # The sticky resolver holds the old answer longest: it flips last.
    assert mx["sticky"].first_new >= max(mx["plain1"].first_new, mx["plain2"].first_new)  # type: ignore[operator]
    flips = [c for c in after.changes if c.record == "mx" and c.kind == "resolver" and c.state == "new"]
    assert sorted(c.server for c in flips) == RESOLVERS and all(c.previous == "old" for c in flips)
    auth = [s for s in after.states if s.kind == "authoritative" and s.record == "mx"]
    assert len(auth) == len(fresh_lab.authoritative) and all(s.state == "new" for s in auth)

    text = report.render(load_project(path), path, "en", "md")
    timeline = text[text.index("## DNS timeline"):text.index("## Test matrix")]
    for name, state in mx.items():
        assert f"| {name} | resolver | {when(state.first_new)} | ✓ new |" in timeline, timeline
    assert f"✓ every authoritative server served the new MX at {when(after.cutover_at)}" in timeline
    assert f"| **Propagation complete** | ✓ {when(after.complete_at)} |" in timeline
    assert f"| DNS | ✓ propagation complete at {when(after.complete_at)} |" in text
    plan = next(line for line in text.splitlines() if line.startswith("| MX cutover |"))
    assert f"| ✓ {when(after.cutover_at)} |" in plan and "DNS watch: every authoritative server" in plan


async def test_the_dns_tab_writes_the_same_history(fresh_lab: DnsLab, project: Project, tmp_path: Path) -> None:
    path = write_project(tmp_path, project, **lab_section(fresh_lab, tmp_path, RESOLVERS))
    app = MailmigApp(ProjectStore.open(path))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3", "]", "]")  # opening the Propagation tab starts watching
        panel = app.screen.query_one(DnsWatchPanel)
        await wait_for(pilot, lambda: panel.snapshot is not None, "the first sweep")
        fresh_lab.edit("corp.test", remove=("@ 5 IN MX",), add=NEW_MX)
        await wait_for(pilot, lambda: panel.snapshot is not None and panel.snapshot.complete, "propagation",
                       timeout=60)
        await pilot.press("w")
    app.store.close()
    record = read_history(watch_history_path(path))
    assert record is not None and record.complete_at is not None
    mx = {s.server: s for s in record.states if s.record == "mx" and s.kind == "resolver"}
    assert sorted(mx) == RESOLVERS and all(s.first_new is not None for s in mx.values())
    assert time.time() - record.complete_at.timestamp() < 120
