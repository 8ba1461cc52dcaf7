"""SPF evaluation (RFC 7208 check_host) of one IP against a domain's published record.

core/dns/spf.py parses records and counts the lookup budget for the DNS audit; this evaluates the
result a receiver would reach for a given sending IP: pass, fail, softfail, neutral, none, permerror or
temperror. Macros are not expanded (a record using them gets permerror here and says so).
"""

from __future__ import annotations

import ipaddress

from mailmig_tui.core.dns.query import NODATA, NXDOMAIN
from mailmig_tui.core.dns.spf import MAX_LOOKUPS, Lookup, parse_terms
from mailmig_tui.core.i18n import _

QUALIFIERS = {"": "pass", "+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}


class _Error(Exception):
    def __init__(self, result: str, reason: str) -> None:
        super().__init__(reason)
        self.result = result
        self.reason = reason


def _in(ip: str, network: str) -> bool:
    try:
        return ipaddress.ip_address(ip) in ipaddress.ip_network(network, strict=False)
    except ValueError:
        return False


async def check_host(ip: str, domain: str, lookup: Lookup) -> tuple[str, str]:
    """(result, explanation), e.g. ("pass", "127.0.0.1 matches ip4:127.0.0.1 in spf.newmail.test")."""
    budget = [0]
    try:
        return await _check(ip, domain.lower().rstrip("."), lookup, budget, depth=0)
    except _Error as exc:
        return exc.result, exc.reason


async def _record(domain: str, lookup: Lookup) -> str | None:
    answer = await lookup(domain, "TXT")
    if answer.failed:
        raise _Error("temperror", _("could not read the TXT records of {domain} ({status})").format(
            domain=domain, status=answer.status))
    records = [v for v in answer.values if v.lower().startswith("v=spf1") and (len(v) == 6 or v[6] == " ")]
    if len(records) > 1:
        raise _Error("permerror", _("{domain} has {n} SPF records").format(domain=domain, n=len(records)))
    return records[0] if records else None


async def _addresses(host: str, lookup: Lookup) -> list[str]:
    out: list[str] = []
    for rdtype in ("A", "AAAA"):
        answer = await lookup(host, rdtype)
        if answer.failed:
            raise _Error("temperror", _("could not resolve {host} ({status})").format(host=host, status=answer.status))
        out += list(answer.values) if answer.status not in (NXDOMAIN, NODATA) else []
    return out


async def _check(ip: str, domain: str, lookup: Lookup, budget: list[int], depth: int) -> tuple[str, str]:
    if depth > MAX_LOOKUPS:
        raise _Error("permerror", _("SPF include chain too deep at {domain}").format(domain=domain))
    record = await _record(domain, lookup)
    if record is None:
        return "none", _("{domain} publishes no SPF record").format(domain=domain)
    terms, errors = parse_terms(record)
    if errors:
        raise _Error("permerror", f"{domain}: {errors[0]}")
    redirect = ""
    for qualifier, name, arg in terms:
        if name == "redirect=":
            redirect = arg
            continue
        if name.endswith("="):
            continue
        if "%" in arg:
            raise _Error("permerror", _("{domain} uses SPF macros, which mailmig does not expand").format(domain=domain))
        result = QUALIFIERS[qualifier]
        target = (arg or domain).lower().rstrip(".")
        if name in ("include", "a", "mx", "exists", "ptr"):
            budget[0] += 1
            if budget[0] > MAX_LOOKUPS:
                raise _Error("permerror", _("more than {n} DNS lookups (receivers give permerror)").format(n=MAX_LOOKUPS))
        matched = False
        if name == "all":
            matched = True
        elif name in ("ip4", "ip6"):
            matched = _in(ip, arg)
        elif name == "a":
            matched = ip in await _addresses(target, lookup)
        elif name == "mx":
            answer = await lookup(target, "MX")
            if answer.failed:
                raise _Error("temperror", _("could not read the MX of {domain}").format(domain=target))
            for value in answer.values if answer.status == "ok" else ():
                host = value.split()[-1]
                if ip in await _addresses(host, lookup):
                    matched = True
                    break
        elif name == "exists":
            matched = bool(await _addresses(target, lookup))
        elif name == "include":
            inner, why = await _check(ip, target, lookup, budget, depth + 1)
            if inner in ("temperror", "permerror"):
                raise _Error(inner, why)
            if inner == "none":
                raise _Error("permerror", _("include:{target} has no SPF record").format(target=target))
            matched = inner == "pass"
        if matched:
            term = f"{qualifier}{name}:{arg}" if arg else f"{qualifier}{name}"
            return result, _("{ip} matches {term} in {domain}").format(ip=ip, term=term, domain=domain)
    if redirect:
        budget[0] += 1
        return await _check(ip, redirect.lower().rstrip("."), lookup, budget, depth + 1)
    return "neutral", _("no term of {domain}'s SPF record matches {ip}").format(domain=domain, ip=ip)
