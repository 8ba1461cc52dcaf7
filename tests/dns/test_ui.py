"""The DNS screen's Audit and Propagation tabs, driven by the keyboard against the real DNS lab.

The project's [dns] section points at the lab's servers on loopback (127.0.53.x), as an admin's would point at
theirs; nothing is asked of any public resolver. Loops wait for an outcome up to a deadline.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from mailmig_tui.core.model import Project
from mailmig_tui.core.store import ProjectStore
from mailmig_tui.lab.dns import DnsLab
from mailmig_tui.ui.app import MailmigApp
from mailmig_tui.ui.phases.dns.audit import DnsAuditPanel
from mailmig_tui.ui.phases.dns.watch import DnsWatchPanel
from mailmig_tui.ui.widgets.dialogs import InfoDialog
from tests.dns.conftest import write_project

pytestmark = pytest.mark.lab

SIZE = (80, 24)
NEW_MX = ("@ 5 IN MX 10 mx1.newmail.test.", "@ 5 IN MX 20 mx2.newmail.test.")


def lab_section(lab: DnsLab, folder: Path, resolvers: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    policy = folder / "mta-sts.txt"
    policy.write_text("version: STSv1\nmode: enforce\nmx: mx1.oldmail.test\nmax_age: 86400\n")
    names = resolvers or list(lab.resolvers)
    return {
        "interval": 1, "timeout": 0.5, "mx_ttl": 5, "mta_sts_policy": str(policy),
        "authoritative": list(lab.authoritative),
        "resolvers": [{"name": n, "address": lab.resolvers[n], "region": "lab"} for n in names],
        **extra,
    }


def text_of(app: MailmigApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


def rendered(renderable: Any) -> str:
    console = Console(width=72, record=True, file=io.StringIO(), color_system=None)
    console.print(renderable)
    return console.export_text()


def cells(table: DataTable[Any]) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def wait_for(pilot: Pilot[Any], done: Callable[[], bool], deadline: float = 30.0) -> None:
    end = time.monotonic() + deadline
    while not done():
        assert time.monotonic() < end, "timed out waiting"
        await pilot.pause(0.05)


async def test_audit_tab_shows_differences_checks_record_and_zone(fresh_lab: DnsLab, project: Project,
                                                                  tmp_path: Path) -> None:
    path = write_project(tmp_path, project, **lab_section(fresh_lab, tmp_path, ["plain1"]))
    app = MailmigApp(ProjectStore.open(path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3", "]")
        panel = app.screen.query_one(DnsAuditPanel)
        await wait_for(pilot, lambda: panel.report is not None)
        status = text_of(app, "#audit-status")
        assert "NOT READY" in status and fresh_lab.primary in status
        rows = {f"{r[1]} {r[2]}": r for r in cells(app.screen.query_one("#audit-table", DataTable))}
        assert rows["@ MX"][0] == "✗ differs" and rows["@ MX"][3].startswith("10 mx1.oldmail")
        assert rows["@ TXT"][0] == "✗ differs" and rows["mm1._domainkey TXT"][0] == "+ missing"
        assert rows["_dmarc TXT"][0] == "✓ ok"
        checks = text_of(app, "#audit-checks")
        assert checks.index("✗ SPF includes the new provider") < checks.index("✓ DMARC record exists")
        assert "add include:spf.newmail.test before the cutover" in checks

        await pilot.press("enter")  # the cursor is on the MX row: the record to set
        assert isinstance(app.screen, InfoDialog)
        body = rendered(app.screen.body)
        assert "corp.test. 5 IN MX 10 mx1.newmail.test." in app.screen.copy_text
        assert "TTL   5" in body and "Name  corp.test  (host: @)" in body and "20 mx2.newmail.test" in body
        await pilot.press("escape")
        assert not isinstance(app.screen, InfoDialog)

        await pilot.press("z")
        zone = tmp_path / "corp.test-records.zone"
        assert "corp.test. 5 IN MX 20 mx2.newmail.test." in zone.read_text()
        assert "_dmarc" not in zone.read_text()

        fresh_lab.edit("corp.test", remove=("@ 5 IN MX",), add=NEW_MX)
        await pilot.press("r")
        await wait_for(pilot, lambda: not panel.checking)
        rows = {f"{r[1]} {r[2]}": r for r in cells(app.screen.query_one("#audit-table", DataTable))}
        assert rows["@ MX"][0] == "✓ ok"
    app.store.close()


async def test_propagation_tab_watches_resolvers_flip(fresh_lab: DnsLab, project: Project, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_project(tmp_path, project, **lab_section(fresh_lab, tmp_path))
    app = MailmigApp(ProjectStore.open(path))
    bells: list[int] = []
    monkeypatch.setattr(app, "bell", lambda: bells.append(1))
    titles: list[str] = []
    notify = app.notify
    monkeypatch.setattr(app, "notify", lambda message, **kw: (titles.append(kw.get("title", "")), notify(message, **kw)))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3", "]", "]")  # opening the tab starts watching
        panel = app.screen.query_one(DnsWatchPanel)
        assert panel.state == "watching"
        await wait_for(pilot, lambda: panel.snapshot is not None)
        resolvers = app.screen.query_one("#resolver-table", DataTable)
        rows = {r[0]: r for r in cells(resolvers)}
        # Failing resolvers are shown as exactly what they are, and never stall the others.
        assert rows["timeout"][2] == "✗ timeout" and rows["refused"][2] == "✗ refused"
        assert rows["servfail"][2] == "✗ servfail"
        assert rows["plain1"][2] == "· old" and rows["sticky"][2] == "· old"
        assert rows["plain1"][5].startswith("mm1 0:0")  # the new DKIM name: a negative-cache countdown
        assert "New MX on 0 of 6 resolvers: 0%" in text_of(app, "#watch-percent")
        # every record of the highlighted resolver (drawn once the table's first row is highlighted)
        await wait_for(pilot, lambda: text_of(app, "#resolver-records") != "")
        records = text_of(app, "#resolver-records")
        assert records.startswith("plain1: mx · old") and "spf · old" in records and "dkim mm1 ∅ negative" in records
        assert "authoritative converged on serial" in text_of(app, "#auth-line")

        await pilot.press("minus")  # 1 s is already the shortest interval
        assert panel.watcher is not None and panel.watcher.interval == 1
        await pilot.press("plus")
        assert panel.watcher.interval == 2 and "every 2 s" in text_of(app, "#watch-status")

        fresh_lab.edit("corp.test", remove=("@ 5 IN MX",), add=NEW_MX)
        seen: list[float] = []

        def flipped() -> bool:
            snap = panel.snapshot
            if snap is not None and (not seen or seen[-1] != snap.percent_new):
                seen.append(snap.percent_new)
            return snap is not None and snap.complete

        # Everyone who answers has flipped; three resolvers never answered: not complete, no switch-off time.
        await wait_for(pilot, lambda: panel.snapshot is not None and panel.snapshot.on_new == 3, deadline=60)
        summary = text_of(app, "#watch-summary")
        assert not panel.snapshot.complete and "3 not answering since" in summary
        assert "New MX on 3 of 6 resolvers: 50%" in text_of(app, "#watch-percent")
        assert "switch-off pending: 3 resolver(s) never answered" in summary and bells == []
        await pilot.press("u")  # leave them out, as the status line then says
        assert "unreachable left out (u)" in text_of(app, "#watch-status")
        await wait_for(pilot, flipped, deadline=60)
        assert any(0 < p < 100 for p in seen)  # the sticky resolver flips after the others
        assert seen == sorted(seen) and seen[-1] == 100
        rows = {r[0]: r for r in cells(resolvers)}
        assert all(rows[n][2] == "✓ new" for n in ("plain1", "plain2", "sticky"))
        summary = text_of(app, "#watch-summary")
        assert "Complete: complete on 3 of 6; 3 not answering since" in summary and "left out" in summary
        assert "can be switched off after" in summary
        assert "100%" in text_of(app, "#watch-percent")
        sweeps = panel.sweeps
        await wait_for(pilot, lambda: panel.sweeps >= sweeps + 2)  # still complete: no second bell
        assert bells == [1]
        assert [t for t in titles if t == "Propagation complete"] == ["Propagation complete"]

        def watching() -> bool:
            return any(w.is_running for w in app.workers if w.node is panel and w.group == "dns-watch")

        await pilot.press("space")
        assert panel.state == "paused" and "paused" in text_of(app, "#watch-status")
        # a cancelled worker ends at its next await: wait for that, do not read it at once
        await wait_for(pilot, lambda: not watching())
        await pilot.press("space")
        assert panel.state == "watching"
        await pilot.press("1")  # leaving the screen stops asking
        await wait_for(pilot, lambda: app.current_mode == "preparation" and not watching())
        await pilot.press("3")
        await wait_for(pilot, lambda: app.current_mode == "dns" and panel.state == "watching" and watching())
        await pilot.press("w")
        assert panel.state == "stopped" and "stopped" in text_of(app, "#watch-status")
    app.store.close()
