"""Target records derived from the project, the current-vs-target diff and the zone-file snippet."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailmig_tui.core.dns.config import DnsConfig
from mailmig_tui.core.dns.query import Answer, sort_records
from mailmig_tui.core.i18n import _
from mailmig_tui.core.model import Project

# How a target is compared with what a server returns.
MATCH_EXACT, MATCH_MX, MATCH_SPF, MATCH_DKIM, MATCH_PRESENT = "exact", "mx", "spf", "dkim", "present"

# Watch/diff states.
NEW, OLD, MIXED, NEGATIVE, ERROR = "new", "old", "mixed", "negative", "error"

DKIM_PLACEHOLDER = "v=DKIM1; k=rsa; p=<public key from the new provider's admin console>"


@dataclass(frozen=True)
class Target:
    key: str  # stable id: "mx", "spf", "dkim:default", "dmarc", "srv:_imaps._tcp" …
    name: str  # owner name, no final dot
    rdtype: str
    values: tuple[str, ...]  # what to publish (presentation form)
    ttl: int
    purpose: str  # a plain explanation, translated
    match: str = MATCH_EXACT
    new_hosts: tuple[str, ...] = ()  # MX: hosts of the new provider
    old_hosts: tuple[str, ...] = ()  # MX: hosts of the old provider
    spf_include: str = ""
    placeholder: bool = False  # the value is not known here (e.g. a DKIM key): only presence is checked
    new_name: bool = False  # a name that did not exist before (negative answers are expected at first)


def _host(name: str) -> str:
    return name.lower().rstrip(".")


def spf_terms(value: str) -> list[str]:
    return value.split()[1:] if value.lower().startswith("v=spf1") else []


def target_spf(current: tuple[str, ...], new_include: str, old_include: str) -> str:
    """The SPF record to publish: the current one with the new include added (the old one kept)."""
    existing = [v for v in current if v.lower().startswith("v=spf1")]
    terms = spf_terms(existing[0]) if len(existing) == 1 else []
    if not terms:
        terms = ([f"include:{old_include}"] if old_include else []) + ["~all"]
    includes = [t.split(":", 1)[1].lower() for t in terms if t.lower().lstrip("+").startswith("include:")]
    if new_include and new_include.lower() not in includes:
        # Before the first `all`/redirect: anything after `all` is never evaluated.
        at = next((i for i, t in enumerate(terms) if t.lower().lstrip("+-~?") == "all" or t.lower().startswith("redirect=")), len(terms))
        terms.insert(at, f"include:{new_include}")
    return " ".join(["v=spf1", *terms])


def derive_targets(project: Project, config: DnsConfig, current_spf: tuple[str, ...] = ()) -> list[Target]:
    """Everything the domain should publish for the new provider, during the transition."""
    domain = project.domain.lower().rstrip(".")
    new, old = project.new, project.old
    targets: list[Target] = []
    new_hosts = tuple(_host(m.host) for m in new.mx)
    if new.mx:
        targets.append(Target(
            "mx", domain, "MX", sort_records(f"{m.preference} {_host(m.host)}" for m in new.mx), config.mx_ttl,
            _("mail for the domain is delivered to the new provider's servers"), MATCH_MX,
            new_hosts=new_hosts, old_hosts=tuple(_host(m.host) for m in old.mx)))
    if new.spf_include:
        targets.append(Target(
            "spf", domain, "TXT", (target_spf(current_spf, new.spf_include, old.spf_include),), config.record_ttl,
            _("SPF: the new provider may send for the domain; the old one stays allowed until go-live"),
            MATCH_SPF, spf_include=new.spf_include.lower()))
    for selector in new.dkim_selectors:
        key = config.dkim.get(selector, "")
        targets.append(Target(
            f"dkim:{selector}", f"{selector}._domainkey.{domain}", "TXT", (key or DKIM_PLACEHOLDER,),
            config.record_ttl, _("DKIM: the public key the new provider signs outgoing mail with"),
            MATCH_DKIM, placeholder=not key, new_name=True))
    targets.append(Target(
        "dmarc", f"_dmarc.{domain}", "TXT", (config.dmarc or f"v=DMARC1; p=none; rua=mailto:dmarc@{domain}",),
        config.record_ttl, _("DMARC: tells receivers what to do with mail failing SPF and DKIM"),
        MATCH_PRESENT if not config.dmarc else MATCH_EXACT))
    autodiscover = new.extra.get("autodiscover")
    if isinstance(autodiscover, str) and autodiscover:
        targets.append(Target(
            "autodiscover", f"autodiscover.{domain}", "CNAME", (_host(autodiscover),), config.record_ttl,
            _("Outlook and phones find the new server settings by themselves"), new_name=True))
    autoconfig = new.extra.get("autoconfig")
    if isinstance(autoconfig, str) and autoconfig:
        targets.append(Target(
            "autoconfig", f"autoconfig.{domain}", "CNAME", (_host(autoconfig),), config.record_ttl,
            _("Thunderbird finds the new server settings by itself"), new_name=True))
    targets += _srv_targets(project, config, domain)
    return targets


def _srv_targets(project: Project, config: DnsConfig, domain: str) -> list[Target]:
    """RFC 6186 / RFC 8314 service records, from the new provider's IMAP and SMTP endpoints."""
    out: list[Target] = []
    imap, smtp = project.new.imap, project.new.smtp
    purpose = _("mail clients find the new servers from the address alone (RFC 6186/8314)")
    if imap.host:
        service = "_imaps._tcp" if imap.tls == "ssl" else "_imap._tcp"
        out.append(Target(f"srv:{service}", f"{service}.{domain}", "SRV",
                          (f"0 1 {imap.port or (993 if imap.tls == 'ssl' else 143)} {_host(imap.host)}",),
                          config.record_ttl, purpose, new_name=True))
    if smtp.host:
        service = "_submissions._tcp" if smtp.tls == "ssl" else "_submission._tcp"
        out.append(Target(f"srv:{service}", f"{service}.{domain}", "SRV",
                          (f"0 1 {smtp.port or (465 if smtp.tls == 'ssl' else 587)} {_host(smtp.host)}",),
                          config.record_ttl, purpose, new_name=True))
    return out


def optional_targets(domain: str, config: DnsConfig, current: dict[str, Answer]) -> list[Target]:
    """MTA-STS and TLS-RPT: only where the domain already publishes them (or the project asks)."""
    out: list[Target] = []
    sts = current.get("mta-sts")
    if sts is not None and sts.values:
        out.append(Target("mta-sts", f"_mta-sts.{domain}", "TXT", sts.values, config.record_ttl,
                          _("MTA-STS: change its id whenever the policy's mx lines change"), MATCH_PRESENT))
    rpt = current.get("tls-rpt")
    if config.tlsrpt or (rpt is not None and rpt.values):
        values = (config.tlsrpt,) if config.tlsrpt else rpt.values if rpt else ()
        out.append(Target("tls-rpt", f"_smtp._tls.{domain}", "TXT", values, config.record_ttl,
                          _("TLS-RPT: where receivers report TLS delivery problems"),
                          MATCH_EXACT if config.tlsrpt else MATCH_PRESENT))
    return out


def classify(target: Target, answer: Answer) -> str:
    """new / old / mixed / negative / error for one server's answer about one target."""
    if answer.failed:
        return ERROR
    if answer.negative:
        return NEGATIVE
    values = answer.values
    if target.match == MATCH_MX:
        hosts = {v.split(" ", 1)[-1] for v in values}
        has_new = bool(hosts & set(target.new_hosts))
        has_other = bool(hosts - set(target.new_hosts))
        if has_new and has_other:
            return MIXED
        return NEW if has_new else OLD
    if target.match == MATCH_SPF:
        spf = [v for v in values if v.lower().startswith("v=spf1")]
        if len(spf) == 1 and f"include:{target.spf_include}" in [t.lower().lstrip("+") for t in spf_terms(spf[0])]:
            return NEW
        return OLD
    if target.match == MATCH_DKIM:
        if target.placeholder:
            return NEW if any(re.search(r"(^|;)\s*p=[A-Za-z0-9+/]", v) for v in values) else OLD
        return NEW if _squash(values) == _squash(target.values) else OLD
    if target.match == MATCH_PRESENT:
        return NEW if values else OLD
    return NEW if _squash(values) == _squash(target.values) else OLD


def _squash(values: tuple[str, ...]) -> list[str]:
    return sorted(re.sub(r"\s+", "", v).lower() for v in values)


@dataclass(frozen=True)
class DiffRow:
    target: Target
    current: Answer | None
    state: str  # NEW (matches), OLD (differs), NEGATIVE (missing), ERROR (could not ask)

    @property
    def needs_change(self) -> bool:
        return self.state != NEW


def diff(targets: list[Target], current: dict[str, Answer]) -> list[DiffRow]:
    return [DiffRow(t, current.get(t.key), classify(t, current[t.key]) if t.key in current else ERROR)
            for t in targets]


def zone_line(target: Target, value: str) -> str:
    name = f"{target.name}."
    if target.rdtype == "TXT":
        rendered = _txt(value)
    elif target.rdtype in ("CNAME",):
        rendered = f"{value}."
    elif target.rdtype == "MX":
        pref, host = value.split(" ", 1)
        rendered = f"{pref} {host}."
    elif target.rdtype == "SRV":
        *nums, host = value.split()
        rendered = " ".join([*nums, f"{host}."])
    else:
        rendered = value
    return f"{name} {target.ttl} IN {target.rdtype} {rendered}"


def _txt(value: str) -> str:
    """TXT data as quoted strings of at most 255 bytes each (long DKIM keys need several)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    chunks = [escaped[i:i + 250] for i in range(0, len(escaped), 250)] or [""]
    return " ".join(f'"{c}"' for c in chunks)


def zone_snippet(rows: list[DiffRow], domain: str) -> str:
    """The records to set at the DNS host, as zone-file lines (each replaces the whole RRset)."""
    lines = [_("; records to set for {domain} (each line replaces every record of that name and type)")
             .format(domain=domain)]
    for row in rows:
        if not row.needs_change:
            continue
        lines.append(f"; {row.target.purpose}")
        if row.target.placeholder:
            lines.append(_("; replace the placeholder with the key shown in the new provider's console"))
        lines += [zone_line(row.target, v) for v in row.target.values]
    return "\n".join(lines) + "\n"
