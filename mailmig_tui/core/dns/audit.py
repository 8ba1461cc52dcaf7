"""The record audit and the cutover readiness checks (each with a plain explanation).

`audit()` reads what the zone publishes now (from its authoritative servers, so no cache is in the
way), derives what it must publish, diffs the two and runs the readiness checks. It returns plain
dataclasses a UI or the CLI renders.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mailmig_tui.core.dns.config import DnsConfig, Server
from mailmig_tui.core.dns.query import ERROR, NODATA, NXDOMAIN, OK, Answer, ask
from mailmig_tui.core.dns.records import (
    NEW,
    DiffRow,
    Target,
    classify,
    derive_targets,
    diff,
    optional_targets,
)
from mailmig_tui.core.dns.spf import SpfReport, check_spf
from mailmig_tui.core.i18n import _
from mailmig_tui.core.model import Project

PASS, WARN, FAIL = "ok", "warn", "fail"


@dataclass(frozen=True)
class Check:
    key: str
    status: str  # ok / warn / fail
    title: str
    explanation: str


@dataclass
class AuditReport:
    domain: str
    at: datetime
    servers: list[Server]
    rows: list[DiffRow]
    checks: list[Check]
    spf: SpfReport | None = None
    target_spf: SpfReport | None = None
    # Facts the CLI stores in [dns.observed] so a later check can compare (the MTA-STS id before the change).
    observed: dict[str, Any] = field(default_factory=dict)
    offline: bool = False  # no authoritative server answered: the rows hold targets, current unknown
    offline_reason: str = ""

    @property
    def ready(self) -> bool:
        return all(c.status != FAIL for c in self.checks)

    @property
    def changes(self) -> list[DiffRow]:
        return [r for r in self.rows if r.needs_change]


class Reader:
    """Reads current records from EVERY authoritative server (each address), else from a resolver.

    `authoritative()` asks all the servers at once and returns the answer of one serving the newest
    serial; every server's answer is kept in `asked` so the audit can say which one differs."""

    def __init__(self, servers: list[Server], resolvers: list[Server], timeout: float) -> None:
        self.servers = servers
        self.resolvers = resolvers
        self.timeout = timeout
        self.serials: dict[Server, Answer] = {}  # each server's SOA answer (set by `probe()`)
        self.asked: dict[tuple[str, str], list[tuple[Server, Answer]]] = {}

    async def probe(self, domain: str) -> None:
        answers = await asyncio.gather(*(ask(s, domain, "SOA", timeout=self.timeout, recursion=False)
                                         for s in self.servers))
        self.serials = dict(zip(self.servers, answers, strict=True))

    @property
    def answering(self) -> list[Server]:
        """Servers that answered the SOA authoritatively, the newest serial first."""
        ok = [(s, a) for s, a in self.serials.items() if not a.failed and a.aa]
        ok.sort(key=lambda item: -(item[1].serial or 0))
        return [s for s, _a in ok]

    async def authoritative(self, name: str, rdtype: str) -> Answer:
        servers = self.answering if self.serials else self.servers
        if not servers:
            if not self.servers:
                return await self.recursive(name, rdtype)
            return Answer("-", name, rdtype, ERROR, detail=_("no authoritative server answers"))
        answers = await asyncio.gather(*(ask(s, name, rdtype, timeout=self.timeout, recursion=False) for s in servers))
        self.asked[(name, rdtype)] = list(zip(servers, answers, strict=True))
        # Only an authoritative answer (AA) counts; the newest serial's server first.
        for answer in answers:
            if not answer.failed and (answer.aa or answer.status == NXDOMAIN):
                return answer
        return answers[0]

    async def recursive(self, name: str, rdtype: str) -> Answer:
        """The first answer from any resolver, all asked at once: a dead one costs nothing."""
        if not self.resolvers:
            return Answer("-", name, rdtype, ERROR, detail=_("no resolver answered"))
        tasks = [asyncio.ensure_future(ask(s, name, rdtype, timeout=self.timeout)) for s in self.resolvers]
        last: Answer | None = None
        try:
            for next_done in asyncio.as_completed(tasks):
                answer = await next_done
                if not answer.failed:
                    return answer
                last = answer
        finally:
            for task in tasks:
                task.cancel()
        return last or Answer("-", name, rdtype, ERROR, detail=_("no resolver answered"))


async def discover_authoritative(domain: str, resolvers: list[Server], timeout: float) -> list[Server]:
    """Every address (IPv4 and IPv6) of every NS of `domain`, each address once (resolvers asked at once)."""
    reader = Reader([], resolvers, timeout)
    ns = await reader.recursive(domain, "NS")
    hosts = sorted(set(ns.values))
    found = await asyncio.gather(*(asyncio.gather(reader.recursive(h, "A"), reader.recursive(h, "AAAA")) for h in hosts))
    names: dict[str, list[str]] = {}
    for host, (v4, v6) in zip(hosts, found, strict=True):
        for ip in (*v4.values, *v6.values):
            names.setdefault(ip, []).append(host)
    return [Server(f"{', '.join(hosts)} {ip}", ip) for ip, hosts in names.items()]


def authoritative_check(reader: Reader, targets: list[Target]) -> Check:
    """Every authoritative server answers, with the same serial and the same records."""
    title = _("Every authoritative server answers and serves the same zone")
    problems: list[str] = []
    for server, soa in reader.serials.items():
        if soa.failed:
            problems.append(_("{server} does not answer ({status})").format(server=server.label, status=soa.status))
        elif not soa.aa:
            problems.append(_("{server} is not authoritative for the zone").format(server=server.label))
    answering = reader.answering
    top = reader.serials[answering[0]].serial if answering else None
    for server in answering[1:]:
        serial = reader.serials[server].serial
        differs = []
        for t in targets:
            got = dict(reader.asked.get((t.name, t.rdtype), []))
            first, mine = got.get(answering[0]), got.get(server)
            if first is not None and mine is not None and (first.status, first.values) != (mine.status, mine.values):
                differs.append(t.key.split(":")[0].upper())
        if serial != top or differs:
            problems.append(_("{server} serves serial {serial} (newest {top}){differs}").format(
                server=server.label, serial=serial, top=top,
                differs=(": " + _("different {records}").format(records=", ".join(dict.fromkeys(differs))))
                if differs else ""))
    if problems:
        return Check("authoritative", FAIL, title, "; ".join(problems) + " — " + _(
            "resolvers asking that server get what it serves: wait for it to catch up (or fix it) before the cutover"))
    return Check("authoritative", PASS, title, _("{n} servers ({servers}) serve serial {serial}").format(
        n=len(answering), servers=", ".join(s.label for s in answering), serial=top))


async def read_current(reader: Reader, targets: list[Target]) -> dict[str, Answer]:
    answers = await asyncio.gather(*(reader.authoritative(t.name, t.rdtype) for t in targets))
    return {t.key: a for t, a in zip(targets, answers, strict=True)}


async def audit(project: Project, config: DnsConfig, *, authoritative: list[Server] | None = None,
                resolvers: list[Server] | None = None, now: datetime | None = None) -> AuditReport:
    now = now or datetime.now(UTC)
    domain = project.domain.lower().rstrip(".")
    resolvers = list(resolvers if resolvers is not None else config.resolvers)
    servers = list(authoritative if authoritative is not None else config.authoritative)
    if not servers:
        servers = await discover_authoritative(domain, resolvers, config.timeout)
    reader = Reader(servers, resolvers, config.timeout)
    await reader.probe(domain)
    if not servers:
        return offline_report(project, config, [], now, _(
            "no authoritative servers found for {domain}: the resolvers return no NS set; is the domain registered "
            "and delegated?").format(domain=domain))
    if not reader.answering:
        return offline_report(project, config, servers, now, _("authoritative servers unreachable: {statuses}").format(
            statuses=", ".join(sorted({a.status for a in reader.serials.values()}))))
    txt, sts, rpt = await asyncio.gather(
        reader.authoritative(domain, "TXT"), reader.authoritative(f"_mta-sts.{domain}", "TXT"),
        reader.authoritative(f"_smtp._tls.{domain}", "TXT"))
    targets = derive_targets(project, config, txt.values)
    targets += optional_targets(domain, config, {"mta-sts": sts, "tls-rpt": rpt})
    current = await read_current(reader, [t for t in targets if t.key != "spf"])
    current["spf"] = txt
    rows = diff(targets, current)
    report = AuditReport(domain, now, servers, rows, [])
    report.checks.append(authoritative_check(reader, targets))

    async def lookup(name: str, rdtype: str) -> Answer:
        # Includes live in other zones (the providers'): a resolver reaches them, our NS may not.
        if name == domain or name.endswith("." + domain):
            return await reader.authoritative(name, rdtype)
        return await reader.recursive(name, rdtype)

    by_key = {t.key: t for t in targets}
    checks = report.checks
    if "spf" in by_key:
        report.spf = await check_spf(domain, lookup, txt.values if not txt.failed else None)
        target_value = by_key["spf"].values
        report.target_spf = report.spf if classify(by_key["spf"], txt) == NEW else await check_spf(domain, lookup, target_value)
        checks += _spf_checks(report.spf, report.target_spf, project.new.spf_include)
        old_check = spf_keeps_old_check(report.spf, project, now)
        if old_check is not None:
            checks.append(old_check)
    for t in targets:
        if t.key.startswith("dkim:"):
            checks.append(dkim_check(t, current[t.key]))
    checks.append(dmarc_check(current.get("dmarc")))
    if "mta-sts" in by_key:
        checks.append(await mta_sts_check(domain, config, sts, by_key.get("mx"), report.observed))
    if "tls-rpt" in by_key:
        checks.append(tlsrpt_check(current["tls-rpt"]))
    if "mx" in by_key:
        checks.append(mx_ttl_check(project, config, current["mx"], by_key["mx"], now))
    else:
        checks.append(Check("mx-set", FAIL, _("The new provider's MX is in the project"), _(
            "new_provider.mx is empty (the generic-imap preset writes mx = []): there is nothing to cut over or "
            "watch; set mx = [{{ host = \"…\", preference = 10 }}] from the new provider's console")))
    return report


def offline_report(project: Project, config: DnsConfig, servers: list[Server], now: datetime,
                   reason: str) -> AuditReport:
    """Nothing authoritative answers: the records to set anyway (as `dns zone` prints them), each current
    value unknown, and one failed check saying why."""
    domain = project.domain.lower().rstrip(".")
    targets = derive_targets(project, config)
    unknown = {t.key: Answer("-", t.name, t.rdtype, ERROR, detail=_("unknown (unreachable)")) for t in targets}
    check = Check("authoritative", FAIL, _("Every authoritative server answers and serves the same zone"),
                  reason + " — " + _("the current records are unknown"))
    return AuditReport(domain, now, servers, diff(targets, unknown), [check], offline=True, offline_reason=reason)


def _spf_checks(spf: SpfReport, target: SpfReport, include: str) -> list[Check]:
    out = []
    parse_errors = spf.errors
    out.append(Check("spf-parses", FAIL if parse_errors or not spf.record else PASS, _("SPF record parses"),
                     "; ".join(parse_errors) if parse_errors else _("one v=spf1 record: {record}").format(record=spf.record)))
    budget = target
    status = PASS if budget.within_budget else FAIL
    out.append(Check("spf-lookups", status, _("SPF stays within 10 DNS lookups and 2 void lookups"),
                     _("{lookups} lookups, {void} void (with the new provider's include: {record})").format(
                         lookups=budget.lookups, void=budget.void_lookups, record=budget.record or "-")
                     + ("" if status == PASS else " — " + _("receivers will fail SPF (permerror): flatten includes "
                                                         "or drop ones no longer needed"))))
    has_new = include.lower() in spf.includes
    out.append(Check("spf-includes-new", PASS if has_new else FAIL, _("SPF includes the new provider"),
                     _("include:{include} is published").format(include=include) if has_new else
                     _("add include:{include} before the cutover, or the new provider's mail fails SPF").format(include=include)))
    return out


def spf_keeps_old_check(spf: SpfReport, project: Project, now: datetime) -> Check | None:
    """Before go-live the old provider still sends mail for the domain: its include must stay."""
    old = project.old.spf_include.lower()
    if not old or not spf.record:
        return None
    go_live = project.plan.dates.get("go_live")
    title = _("SPF keeps the old provider until go-live")
    if go_live is not None and go_live <= now:
        return Check("spf-keeps-old", PASS, title, _("go-live has passed: the old include may go"))
    if old in spf.includes:
        return Check("spf-keeps-old", PASS, title, _("include:{include} is still published").format(include=old))
    return Check("spf-keeps-old", WARN, title, _(
        "include:{include} was dropped before go-live: mail the old provider still sends for the domain "
        "(forwards, scanners, users not moved yet) fails SPF; keep it until go-live").format(include=old))


def dkim_check(target: Target, answer: Answer) -> Check:
    selector = target.key.split(":", 1)[1]
    title = _("DKIM key for selector {selector} is published and parses").format(selector=selector)
    if answer.status in (NXDOMAIN, NODATA):
        return Check(target.key, FAIL, title, _("{name} does not exist yet; publish the key from the new provider's "
                                               "console (resolvers that asked may cache the absence for {ttl} s)").format(
            name=target.name, ttl=answer.negative_ttl if answer.negative_ttl is not None else "?"))
    if answer.status != OK:
        return Check(target.key, FAIL, title, _("could not read {name}: {status}").format(name=target.name, status=answer.status))
    problem = dkim_problem(" ".join(answer.values) if len(answer.values) == 1 else "")
    if len(answer.values) != 1:
        problem = _("{n} TXT records at {name}; there must be exactly one").format(n=len(answer.values), name=target.name)
    return Check(target.key, FAIL if problem else PASS, title, problem or _("key published at {name}").format(name=target.name))


def dkim_problem(record: str) -> str:
    """Why a DKIM key record is unusable ('' when it is fine)."""
    tags = parse_tags(record)
    if "v" in tags and tags["v"] != "DKIM1":
        return _("v= must be DKIM1")
    key = re.sub(r"\s+", "", tags.get("p", ""))
    if not key:
        return _("no p= key (an empty p= means the key was revoked)")
    try:
        der = base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError):
        return _("p= is not valid base64")
    kind = tags.get("k", "rsa").lower()
    if kind == "ed25519":
        return "" if len(der) == 32 else _("an ed25519 key must be 32 bytes")
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    try:
        load_der_public_key(der)
    except (ValueError, TypeError):
        return _("p= does not hold a public key")
    return ""


def parse_tags(record: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for part in record.split(";"):
        name, sep, value = part.partition("=")
        if sep:
            tags[name.strip().lower() if name.strip().lower() != "v" else "v"] = value.strip()
    return tags


def dmarc_check(answer: Answer | None) -> Check:
    title = _("DMARC record exists")
    values = [v for v in (answer.values if answer else ()) if v.upper().startswith("V=DMARC1")]
    if len(values) != 1:
        return Check("dmarc", FAIL, title, _("publish one v=DMARC1 record at _dmarc (start with p=none to watch reports)"))
    policy = parse_tags(values[0]).get("p", "")
    if policy not in ("none", "quarantine", "reject"):
        return Check("dmarc", FAIL, title, _("p= must be none, quarantine or reject"))
    return Check("dmarc", PASS, title, _("policy p={policy}").format(policy=policy))


def tlsrpt_check(answer: Answer) -> Check:
    ok = any(v.startswith("v=TLSRPTv1") and "rua=" in v for v in answer.values)
    return Check("tls-rpt", PASS if ok else WARN, _("TLS-RPT record parses"),
                 _("reports go to the rua= address") if ok else _("expected v=TLSRPTv1; rua=mailto:…"))


def mx_matches(pattern: str, host: str) -> bool:
    pattern, host = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if pattern.startswith("*."):
        # RFC 8461: a wildcard matches exactly one leftmost label.
        return host.count(".") == pattern.count(".") and host.split(".", 1)[1] == pattern[2:]
    return pattern == host


def fetch_policy(source: str, domain: str, timeout: float) -> str:
    url = source or f"https://mta-sts.{domain}/.well-known/mta-sts.txt"
    if url.startswith("file://"):
        url = url[len("file://"):]
    if not url.startswith(("http://", "https://")):
        return Path(url).read_text(encoding="utf-8")
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return str(response.read(65536).decode("utf-8", "replace"))


async def mta_sts_check(domain: str, config: DnsConfig, record: Answer, mx: Target | None,
                        observed: dict[str, Any]) -> Check:
    title = _("MTA-STS policy covers the new MX and its id changed")
    record_id = parse_tags(record.values[0]).get("id", "") if record.values else ""
    try:
        text = await asyncio.to_thread(fetch_policy, config.mta_sts_policy, domain, max(config.timeout, 5.0))
    except (OSError, ValueError) as exc:
        return Check("mta-sts", WARN, title, _("could not fetch the policy ({error}); set dns.mta_sts_policy to its "
                                               "URL or a file").format(error=exc))
    patterns = [line.split(":", 1)[1].strip() for line in text.splitlines() if line.lower().startswith("mx:")]
    mode = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.lower().startswith("mode:")), "")
    missing = [h for h in (mx.new_hosts if mx else ()) if not any(mx_matches(p, h) for p in patterns)]
    if missing and mode != "none":
        observed["mta_sts_id"] = record_id  # remember the id of the old policy, to insist it changes
        return Check("mta-sts", FAIL, title, _("the policy (mode {mode}) does not list {hosts}: senders enforcing it "
                                               "will refuse to deliver to the new MX").format(mode=mode, hosts=", ".join(missing)))
    before = str(config.observed.get("mta_sts_id", ""))
    if before and before == record_id:
        return Check("mta-sts", FAIL, title, _("the policy changed but the TXT id is still {id}: senders keep the "
                                               "cached old policy; publish a new id").format(id=record_id))
    return Check("mta-sts", PASS, title, _("mx lines cover the new MX; id {id}").format(id=record_id))


def mx_ttl_check(project: Project, config: DnsConfig, current: Answer, mx: Target, now: datetime) -> Check:
    title = _("MX TTL lowered at least one old TTL before the cutover")
    if classify(mx, current) == NEW:
        return Check("mx-ttl", PASS, title, _("the new MX is already published"))
    old_ttl = project.plan.old_mx_ttl
    lowered = project.plan.dates.get("ttl_lowered")
    cutover = project.plan.dates.get("mx_cutover")
    served = current.ttl
    if not old_ttl:
        return Check("mx-ttl", WARN, title, _("set plan.old_mx_ttl (the MX TTL before it was lowered) to compute "
                                              "the earliest safe cutover"))
    if served is not None and served > config.mx_ttl and (lowered is None or lowered <= now):
        earliest = now + timedelta(seconds=served)
        return Check("mx-ttl", FAIL, title, _("the MX TTL is still {ttl} s: lower it to {low} s now; the earliest safe "
                                              "cutover is then {time}").format(ttl=served, low=config.mx_ttl, time=_hhmm(earliest)))
    if lowered is None:
        earliest = now + timedelta(seconds=old_ttl)
        return Check("mx-ttl", WARN, title, _("record when the TTL was lowered (plan.ttl_lowered); if it was just now, "
                                              "the earliest safe cutover is {time}").format(time=_hhmm(earliest)))
    earliest = lowered + timedelta(seconds=old_ttl)
    if cutover is None:
        return Check("mx-ttl", WARN, title, _("no cutover time planned; the earliest safe one is {time}").format(time=_hhmm(earliest)))
    if cutover < earliest:
        return Check("mx-ttl", FAIL, title, _("the planned cutover {cutover} is too early: resolvers may hold the old MX "
                                              "until {time}").format(cutover=_hhmm(cutover), time=_hhmm(earliest)))
    return Check("mx-ttl", PASS, title, _("earliest safe cutover {time}; planned {cutover}").format(
        time=_hhmm(earliest), cutover=_hhmm(cutover)))


def _hhmm(when: datetime) -> str:
    return when.astimezone().strftime("%Y-%m-%d %H:%M")
