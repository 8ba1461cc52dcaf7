"""SPF (RFC 7208) parsing and the DNS-lookup budget: at most 10 lookups and 2 void lookups.

Receivers stop evaluating and fail the record (permerror) past those limits, so an SPF record that
grows an extra include at cutover can silently break all outgoing mail. We really resolve every
include and redirect, recursively, and count as a receiver would.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from mailmig_tui.core.dns.query import NODATA, NXDOMAIN, Answer
from mailmig_tui.core.i18n import _

MAX_LOOKUPS = 10
MAX_VOID = 2
MECHANISMS = {"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"}
LOOKUP_TERMS = {"include", "a", "mx", "ptr", "exists", "redirect"}

Lookup = Callable[[str, str], Awaitable[Answer]]


@dataclass
class SpfReport:
    domain: str
    record: str = ""
    lookups: int = 0
    void_lookups: int = 0
    errors: list[str] = field(default_factory=list)
    includes: list[str] = field(default_factory=list)  # every domain reached through include/redirect

    @property
    def within_budget(self) -> bool:
        return self.lookups <= MAX_LOOKUPS and self.void_lookups <= MAX_VOID

    @property
    def ok(self) -> bool:
        return not self.errors and self.within_budget


def parse_terms(record: str) -> tuple[list[tuple[str, str, str]], list[str]]:
    """(qualifier, name, argument) for each term, and syntax errors."""
    parts = record.split()
    if not parts or parts[0].lower() != "v=spf1":
        return [], [_("the record does not start with v=spf1")]
    terms: list[tuple[str, str, str]] = []
    errors: list[str] = []
    for raw in parts[1:]:
        if "=" in raw and (":" not in raw or raw.index("=") < raw.index(":")):
            name, _sep, arg = raw.partition("=")
            if not name or not arg:
                errors.append(_("bad modifier {term!r}").format(term=raw))
            terms.append(("", name.lower() + "=", arg))
            continue
        qualifier = raw[0] if raw[0] in "+-~?" else ""
        body = raw[len(qualifier):]
        name, _sep, arg = body.partition(":")
        if "/" in name and not arg:  # a/24, mx/24
            name, _sep, _cidr = name.partition("/")
        name = name.lower()
        if name not in MECHANISMS:
            errors.append(_("unknown mechanism {term!r}").format(term=raw))
            continue
        if name in ("include", "exists", "ip4", "ip6") and not arg:
            errors.append(_("{term!r} needs an argument").format(term=raw))
            continue
        if name == "ip4" or name == "ip6":
            try:
                ipaddress.ip_network(arg, strict=False)
            except ValueError:
                errors.append(_("bad address in {term!r}").format(term=raw))
                continue
        terms.append((qualifier, name, arg.split("/")[0] if name in ("a", "mx") else arg))
    return terms, errors


async def check_spf(domain: str, lookup: Lookup, current: tuple[str, ...] | None = None) -> SpfReport:
    """Evaluate the lookup budget of `domain`'s SPF record (its TXT answer may be passed as `current`)."""
    report = SpfReport(domain)
    if current is None:
        answer = await lookup(domain, "TXT")
        if answer.failed:
            report.errors.append(_("could not read the TXT records of {domain} ({status})").format(
                domain=domain, status=answer.status))
            return report
        current = answer.values
    records = [v for v in current if v.lower().startswith("v=spf1")]
    if not records:
        report.errors.append(_("{domain} has no SPF record").format(domain=domain))
        return report
    if len(records) > 1:
        report.errors.append(_("{domain} has {n} SPF records; receivers treat that as an error").format(
            domain=domain, n=len(records)))
        return report
    report.record = records[0]
    await _walk(report, domain, records[0], lookup, seen={domain.lower()})
    return report


async def _walk(report: SpfReport, domain: str, record: str, lookup: Lookup, seen: set[str]) -> None:
    terms, errors = parse_terms(record)
    report.errors += [f"{domain}: {e}" for e in errors]
    for _qualifier, name, arg in terms:
        bare = name.rstrip("=")
        if bare not in LOOKUP_TERMS:
            continue
        report.lookups += 1
        if report.lookups > MAX_LOOKUPS + 1:
            return  # already failed; do not keep querying a runaway chain
        target = (arg or domain).lower().rstrip(".")
        if "%" in target:
            continue  # macros are expanded per message; the lookup is counted, not made
        if bare in ("include", "redirect"):
            if target in seen:
                report.errors.append(_("{domain}: include loop through {target}").format(domain=domain, target=target))
                continue
            seen.add(target)
            report.includes.append(target)
            answer = await lookup(target, "TXT")
            if answer.failed:
                report.errors.append(_("{target}: lookup failed ({status})").format(target=target, status=answer.status))
                continue
            child = [v for v in answer.values if v.lower().startswith("v=spf1")]
            if answer.status in (NXDOMAIN, NODATA) or not child:
                report.void_lookups += answer.status in (NXDOMAIN, NODATA)
                report.errors.append(_("{target}: no SPF record (an include of nothing is a permerror)").format(target=target))
                continue
            await _walk(report, target, child[0], lookup, seen)
        elif bare == "a":
            answers = [await lookup(target, "A"), await lookup(target, "AAAA")]
            if all(a.status in (NXDOMAIN, NODATA) for a in answers):
                report.void_lookups += 1
        elif bare in ("mx", "exists", "ptr"):
            answer = await lookup(target, "MX" if bare == "mx" else "A")
            if bare != "ptr" and answer.status in (NXDOMAIN, NODATA):
                report.void_lookups += 1
