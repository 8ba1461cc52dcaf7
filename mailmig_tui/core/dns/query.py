"""One question to one server, with every outcome told apart.

dnspython's Resolver folds SERVFAIL and REFUSED into one exception and retries elsewhere; the watcher
needs to show exactly what each server said, so it asks each server itself (UDP, TCP when truncated,
DoH when configured) and turns the response into a plain `Answer`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

from mailmig_tui.core.dns.config import Server

# Outcomes. "nxdomain" and "nodata" are answers (negative ones), the last four are failures.
OK, NXDOMAIN, NODATA, SERVFAIL, REFUSED, TIMEOUT, ERROR = "ok", "nxdomain", "nodata", "servfail", "refused", "timeout", "error"
FAILURES = (SERVFAIL, REFUSED, TIMEOUT, ERROR)


@dataclass(frozen=True)
class Answer:
    server: str
    qname: str
    rdtype: str
    status: str
    values: tuple[str, ...] = ()
    ttl: int | None = None
    negative_ttl: int | None = None  # for NXDOMAIN/NODATA: how long the resolver may cache "no"
    aa: bool = False
    ra: bool = False
    tcp: bool = False
    serial: int | None = None  # the SOA serial when one came with the answer
    rcode: str = ""
    detail: str = ""
    elapsed: float = 0.0
    at: datetime | None = None  # when the answer arrived (set by the watcher from its clock)

    @property
    def failed(self) -> bool:
        return self.status in FAILURES

    @property
    def negative(self) -> bool:
        return self.status in (NXDOMAIN, NODATA)


def record_order(value: str) -> tuple[tuple[int, ...], str]:
    """Sort key for presentation forms: leading numbers (MX preference, SRV priority/weight/port) as
    numbers, so `5 mx1` comes before `10 mx2` and `15 mx3` (as text, "10" < "15" < "5")."""
    numbers: list[int] = []
    parts = value.split()
    while parts and parts[0].isdigit():
        numbers.append(int(parts.pop(0)))
    return tuple(numbers), " ".join(parts)


def sort_records(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(values, key=record_order))


def rdata_text(rdtype: int, rdata: object) -> str:
    """A comparable presentation form: TXT strings joined, names lower-case without the final dot."""
    if rdtype == dns.rdatatype.TXT:
        return b"".join(rdata.strings).decode("utf-8", "replace")  # type: ignore[attr-defined]
    if rdtype == dns.rdatatype.MX:
        return f"{rdata.preference} {rdata.exchange.to_text(omit_final_dot=True).lower()}"  # type: ignore[attr-defined]
    if rdtype in (dns.rdatatype.CNAME, dns.rdatatype.NS):
        return rdata.target.to_text(omit_final_dot=True).lower()  # type: ignore[attr-defined]
    if rdtype == dns.rdatatype.SRV:
        r = rdata
        return f"{r.priority} {r.weight} {r.port} {r.target.to_text(omit_final_dot=True).lower()}"  # type: ignore[attr-defined]
    return str(rdata.to_text()).lower()  # type: ignore[attr-defined]


def _negative_ttl(response: dns.message.Message) -> tuple[int | None, int | None]:
    """(negative-cache TTL, serial) from the SOA in the authority section (RFC 2308: min of both)."""
    for rrset in response.authority:
        if rrset.rdtype == dns.rdatatype.SOA:
            soa = rrset[0]
            return min(rrset.ttl, soa.minimum), int(soa.serial)
    return None, None


def interpret(server: str, qname: str, rdtype: str, response: dns.message.Message, *, tcp: bool,
              elapsed: float) -> Answer:
    aa = bool(response.flags & dns.flags.AA)
    ra = bool(response.flags & dns.flags.RA)
    rcode = response.rcode()
    common = {"server": server, "qname": qname, "rdtype": rdtype, "aa": aa, "ra": ra, "tcp": tcp,
              "rcode": dns.rcode.to_text(rcode), "elapsed": elapsed}
    if rcode == dns.rcode.SERVFAIL:
        return Answer(status=SERVFAIL, **common)  # type: ignore[arg-type]
    if rcode == dns.rcode.REFUSED:
        return Answer(status=REFUSED, **common)  # type: ignore[arg-type]
    if rcode == dns.rcode.NXDOMAIN:
        neg, serial = _negative_ttl(response)
        return Answer(status=NXDOMAIN, negative_ttl=neg, serial=serial, **common)  # type: ignore[arg-type]
    if rcode != dns.rcode.NOERROR:
        return Answer(status=ERROR, detail=dns.rcode.to_text(rcode), **common)  # type: ignore[arg-type]
    wanted = dns.rdatatype.from_text(rdtype)
    name = dns.name.from_text(qname)
    # Follow a CNAME chain inside the answer (autodiscover often is one).
    for _hop in range(8):
        found: dns.rrset.RRset | None = None
        cname: dns.rrset.RRset | None = None
        for rrset in response.answer:
            if rrset.name == name and rrset.rdtype == wanted:
                found = rrset
            elif rrset.name == name and rrset.rdtype == dns.rdatatype.CNAME:
                cname = rrset
        if found is not None:
            values = sort_records(rdata_text(wanted, r) for r in found)
            serial = int(found[0].serial) if wanted == dns.rdatatype.SOA else None
            return Answer(status=OK, values=values, ttl=found.ttl, serial=serial, **common)  # type: ignore[arg-type]
        if cname is None:
            break
        name = cname[0].target
    neg, serial = _negative_ttl(response)
    return Answer(status=NODATA, negative_ttl=neg, serial=serial, **common)  # type: ignore[arg-type]


async def ask(server: Server, qname: str, rdtype: str, *, timeout: float, recursion: bool = True) -> Answer:
    """Ask `server` once. Never raises for DNS or network trouble: the Answer says what happened."""
    query = dns.message.make_query(qname, rdtype)
    if not recursion:
        query.flags &= ~dns.flags.RD
    started = time.monotonic()
    tcp = False
    try:
        if server.transport == "https":
            response = await dns.asyncquery.https(query, server.url, timeout=timeout)
        else:
            response = await dns.asyncquery.udp(query, server.address, timeout=timeout, port=server.port,
                                                ignore_unexpected=True)
            if response.flags & dns.flags.TC:
                tcp = True
                left = max(0.05, timeout - (time.monotonic() - started))
                response = await dns.asyncquery.tcp(query, server.address, timeout=left, port=server.port)
    except dns.exception.Timeout:
        return Answer(server.name, qname, rdtype, TIMEOUT, tcp=tcp, elapsed=time.monotonic() - started)
    except (OSError, EOFError, dns.exception.DNSException, ValueError, ImportError) as exc:
        # ImportError: DoH needs the optional httpx package.
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
        return Answer(server.name, qname, rdtype, ERROR, tcp=tcp, detail=detail, elapsed=time.monotonic() - started)
    return interpret(server.name, qname, rdtype, response, tcp=tcp, elapsed=time.monotonic() - started)
