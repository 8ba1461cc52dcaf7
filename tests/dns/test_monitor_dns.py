"""The health monitor's DNS checks against the real DNS lab: a cut-over zone passes, a record edited
back (someone restored the old MX) fails with what to set, and unreachable servers are unknown."""

from __future__ import annotations

from datetime import UTC, datetime

from mailmig_tui.core.dns.config import DnsConfig, Server
from mailmig_tui.core.model import Project
from mailmig_tui.core.monitor import FAIL, OK, UNKNOWN
from mailmig_tui.core.monitor.runner import dns_checks
from mailmig_tui.lab.dns import DnsLab
from tests.dns.conftest import lab_config

NEW_ZONE = (
    "@ 5 IN MX 10 mx1.newmail.test.",
    "@ 5 IN MX 20 mx2.newmail.test.",
    '@ 5 IN TXT "v=spf1 include:spf.newmail.test ~all"',
)


def _by_key(project: Project, config: DnsConfig) -> dict[str, object]:
    return {r.key: r for r in dns_checks(project, config, datetime.now(UTC))}


def test_mx_edited_back_after_the_cutover_fails(fresh_lab: DnsLab, project: Project, dkim_key: str) -> None:
    fresh_lab.edit("corp.test", remove=("@ 5 IN MX", "@ 5 IN TXT"),
                   add=(*NEW_ZONE, f'mm1._domainkey 5 IN TXT "v=DKIM1; k=rsa; p={dkim_key}"'))
    results = _by_key(project, lab_config(fresh_lab))
    assert results["dns:mx"].status == OK, results["dns:mx"].detail  # type: ignore[attr-defined]
    assert results["dns:dkim:mm1"].status == OK  # type: ignore[attr-defined]

    fresh_lab.edit("corp.test", remove=("@ 5 IN MX",), add=("@ 5 IN MX 10 mx1.oldmail.test.",))
    mx = _by_key(project, lab_config(fresh_lab))["dns:mx"]
    assert mx.status == FAIL and "mx1.oldmail.test" in mx.detail  # type: ignore[attr-defined]
    assert "mx1.newmail.test" in mx.advice  # type: ignore[attr-defined]


def test_unreachable_authoritative_servers_are_unknown_not_ok(project: Project) -> None:
    dead = DnsConfig(timeout=0.3, resolvers=[Server("dead", "127.0.0.1", 9)], authoritative=[Server("dead", "127.0.0.1", 9)])
    results = dns_checks(project, dead, datetime.now(UTC))
    assert results and all(r.status != OK for r in results if r.key.startswith("dns:"))
    assert any(r.status == UNKNOWN for r in results)
