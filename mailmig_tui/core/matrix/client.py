"""The client-settings check: what a mail client would discover for the domain, and whether it points at
the new provider.

Looks at the names clients ask (RFC 6186 SRV records `_imaps._tcp`, `_imap._tcp`, `_submission._tcp`,
`_submissions._tcp`, Outlook's `_autodiscover._tcp`, and the `autoconfig.` / `autodiscover.` host names)
through the project's resolvers, fetches Thunderbird's autoconfig file from `autoconfig.<domain>`
(HTTPS, else HTTP, as Thunderbird tries them) and reads the IMAP and SMTP host names in it, and compares
every target with the new and the old provider's hosts. Outlook's autodiscover XML (which needs the
user's password) is not fetched: only where its name points.
"""

from __future__ import annotations

import socket
import ssl
import xml.etree.ElementTree as ET

from mailmig_tui.core.i18n import _
from mailmig_tui.core.matrix.checks import FAILED, PASSED, WARNING
from mailmig_tui.core.matrix.lookup import Lookup
from mailmig_tui.core.model import Project

SRV_NAMES = ("_imaps._tcp", "_imap._tcp", "_submission._tcp", "_submissions._tcp", "_autodiscover._tcp")
HOST_NAMES = ("autoconfig", "autodiscover")


def provider_hosts(project: Project, side: str, configured: list[str]) -> set[str]:
    if configured:
        return {h.lower().rstrip(".") for h in configured}
    provider = project.new if side == "new" else project.old
    hosts = {provider.imap.host, provider.smtp.host, *(m.host for m in provider.mx)}
    extra = provider.extra.get("autodiscover")
    if isinstance(extra, str):
        hosts.add(extra)
    return {h.lower().rstrip(".") for h in hosts if h and h != "localhost"}


def _parent(host: str) -> str:
    return ".".join(host.split(".")[-2:])


def _side(host: str, new: set[str], old: set[str]) -> str:
    host = host.lower().rstrip(".")
    if host in new:
        return "new"
    if host in old:
        return "old"
    if _parent(host) in {_parent(h) for h in new}:
        return "new"
    if _parent(host) in {_parent(h) for h in old}:
        return "old"
    return ""


AUTOCONFIG_PATH = "/mail/config-v1.1.xml"
MAX_BODY = 256 * 1024


def _http_get(address: str, host: str, https: bool, timeout: float) -> tuple[int, bytes]:
    """GET the autoconfig path from `address`, naming `host` (SNI and Host:); (status, body)."""
    sock: socket.socket = socket.create_connection((address, 443 if https else 80), timeout=timeout)
    try:
        if https:
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
        sock.sendall(f"GET {AUTOCONFIG_PATH} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: mailmig\r\n"
                     f"Connection: close\r\n\r\n".encode("ascii"))
        data = b""
        while len(data) < MAX_BODY:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        sock.close()
    head, _sep, body = data.partition(b"\r\n\r\n")
    parts = head.split(b" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    return status, body


def fetch_autoconfig(domain: str, lookup: Lookup, timeout: float = 5.0) -> tuple[list[str] | None, str]:
    """The IMAP/SMTP host names in `autoconfig.<domain>`'s config file, or (None, why not)."""
    host = f"autoconfig.{domain}"
    addresses = lookup.addresses(host)
    if not addresses:
        return None, _("{host} does not resolve").format(host=host)
    problems: list[str] = []
    for https in (True, False):
        for address in addresses:
            try:
                status, body = _http_get(address, host, https, timeout)
            except (OSError, ssl.SSLError) as exc:
                problems.append(f"{'https' if https else 'http'}://{host}: {getattr(exc, 'strerror', None) or exc}")
                continue
            if status != 200:
                problems.append(f"{'https' if https else 'http'}://{host}{AUTOCONFIG_PATH}: HTTP {status}")
                continue
            try:
                root = ET.fromstring(body)
            except ET.ParseError as exc:
                return None, _("{host} serves a config file that is not valid XML ({error})").format(host=host, error=exc)
            names = [e.text.strip().lower().rstrip(".") for tag in ("incomingServer", "outgoingServer")
                     for server in root.iter(tag) for e in server.iter("hostname") if e.text and e.text.strip()]
            return names, ""
    return None, "; ".join(problems[-2:])


def check_client_settings(project: Project, lookup: Lookup, new_hosts: list[str], old_hosts: list[str]) -> tuple[str, str]:
    new, old = provider_hosts(project, "new", new_hosts), provider_hosts(project, "old", old_hosts)
    domain = project.domain
    found: list[tuple[str, str, str]] = []  # (name asked, target, side)
    unreadable = ""
    for name in SRV_NAMES:
        answer = lookup.ask(f"{name}.{domain}", "SRV")
        if answer.failed:
            return WARNING, _("could not ask {name} ({status}); client settings unknown").format(
                name=f"{name}.{domain}", status=answer.status)
        for value in answer.values if answer.status == "ok" else ():
            target = value.split()[-1]
            if target not in (".", ""):
                found.append((f"{name}.{domain}", target, _side(target, new, old)))
    for name in HOST_NAMES:
        qname = f"{name}.{domain}"
        answer = lookup.ask(qname, "CNAME")
        if answer.status == "ok" and answer.values:
            found += [(qname, v, _side(v, new, old)) for v in answer.values]
            continue
        addresses = lookup.addresses(qname)
        if addresses:
            new_ips = {ip for h in new for ip in lookup.addresses(h)}
            old_ips = {ip for h in old for ip in lookup.addresses(h)}
            for ip in addresses:
                side = "new" if ip in new_ips else "old" if ip in old_ips else ""
                found.append((qname, ip, side))
    if any(f[0] == f"autoconfig.{domain}" for f in found):
        names, why = fetch_autoconfig(domain, lookup)
        if names is None:
            found.append((f"autoconfig.{domain}{AUTOCONFIG_PATH}", "", "unreadable"))
            unreadable = why
        else:
            found += [(f"autoconfig.{domain}{AUTOCONFIG_PATH}", n, _side(n, new, old)) for n in names]
    if not found:
        return WARNING, _("{domain} publishes no autoconfig, autodiscover or SRV records: clients must be set up by "
                          "hand").format(domain=domain)
    at_old = [f for f in found if f[2] == "old"]
    if at_old:
        name, target = at_old[0][:2]
        more = _(" (and {n} more)").format(n=len(at_old) - 1) if len(at_old) > 1 else ""
        return FAILED, _("{name} → {target}, the old provider{more}").format(name=name, target=target, more=more)
    if any(f[2] == "unreadable" for f in found):
        return WARNING, _("autoconfig.{domain} resolves but its config file could not be read: {why}").format(
            domain=domain, why=unreadable)
    unknown = [f for f in found if not f[2]]
    if unknown:
        name, target = unknown[0][:2]
        return WARNING, _("{name} → {target}, not a known host of the new provider").format(name=name, target=target)
    return PASSED, _("{n} records point at the new provider ({names})").format(
        n=len(found), names=", ".join(sorted({f[0].split(".")[0] for f in found})))
