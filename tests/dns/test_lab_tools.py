"""The DNS lab runs its servers' control tools from /usr/sbin even when PATH lacks it."""

from __future__ import annotations

import pytest

from mailmig_tui.lab.dns import DnsLab


def test_lab_controls_its_servers_without_sbin_on_path(fresh_lab: DnsLab, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/usr/local/bin:/usr/bin:/bin")
    serial = fresh_lab.edit("corp.test", add=("probe 60 IN A 192.0.2.99",))  # nsd-control reload
    assert fresh_lab.serial("primary", "corp.test") == serial == fresh_lab.serial("secondary", "corp.test")
    fresh_lab.flush_resolvers()  # unbound-control
