"""The Audit and Propagation tabs at 80x24, rendered from a fixed AuditReport and a fixed mid-propagation
Snapshot (tests/dns/samples.py) under the frozen clock: no network, the same screen on every run.

The data reaches the widgets the way live data does (worker, message, render): only the engine calls
are replaced, by `run_audit` returning the sample report and a watcher whose sweep returns the sample.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from mailmig_tui.core.dns.watch import Snapshot, Watcher
from mailmig_tui.core.model import Project
from mailmig_tui.core.store import ProjectStore
from mailmig_tui.lab.dns import lab_project
from mailmig_tui.ui.app import MailmigApp
from mailmig_tui.ui.phases.dns import audit as dns_audit
from mailmig_tui.ui.phases.dns.watch import DnsWatchPanel
from tests.dns.samples import POLICY, config, sample_report, sample_snapshot
from tests.waiting import wait_for


def fixed_project(now: datetime) -> Project:
    project = lab_project()
    project.plan.old_mx_ttl = 300
    project.plan.dates["ttl_lowered"] = now - timedelta(hours=2)
    project.plan.dates["mx_cutover"] = now + timedelta(hours=1)
    return project


class FixedWatcher(Watcher):
    """Sweeps return the sample snapshot."""

    sample: Snapshot | None = None

    async def sweep(self) -> Snapshot:
        assert self.sample is not None
        return self.sample


@pytest.fixture
def dns_app(tmp_path: Path, frozen_clock: datetime, monkeypatch: pytest.MonkeyPatch) -> MailmigApp:
    project = fixed_project(frozen_clock)
    path = tmp_path / "corp.test.mailmig.toml"
    ProjectStore.create(path, project).close()
    policy = tmp_path / "mta-sts.txt"
    policy.write_text(POLICY)
    report = sample_report(project, frozen_clock, str(policy))

    async def fixed_audit(*_args: Any) -> Any:
        return report

    def fixed_watcher(self: DnsWatchPanel) -> Watcher:
        cfg = config()
        watcher = FixedWatcher(project.domain, [], cfg.resolvers, cfg.authoritative, interval=30)
        watcher.sample = sample_snapshot(project, frozen_clock)
        return watcher

    monkeypatch.setattr(dns_audit, "run_audit", fixed_audit)
    monkeypatch.setattr(DnsWatchPanel, "make_watcher", fixed_watcher)
    return MailmigApp(ProjectStore.open(path))


def test_audit_tab(dns_app: MailmigApp, snap_compare) -> None:  # type: ignore[no-untyped-def]
    async def open_tab(pilot: Pilot[Any]) -> None:
        await pilot.press("3", "]")
        panel = pilot.app.screen.query_one(dns_audit.DnsAuditPanel)
        await wait_for(pilot, lambda: panel.report is not None, "the audit report")

    assert snap_compare(dns_app, terminal_size=(80, 24), run_before=open_tab)


def test_propagation_tab_mid_propagation(dns_app: MailmigApp, snap_compare) -> None:  # type: ignore[no-untyped-def]
    async def open_tab(pilot: Pilot[Any]) -> None:
        await pilot.press("3", "]", "]")
        panel = pilot.app.screen.query_one(DnsWatchPanel)
        await wait_for(pilot, lambda: panel.snapshot is not None and not panel.sweeping, "a finished sweep")

    assert snap_compare(dns_app, terminal_size=(80, 24), run_before=open_tab)
