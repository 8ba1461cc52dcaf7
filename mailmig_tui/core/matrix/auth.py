"""The DKIM check: the probe's signature verified with dkimpy against the key published in DNS (through
the project's resolvers), and SPF evaluated for the new provider's sending IPs."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

import dkim

from mailmig_tui.core.i18n import _
from mailmig_tui.core.matrix.checks import FAILED, PASSED, WARNING
from mailmig_tui.core.matrix.lookup import Lookup
from mailmig_tui.core.matrix.spf import check_host


def _txt_function(lookup: Lookup) -> Callable[..., bytes]:
    def dnsfunc(name: bytes | str, timeout: int = 5) -> bytes:
        text = name.decode() if isinstance(name, bytes) else name
        answer = lookup.ask(text, "TXT")
        return answer.values[0].encode() if answer.status == "ok" and answer.values else b""

    return dnsfunc


def _tag(raw: bytes, tag: str) -> str:
    match = re.search(rb"DKIM-Signature:(.*?)(?=\r?\n\S)", raw, re.S | re.I)
    if not match:
        return ""
    found = re.search(rb"(?:^|;)\s*" + tag.encode() + rb"=([^;]*)", match.group(1))
    return b"".join(found.group(1).split()).decode("ascii", "replace") if found else ""


def verify_dkim(raw: bytes, domain: str, lookup: Lookup) -> tuple[str, str]:
    """(status, reason) for the DKIM signature of `raw`."""
    if not re.search(rb"^DKIM-Signature:", raw, re.M | re.I):
        return FAILED, _("the probe arrived without a DKIM signature: the new provider does not sign mail for {domain}").format(
            domain=domain)
    d, s = _tag(raw, "d"), _tag(raw, "s")
    try:
        ok = dkim.verify(raw, dnsfunc=_txt_function(lookup))
    except Exception as exc:  # dkimpy raises several kinds for malformed keys and signatures
        return FAILED, _("the DKIM signature (d={d}, s={s}) could not be checked: {error}").format(d=d, s=s, error=exc)
    if not ok:
        return FAILED, _("the DKIM signature (d={d}, s={s}) does not verify against the key published at "
                         "{s}._domainkey.{d}").format(d=d, s=s)
    if d.lower() != domain.lower() and not domain.lower().endswith("." + d.lower()):
        return WARNING, _("DKIM verifies but is signed by {d}, not {domain} (DMARC needs an aligned signature)").format(
            d=d, domain=domain)
    return PASSED, _("DKIM d={d} s={s} verifies").format(d=d, s=s)


def check_spf(ips: list[str], domain: str, lookup: Lookup) -> tuple[str, str]:
    if not ips:
        return WARNING, _("no sending IP known for the SPF check (set [matrix] sending_ips)")
    results = [(ip, *asyncio.run(check_host(ip, domain, lookup.aask))) for ip in ips]
    bad = [(ip, r, why) for ip, r, why in results if r != "pass"]
    if not bad:
        return PASSED, _("SPF pass for {ips}").format(ips=", ".join(ips))
    ip, result, why = bad[0]
    status = WARNING if result in ("softfail", "neutral") else FAILED
    return status, _("SPF {result} for {ip}: {why}").format(result=result, ip=ip, why=why)


def dkim_cell(raw: bytes, domain: str, ips: list[str], lookup: Lookup) -> tuple[str, str]:
    """Both halves; the worse status wins and both reasons are told."""
    d_status, d_reason = verify_dkim(raw, domain, lookup)
    s_status, s_reason = check_spf(ips, domain, lookup)
    order = {PASSED: 0, WARNING: 1, FAILED: 2}
    status = max(d_status, s_status, key=lambda s: order[s])
    return status, f"{d_reason}; {s_reason}"
