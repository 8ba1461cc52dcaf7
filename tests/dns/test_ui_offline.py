"""The DNS tabs when nothing answers: the demo project (corp.example) with servers nobody serves.

A UDP socket that never replies stands in for a dead server (as the lab's "timeout" resolver does);
every address is on loopback, so no test asks a public resolver (tests/conftest.py enforces it).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from mailmig_tui.core.project_factory import demo_project
from mailmig_tui.core.store import ProjectStore
from mailmig_tui.ui.app import MailmigApp
from mailmig_tui.ui.phases.dns.audit import DnsAuditPanel
from mailmig_tui.ui.phases.dns.watch import DnsWatchPanel

SIZE = (80, 24)


@pytest.fixture
def silent() -> Iterator[str]:
    """`IP:PORT` of a UDP socket that never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.53.250", 0))
    try:
        yield f"127.0.53.250:{sock.getsockname()[1]}"
    finally:
        sock.close()


def demo_with(tmp_path: Path, **dns: Any) -> MailmigApp:
    project = demo_project()
    project.sections["dns"] = dns
    path = tmp_path / "corp.example.mailmig.toml"
    ProjectStore.create(path, project).close()
    return MailmigApp(ProjectStore.open(path))


def text_of(app: MailmigApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def wait_for(pilot: Pilot[Any], done: Callable[[], bool], deadline: float = 20.0) -> None:
    end = time.monotonic() + deadline
    while not done():
        assert time.monotonic() < end, "timed out waiting"
        await pilot.pause(0.05)


async def test_unreachable_servers_are_said_plainly(tmp_path: Path, silent: str) -> None:
    app = demo_with(tmp_path, timeout=0.2, interval=1, authoritative=[silent],
                    resolvers=[{"name": "dead", "address": silent, "region": "nowhere"}])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3", "]")
        audit = app.screen.query_one(DnsAuditPanel)
        await wait_for(pilot, lambda: not audit.checking and "✗" in text_of(app, "#audit-status"))
        assert text_of(app, "#audit-status").startswith("✗ authoritative servers unreachable: timeout · ")
        # The records to set are shown anyway, current value unknown, and the zone file can be written.
        table = app.screen.query_one("#audit-table", DataTable)
        rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
        assert rows and all(r[0] == "? error" and r[3].startswith("unknown (unreac") for r in rows)
        assert rows[0][1:3] == ["@", "MX"]
        await pilot.press("z")
        zone = tmp_path / "corp.example-records.zone"
        assert " IN MX " in zone.read_text()
        await pilot.press("]")
        watch = app.screen.query_one(DnsWatchPanel)
        await wait_for(pilot, lambda: watch.snapshot is not None)
        assert text_of(app, "#auth-line") == "✗ authoritative servers unreachable: timeout"
        assert "no usable resolver (timeout)" in text_of(app, "#watch-percent")
        summary = text_of(app, "#watch-summary")
        assert "handed out by" not in summary and "switched off" not in summary  # no data, no claims
        assert "switch-off pending: authoritative" in summary
        row = [str(c) for c in app.screen.query_one("#resolver-table", DataTable).get_row_at(0)]
        assert row[:3] == ["dead", "nowhere", "✗ timeout"]
        assert watch.state == "watching"  # it carries on, in case the servers come back
    app.store.close()


async def test_no_resolver_no_ns_set(tmp_path: Path, silent: str) -> None:
    app = demo_with(tmp_path, timeout=0.2, resolvers=[{"name": "dead", "address": silent}])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3", "]")
        audit = app.screen.query_one(DnsAuditPanel)
        await wait_for(pilot, lambda: not audit.checking and "✗" in text_of(app, "#audit-status"))
        assert "no resolver answers (timeout), so the authoritative servers of corp.example cannot be found" \
            in text_of(app, "#audit-status")
        await pilot.press("]")
        watch = app.screen.query_one(DnsWatchPanel)
        await wait_for(pilot, lambda: watch.snapshot is not None)
        assert "no authoritative servers found for corp.example" in text_of(app, "#auth-line")
    app.store.close()


async def test_audit_shows_checking_and_can_be_cancelled(tmp_path: Path, silent: str) -> None:
    app = demo_with(tmp_path, timeout=5, authoritative=[silent], resolvers=[{"name": "dead", "address": silent}])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3", "]")
        audit = app.screen.query_one(DnsAuditPanel)
        await wait_for(pilot, lambda: audit.checking and "checking the records" in text_of(app, "#audit-status"))
        assert audit.check_action("cancel", ()) is True  # Esc shows in the footer only while checking
        await pilot.press("escape")
        # "cancelled", not the 5 s timeout's outcome: the status tells them apart, so no tight deadline
        await wait_for(pilot, lambda: not audit.checking and "cancelled" in text_of(app, "#audit-status"))
    app.store.close()


async def test_a_bad_dns_section_is_reported_not_raised(tmp_path: Path) -> None:
    app = demo_with(tmp_path, resolvers=[{"name": "x", "address": "not-an-ip"}])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3", "]", "]")
        watch = app.screen.query_one(DnsWatchPanel)
        await wait_for(pilot, lambda: "dns.resolvers[0].address" in text_of(app, "#watch-status"))
        assert watch.state == "stopped"
        await pilot.press("[")
        await wait_for(pilot, lambda: "dns.resolvers[0].address" in text_of(app, "#audit-status"))
    app.store.close()


async def test_resolver_list_is_edited_in_the_tui_and_saved(tmp_path: Path, silent: str) -> None:
    from textual.widgets import TextArea

    from mailmig_tui.core.store import load_project
    from mailmig_tui.ui.widgets.dialogs import TextDialog

    app = demo_with(tmp_path, timeout=0.2, interval=60, authoritative=[silent],
                    resolvers=[{"name": "dead", "address": silent, "region": "nowhere"}])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3", "]", "]", "w")  # open Propagation and stop watching
        await pilot.press("e")
        assert isinstance(app.screen, TextDialog)
        area = app.screen.query_one(TextArea)
        assert area.text.startswith(f"dead {silent} nowhere")
        area.text = "lab-a 127.0.53.251 CN\nbroken not-an-ip\n"
        await pilot.press("ctrl+s")
        await pilot.pause()
        # the bad line is named and the editor comes back with the text as typed
        assert isinstance(app.screen, TextDialog)
        assert "broken not-an-ip" in app.screen.query_one(TextArea).text
        app.screen.query_one(TextArea).text = "lab-a 127.0.53.251 CN\nlab-b 127.0.53.252:5353 - https://127.0.53.252/dns-query\n"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not isinstance(app.screen, TextDialog)
    saved = load_project(app.store.path).sections["dns"]["resolvers"]
    assert saved == [
        {"name": "lab-a", "address": "127.0.53.251", "region": "CN"},
        {"name": "lab-b", "address": "127.0.53.252", "port": 5353, "transport": "https",
         "url": "https://127.0.53.252/dns-query"},
    ]
    app.store.close()


def test_long_values_differing_past_the_column_show_where() -> None:
    from mailmig_tui.ui.phases.dns.audit import fit_pair

    old = "v=spf1 include:spf.oldmail.test ~all"
    new = "v=spf1 include:spf.oldmail.test include:spf.newmail.test ~all"
    current, target = fit_pair(old, new, 18)
    assert current.plain != target.plain and len(current.plain) <= 18 and len(target.plain) <= 18
    assert current.plain.startswith("…") and "~all" in current.plain and "include" in target.plain
    short = fit_pair("10 mx1.oldmail.test", "10 mx1.newmail.test", 18)
    assert short[0].plain.startswith("10 mx1.o") and short[1].plain.startswith("10 mx1.n")


def test_times_show_seconds_within_the_hour(frozen_clock: Any) -> None:
    from datetime import timedelta

    from mailmig_tui.core import clock
    from mailmig_tui.ui.phases.dns.watch import hhmm

    now = clock.now()
    assert hhmm(now + timedelta(seconds=42)).count(":") == 2
    assert hhmm(now - timedelta(minutes=59)).count(":") == 2
    assert hhmm(now + timedelta(hours=2)).count(":") == 1


async def test_one_complete_notification_at_a_time(tmp_path: Path, silent: str, frozen_clock: Any,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    from mailmig_tui.lab.dns import lab_project
    from mailmig_tui.ui.phases.dns.watch import SnapshotReady
    from tests.dns.samples import sample_snapshot

    app = demo_with(tmp_path, timeout=0.2, interval=600, authoritative=[silent],
                    resolvers=[{"name": "dead", "address": silent}])
    titles: list[str] = []
    notify = app.notify
    monkeypatch.setattr(app, "bell", lambda: None)
    monkeypatch.setattr(app, "notify", lambda message, **kw: (titles.append(kw.get("title", "")), notify(message, **kw)))
    base = sample_snapshot(lab_project(), frozen_clock)
    done = dataclasses.replace(base, complete=True)
    flapped = dataclasses.replace(base, complete=False)  # a resolver flapping: the cutover stands
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3", "]", "]")
        watch = app.screen.query_one(DnsWatchPanel)
        await wait_for(pilot, lambda: watch.snapshot is not None)
        for snap in (done, flapped, done, flapped, done):
            watch.post_message(SnapshotReady(snap))
            await wait_for(pilot, lambda snap=snap: watch.snapshot is snap)  # type: ignore[misc]
        assert titles.count("Propagation complete") == 1
    app.store.close()
