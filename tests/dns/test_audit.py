"""The audit, the SPF budget and the readiness checks against real NSD and Unbound (tests/dns/conftest)."""

from __future__ import annotations

import asyncio
import json
import time
import tomllib
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from mailmig_tui.core.dns.audit import FAIL, PASS, Reader, audit, dkim_problem, mx_ttl_check
from mailmig_tui.core.dns.config import DnsConfig
from mailmig_tui.core.dns.query import NXDOMAIN, OK, Answer
from mailmig_tui.core.dns.records import NEGATIVE, NEW, OLD, derive_targets, zone_snippet
from mailmig_tui.core.dns.spf import check_spf
from mailmig_tui.core.model import Project
from mailmig_tui.lab.dns import DnsLab
from tests.dns.conftest import lab_args, lab_config, run_cli, write_project

pytestmark = pytest.mark.lab




def _policy(folder: Path, *mx: str) -> Path:
    path = folder / "mta-sts.txt"
    path.write_text("version: STSv1\nmode: enforce\n" + "".join(f"mx: {m}\n" for m in mx) + "max_age: 86400\n")
    return path


def test_audit_diff_and_zone_snippet(fresh_lab: DnsLab, project: Project, tmp_path: Path) -> None:
    config = lab_config(fresh_lab, ["plain1"], policy=str(_policy(tmp_path, "mx1.oldmail.test")))
    report = asyncio.run(audit(project, config))
    states = {r.target.key: r.state for r in report.rows}
    assert states == {"mx": OLD, "spf": OLD, "dkim:mm1": NEGATIVE, "dmarc": NEW, "autodiscover": NEGATIVE,
                      "srv:_imaps._tcp": NEGATIVE, "srv:_submission._tcp": NEGATIVE, "mta-sts": NEW, "tls-rpt": NEW}
    # The SPF to set keeps the old include during the transition and adds the new one before ~all.
    spf = next(r for r in report.rows if r.target.key == "spf").target
    assert spf.values == ("v=spf1 include:spf.oldmail.test include:spf.newmail.test ~all",)
    snippet = zone_snippet(report.rows, "corp.test")
    assert "corp.test. 5 IN MX 10 mx1.newmail.test." in snippet
    assert "corp.test. 5 IN MX 20 mx2.newmail.test." in snippet
    assert '"v=spf1 include:spf.oldmail.test include:spf.newmail.test ~all"' in snippet
    assert "autodiscover.corp.test. 3600 IN CNAME autodiscover.newmail.test." in snippet
    assert "_imaps._tcp.corp.test. 3600 IN SRV 0 1 993 imap.newmail.test." in snippet
    assert "_submission._tcp.corp.test. 3600 IN SRV 0 1 587 smtp.newmail.test." in snippet
    assert "_dmarc" not in snippet  # already right: nothing to set
    checks = {c.key: c.status for c in report.checks}
    assert checks["spf-parses"] == PASS and checks["spf-lookups"] == PASS
    assert checks["spf-includes-new"] == FAIL and checks["dkim:mm1"] == FAIL and checks["mta-sts"] == FAIL
    assert checks["dmarc"] == PASS and checks["mx-ttl"] == PASS
    assert not report.ready
    assert report.observed == {"mta_sts_id": "20260101T000000"}


def test_zone_command_prints_the_snippet(fresh_lab: DnsLab, project: Project, tmp_path: Path) -> None:
    path = write_project(tmp_path, project, mx_ttl=5)
    result = run_cli("dns", "zone", str(path), *lab_args(fresh_lab, ["plain1"]))
    assert result.returncode == 0, result.stderr
    assert "corp.test. 5 IN MX 10 mx1.newmail.test." in result.stdout


def _reader(lab: DnsLab) -> Reader:
    config = lab_config(lab, ["plain1"])
    return Reader(config.authoritative, config.resolvers, config.timeout)


def test_spf_lookups_are_counted_through_a_real_include_chain(fresh_lab: DnsLab) -> None:
    # c1 → c2 → … → c11: eleven includes, one over the limit of ten.
    chain = [f'c{i}.chain 60 IN TXT "v=spf1 include:c{i + 1}.chain.newmail.test -all"' for i in range(1, 11)]
    chain.append('c11.chain 60 IN TXT "v=spf1 ip4:192.0.2.1 -all"')
    fresh_lab.edit("newmail.test", add=(
        *chain,
        'voids 60 IN TXT "v=spf1 a:nx1.newmail.test mx:nx2.newmail.test exists:nx3.newmail.test -all"',
        'twovoids 60 IN TXT "v=spf1 a:nx1.newmail.test mx:nx2.newmail.test include:spf.newmail.test -all"',
    ))
    # Under load a resolver has been seen answering NXDOMAIN for a chain name just added (a negative
    # answer learned while NSD swapped zones); start from empty caches so the count is what is tested.
    fresh_lab.flush_resolvers()
    reader = _reader(fresh_lab)

    async def run() -> None:
        long = await check_spf("corp.test", reader.recursive, ("v=spf1 include:c1.chain.newmail.test -all",))
        assert long.lookups == 11 and not long.within_budget
        ten = await check_spf("corp.test", reader.recursive, ("v=spf1 include:c2.chain.newmail.test -all",))
        assert ten.lookups == 10 and ten.within_budget and ten.ok
        voids = await check_spf("voids.newmail.test", reader.recursive)
        assert voids.void_lookups == 3 and not voids.within_budget
        two = await check_spf("twovoids.newmail.test", reader.recursive)
        assert two.void_lookups == 2 and two.within_budget
        assert two.includes == ["spf.newmail.test", "_spf.newmail.test"]
        broken = await check_spf("corp.test", reader.recursive, ("v=spf1 include:nothere.newmail.test foo:bar -all",))
        assert broken.void_lookups == 1 and len(broken.errors) == 2

    asyncio.run(run())


def test_spf_over_budget_fails_the_check(fresh_lab: DnsLab, project: Project) -> None:
    chain = [f'c{i}.chain 60 IN TXT "v=spf1 include:c{i + 1}.chain.newmail.test -all"' for i in range(1, 10)]
    fresh_lab.edit("newmail.test", add=(*chain, 'c10.chain 60 IN TXT "v=spf1 -all"'))
    # The current record already uses 10 lookups: adding the new provider's include would make 11+.
    fresh_lab.edit("corp.test", remove=("@ 5 IN TXT",), add=('@ 5 IN TXT "v=spf1 include:c1.chain.newmail.test ~all"',))
    report = asyncio.run(audit(project, lab_config(fresh_lab, ["plain1"])))
    check = next(c for c in report.checks if c.key == "spf-lookups")
    assert check.status == FAIL
    assert report.target_spf is not None and report.target_spf.lookups > 10


def test_dkim_absent_then_published(fresh_lab: DnsLab, project: Project, dkim_key: str) -> None:
    config = lab_config(fresh_lab, ["plain1"])
    before = asyncio.run(audit(project, config))
    dkim = next(r for r in before.rows if r.target.key == "dkim:mm1")
    assert dkim.current is not None and dkim.current.status == NXDOMAIN and dkim.current.negative_ttl == 3
    fresh_lab.edit("corp.test", add=(f'mm1._domainkey 5 IN TXT "v=DKIM1; k=rsa; p={dkim_key}"',))
    after = asyncio.run(audit(project, config))
    assert next(c for c in after.checks if c.key == "dkim:mm1").status == PASS
    assert next(r for r in after.rows if r.target.key == "dkim:mm1").state == NEW


def test_dkim_key_parsing(dkim_key: str) -> None:
    assert dkim_problem(f"v=DKIM1; k=rsa; p={dkim_key}") == ""
    assert "revoked" in dkim_problem("v=DKIM1; p=")
    assert "base64" in dkim_problem("v=DKIM1; p=not*base64")
    assert "public key" in dkim_problem("v=DKIM1; p=" + "QUJDRA==")
    assert dkim_problem("v=DKIM1; k=ed25519; p=" + "A" * 43 + "=") == ""


def test_mx_ttl_check_gives_the_earliest_safe_time(project: Project) -> None:
    now = datetime.now().astimezone()
    mx = next(t for t in derive_targets(project, DnsConfig(mx_ttl=300)) if t.key == "mx")
    old = Answer("ns1", "corp.test", "MX", OK, ("10 mx1.oldmail.test",), ttl=300)
    project.plan.old_mx_ttl = 3600
    project.plan.dates["ttl_lowered"] = now - timedelta(minutes=30)
    project.plan.dates["mx_cutover"] = now + timedelta(minutes=10)
    check = mx_ttl_check(project, DnsConfig(mx_ttl=300), old, mx, now)
    earliest = (now + timedelta(minutes=30)).strftime("%H:%M")
    assert check.status == FAIL and earliest in check.explanation
    still_high = Answer("ns1", "corp.test", "MX", OK, ("10 mx1.oldmail.test",), ttl=3600)
    assert mx_ttl_check(project, DnsConfig(mx_ttl=300), still_high, mx, now).status == FAIL
    project.plan.dates["mx_cutover"] = now + timedelta(hours=2)
    assert mx_ttl_check(project, DnsConfig(mx_ttl=300), old, mx, now).status == PASS


def test_check_exit_codes_and_mta_sts_id(fresh_lab: DnsLab, project: Project, tmp_path: Path, dkim_key: str) -> None:
    policy = _policy(tmp_path, "mx1.oldmail.test")
    path = write_project(tmp_path, project, mx_ttl=5, mta_sts_policy=str(policy))
    args = lab_args(fresh_lab, ["plain1", "timeout"])
    first = run_cli("dns", "check", str(path), *args)
    assert first.returncode == 1, first.stderr
    assert "NOT READY" in first.stdout
    # The id of the policy that did not cover the new MX is remembered in the project file.
    saved = tomllib.loads(path.read_text())
    assert saved["dns"]["observed"]["mta_sts_id"] == "20260101T000000"

    fresh_lab.edit("corp.test", remove=("@ 5 IN TXT",), add=(
        '@ 5 IN TXT "v=spf1 include:spf.oldmail.test include:spf.newmail.test ~all"',
        f'mm1._domainkey 5 IN TXT "v=DKIM1; k=rsa; p={dkim_key}"'))
    _policy(tmp_path, "mx1.oldmail.test", "*.newmail.test")
    same_id = run_cli("dns", "check", str(path), "--json", *args)
    assert same_id.returncode == 1
    assert '"key": "mta-sts", "status": "fail"' in same_id.stdout

    fresh_lab.edit("corp.test", remove=("_mta-sts",), add=('_mta-sts 60 IN TXT "v=STSv1; id=20261127T1000"',))
    ready = run_cli("dns", "check", str(path), *args)
    assert ready.returncode == 0, ready.stdout + ready.stderr
    assert "READY for the cutover" in ready.stdout


def _ready_on(lab: DnsLab, tmp_path: Path, project: Project, dkim_key: str, servers: tuple[str, ...]) -> Path:
    """Publish everything the cutover needs on `servers` only; the project file that checks it."""
    policy = _policy(tmp_path, "mx1.oldmail.test", "*.newmail.test")
    path = write_project(tmp_path, project, mx_ttl=5, mta_sts_policy=str(policy))
    lab.edit("corp.test", remove=("@ 5 IN TXT", "_mta-sts"), add=(
        '@ 5 IN TXT "v=spf1 include:spf.oldmail.test include:spf.newmail.test ~all"',
        f'mm1._domainkey 5 IN TXT "v=DKIM1; k=rsa; p={dkim_key}"',
        '_mta-sts 60 IN TXT "v=STSv1; id=20261127T1000"'), servers=servers)
    return path


def test_check_asks_every_authoritative_server_lagging(fresh_lab: DnsLab, project: Project, tmp_path: Path,
                                                       dkim_key: str) -> None:
    path = _ready_on(fresh_lab, tmp_path, project, dkim_key, ("primary",))
    args = lab_args(fresh_lab, ["plain1"])
    lagging = run_cli("dns", "check", str(path), *args)
    assert lagging.returncode == 1, lagging.stdout  # the secondary still serves the old records
    assert "NOT READY" in lagging.stdout
    result = run_cli("dns", "check", str(path), "--json", *args)
    check = next(e for e in map(json.loads, result.stdout.splitlines()) if e.get("key") == "authoritative")
    assert check["status"] == "fail" and fresh_lab.secondary in check["explanation"]
    assert str(fresh_lab.serials["corp.test"] - 1) in check["explanation"]
    assert "SPF" in check["explanation"] or "spf" in check["explanation"]
    fresh_lab.sync_secondary("corp.test")
    ready = run_cli("dns", "check", str(path), *args)
    assert ready.returncode == 0, ready.stdout
    assert f"{fresh_lab.primary}, {fresh_lab.secondary}" in ready.stdout  # both asked, both named


@pytest.mark.parametrize("dead", ["secondary", "primary"])
def test_check_reports_a_dead_authoritative_server(fresh_lab: DnsLab, project: Project, tmp_path: Path,
                                                   dkim_key: str, dead: str) -> None:
    path = _ready_on(fresh_lab, tmp_path, project, dkim_key, ("primary", "secondary"))
    fresh_lab.pause(dead, "nsd")
    try:
        result = run_cli("dns", "check", str(path), "--json", *lab_args(fresh_lab, ["plain1"]))
    finally:
        fresh_lab.resume(dead, "nsd")
    assert result.returncode == 1, result.stdout
    events = list(map(json.loads, result.stdout.splitlines()))
    check = next(e for e in events if e.get("key") == "authoritative")
    address = fresh_lab.primary if dead == "primary" else fresh_lab.secondary
    assert check["status"] == "fail" and address in check["explanation"] and "timeout" in check["explanation"]
    # What the other server serves is still audited: the MX row is read, not an error.
    mx = next(e for e in events if e.get("event") == "dns.record" and e["key"] == "mx")
    assert mx["status"] == "ok"


def test_ns_discovery_skips_a_dead_first_resolver_and_lists_each_address_once(fresh_lab: DnsLab) -> None:
    from mailmig_tui.core.dns.audit import discover_authoritative
    from mailmig_tui.core.dns.config import Server

    # A third NS name on the primary's address: the same server must not be asked twice.
    fresh_lab.edit("corp.test", add=("@ 60 IN NS ns3.corp.test.", f"ns3 60 IN A {fresh_lab.primary}"))
    fresh_lab.flush_resolvers()
    resolvers = [Server("dead", fresh_lab.resolvers["timeout"]), Server("plain1", fresh_lab.resolvers["plain1"])]
    started = time.monotonic()
    servers = asyncio.run(discover_authoritative("corp.test", resolvers, timeout=5.0))
    elapsed = time.monotonic() - started
    assert elapsed < 2.5, f"NS discovery waited {elapsed:.1f} s on the dead first resolver"
    assert sorted(s.address for s in servers) == sorted(fresh_lab.authoritative)


def test_spf_dropping_the_old_include_before_go_live_warns(fresh_lab: DnsLab, project: Project) -> None:
    from mailmig_tui.core.dns.audit import WARN

    fresh_lab.edit("corp.test", remove=("@ 5 IN TXT",), add=('@ 5 IN TXT "v=spf1 include:spf.newmail.test ~all"',))
    report = asyncio.run(audit(project, lab_config(fresh_lab, ["plain1"])))
    check = next((c for c in report.checks if c.key == "spf-keeps-old"), None)
    assert check is not None and check.status == WARN and "include:spf.oldmail.test" in check.explanation
    project.plan.dates["go_live"] = datetime.now().astimezone() - timedelta(days=1)
    after = asyncio.run(audit(project, lab_config(fresh_lab, ["plain1"])))
    assert next(c for c in after.checks if c.key == "spf-keeps-old").status == PASS


def test_no_new_mx_fails_readiness_with_a_hint(fresh_lab: DnsLab, project: Project) -> None:
    project.new.mx = []
    report = asyncio.run(audit(project, lab_config(fresh_lab, ["plain1"])))
    check = next(c for c in report.checks if c.key == "mx-set")
    assert check.status == FAIL and "mx = []" in check.explanation and not report.ready


def test_check_asks_an_ipv6_authoritative_server_too(fresh_lab: DnsLab, project: Project, tmp_path: Path,
                                                     dkim_key: str) -> None:
    import socket

    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
        probe.bind(("::1", 0))
        port = probe.getsockname()[1]
    v6 = fresh_lab.add_nsd("v6", "::1", port)  # never [::1]:53
    for zone in ("corp.test", "newmail.test", "oldmail.test"):
        fresh_lab.sync_secondary(zone, "v6")
    path = _ready_on(fresh_lab, tmp_path, project, dkim_key, ("primary", "secondary"))
    args = ["--authoritative", fresh_lab.primary, "--authoritative", v6, "--resolver",
            f"plain1={fresh_lab.resolvers['plain1']}", "--timeout", "0.5"]
    lagging = run_cli("dns", "check", str(path), "--json", *args)
    assert lagging.returncode == 1, lagging.stdout
    check = next(e for e in map(json.loads, lagging.stdout.splitlines()) if e.get("key") == "authoritative")
    assert check["status"] == "fail" and v6 in check["explanation"]
    fresh_lab.sync_secondary("corp.test", "v6")
    ready = run_cli("dns", "check", str(path), *args)
    assert ready.returncode == 0, ready.stdout
    assert f"{fresh_lab.primary}, {v6}" in ready.stdout
