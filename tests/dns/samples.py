"""A fixed AuditReport and a fixed mid-propagation Snapshot of the lab's corp.test, built from answers
as the lab's servers give them, through the engine's own diff, checks and snapshot code.

For snapshot tests: no network and no clock, so the screen is the same on every run.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from mailmig_tui.core.dns.audit import (
    PASS,
    AuditReport,
    Check,
    _spf_checks,
    dkim_check,
    dmarc_check,
    mta_sts_check,
    mx_ttl_check,
    tlsrpt_check,
)
from mailmig_tui.core.dns.config import DnsConfig, Server
from mailmig_tui.core.dns.query import NXDOMAIN, OK, REFUSED, SERVFAIL, TIMEOUT, Answer
from mailmig_tui.core.dns.records import NEW, OLD, Target, classify, derive_targets, diff, optional_targets
from mailmig_tui.core.dns.spf import SpfReport
from mailmig_tui.core.dns.watch import AuthRow, ResolverHealth, Snapshot, Watcher, _Seen
from mailmig_tui.core.model import Project

OLD_SPF = "v=spf1 include:spf.oldmail.test ~all"
DKIM = "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC"
AUTH = [Server("ns1.corp.test", "127.0.53.1"), Server("ns2.corp.test", "127.0.53.2")]
RESOLVERS = [
    Server("plain1", "127.0.53.11", region="lab-a"), Server("plain2", "127.0.53.12", region="lab-b"),
    Server("sticky", "127.0.53.13", region="lab-c"), Server("refused", "127.0.53.14", region="lab-d"),
    Server("servfail", "127.0.53.15", region="lab-e"), Server("timeout", "127.0.53.16", region="lab-f"),
]


POLICY = "version: STSv1\nmode: enforce\nmx: mx1.oldmail.test\nmax_age: 86400\n"


def config() -> DnsConfig:
    return DnsConfig(interval=30, timeout=0.5, mx_ttl=5, resolvers=list(RESOLVERS), authoritative=list(AUTH))


def _ok(server: str, t: Target, values: tuple[str, ...], ttl: int, *, aa: bool = False) -> Answer:
    return Answer(server, t.name, t.rdtype, OK, values, ttl, aa=aa, ra=not aa, serial=None)


def _nx(server: str, t: Target, negative_ttl: int, *, aa: bool = False) -> Answer:
    return Answer(server, t.name, t.rdtype, NXDOMAIN, negative_ttl=negative_ttl, aa=aa, ra=not aa)


def before_change(server: str, t: Target, *, aa: bool = False, ttl: int = 5) -> Answer:
    """What the lab's corp.test publishes before the change."""
    current = {
        "mx": ("10 mx1.oldmail.test",), "spf": (OLD_SPF,), "dmarc": ("v=DMARC1; p=none; rua=mailto:dmarc@corp.test",),
        "mta-sts": ("v=STSv1; id=20260101T000000",), "tls-rpt": ("v=TLSRPTv1; rua=mailto:tlsrpt@corp.test",),
    }
    if t.key in current:
        return _ok(server, t, current[t.key], ttl, aa=aa)
    return _nx(server, t, 3, aa=aa)


def after_change(server: str, t: Target, *, aa: bool = False, ttl: int = 5) -> Answer:
    """After the MX and the DKIM key were changed (the other new names are still to come)."""
    if t.key == "mx":
        return _ok(server, t, t.values, ttl, aa=aa)
    if t.key.startswith("dkim:"):
        return _ok(server, t, (DKIM,), ttl, aa=aa)
    return before_change(server, t, aa=aa, ttl=ttl)


def sample_report(project: Project, now: datetime, policy: str) -> AuditReport:
    """Before the change; `policy` is an MTA-STS policy file (see `policy_text`)."""
    cfg = config()
    domain = project.domain
    probe = Target("x", f"_mta-sts.{domain}", "TXT", (), 60, "")
    sts = _ok("ns1", probe, ("v=STSv1; id=20260101T000000",), 60, aa=True)
    rpt = _ok("ns1", probe, ("v=TLSRPTv1; rua=mailto:tlsrpt@corp.test",), 60, aa=True)
    targets = derive_targets(project, cfg, (OLD_SPF,))
    targets += optional_targets(domain, cfg, {"mta-sts": sts, "tls-rpt": rpt})
    current = {t.key: before_change("ns1", t, aa=True) for t in targets}
    rows = diff(targets, current)
    by_key = {t.key: t for t in targets}
    spf = SpfReport(domain, OLD_SPF, 2, 0, includes=["spf.oldmail.test"])
    target_spf = SpfReport(domain, by_key["spf"].values[0], 4, 0, includes=["spf.oldmail.test", "spf.newmail.test"])
    checks = [Check("authoritative", PASS, "Every authoritative server answers and serves the same zone",
                    "2 servers (127.0.53.1, 127.0.53.2) serve serial 2026010101")]
    checks += _spf_checks(spf, target_spf, project.new.spf_include)
    checks.append(dkim_check(by_key["dkim:mm1"], current["dkim:mm1"]))
    checks.append(dmarc_check(current["dmarc"]))
    cfg.mta_sts_policy = policy
    checks.append(asyncio.run(mta_sts_check(domain, cfg, sts, by_key["mx"], {})))
    checks.append(tlsrpt_check(current["tls-rpt"]))
    checks.append(mx_ttl_check(project, cfg, current["mx"], by_key["mx"], now))
    return AuditReport(domain, now, list(AUTH), rows, checks, spf, target_spf)


def sample_snapshot(project: Project, now: datetime) -> Snapshot:
    """Mid-propagation: the zone serves the new MX; two resolvers flipped, the sticky one still holds the
    old MX for 9 s and a cached "no such name" for the DKIM key; three resolvers fail in three ways."""
    cfg = config()
    targets = derive_targets(project, cfg)
    watcher = Watcher(project.domain, targets, list(RESOLVERS), list(AUTH), timeout=0.5, interval=30, old_mx_ttl=300,
                      clock=lambda: now)
    watcher.history = [(now - timedelta(seconds=90), 0.0), (now - timedelta(seconds=60), 0.0),
                       (now - timedelta(seconds=30), 100 / 3)]
    # The cutover was seen a minute ago; plain1 and plain2 have answered the new MX since.
    watcher.sweeps, watcher.cutover_sweep, watcher.cutover_at = 3, 1, now - timedelta(seconds=60)
    for name in ("plain1", "plain2"):
        watcher._last[name] = _Seen(2, NEW, now - timedelta(seconds=30))
    for name in ("sticky",):
        watcher._last[name] = _Seen(2, OLD, now - timedelta(seconds=30))
    for name in ("refused", "servfail", "timeout"):
        watcher._failing_since[name] = now - timedelta(seconds=90)
    serial = 2026010102
    auth = []
    for server in AUTH:
        answers = {t.key: after_change(server.name, t, aa=True) for t in targets}
        auth.append(AuthRow(server, serial, True, OK, {t.key: classify(t, answers[t.key]) for t in targets}, answers))
    per_resolver: list[tuple[ResolverHealth, list[Answer]]] = []
    for server in RESOLVERS:
        if server.name in ("refused", "servfail", "timeout"):
            status = {"refused": REFUSED, "servfail": SERVFAIL, "timeout": TIMEOUT}[server.name]
            per_resolver.append((ResolverHealth(server, status), []))
        elif server.name == "sticky":
            answers = [before_change(server.name, t, ttl=9) if t.key in ("mx", "dkim:mm1")
                       else after_change(server.name, t, ttl=9) for t in targets]
            answers = [_nx(server.name, t, 3) if t.key == "dkim:mm1" else a for t, a in zip(targets, answers, strict=True)]
            per_resolver.append((ResolverHealth(server, "ok"), answers))
        else:
            per_resolver.append((ResolverHealth(server, "ok"), [after_change(server.name, t, ttl=4) for t in targets]))
    return watcher._snapshot(now, auth, per_resolver, 0.42)
