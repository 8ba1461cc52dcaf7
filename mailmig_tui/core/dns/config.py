"""The `[dns]` section of the project file: resolvers to watch, authoritative overrides, timings.

The section is kept as plain TOML in `project.sections["dns"]` (the model does not know it); this
module parses and validates it, with errors that name the key (`dns.resolvers[2].address`).

    [dns]
    interval = 30          # seconds between watcher sweeps
    timeout = 1.0          # seconds per query; a dead resolver costs at most this per sweep
    record_ttl = 3600      # TTL suggested for records to set
    mx_ttl = 300           # TTL suggested for the new MX during the cutover
    authoritative = ["192.0.2.53", "[2001:db8::53]:53"]   # optional: skip NS discovery
    mta_sts_policy = "https://mta-sts.corp.example/.well-known/mta-sts.txt"  # or a file path
    dmarc = "v=DMARC1; p=none; rua=mailto:dmarc@corp.example"                 # optional target
    tlsrpt = "v=TLSRPTv1; rua=mailto:tlsrpt@corp.example"                     # optional target
    dkim = { default = "v=DKIM1; k=rsa; p=MIIBIjAN…" }    # keys from the new provider's console
    [[dns.resolvers]]      # omit the list to use DEFAULT_RESOLVERS
    name = "AliDNS"
    address = "223.5.5.5"
    port = 53
    region = "CN"
    transport = "udp"      # or "https" (DoH) with url = "https://dns.alidns.com/dns-query"
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from mailmig_tui.core.i18n import _
from mailmig_tui.core.model import SchemaError

TRANSPORTS = ("udp", "https")


@dataclass(frozen=True)
class Server:
    """A DNS server to ask: a resolver (recursion wanted) or an authoritative server."""

    name: str
    address: str
    port: int = 53
    transport: str = "udp"
    url: str = ""
    region: str = ""

    @property
    def label(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}" if self.port != 53 else host


# Public resolvers spread over regions, mainland China included. Data only: the tests never ask them.
DEFAULT_RESOLVERS: tuple[Server, ...] = (
    Server("AliDNS", "223.5.5.5", region="CN", url="https://dns.alidns.com/dns-query"),
    Server("AliDNS-2", "223.6.6.6", region="CN"),
    Server("DNSPod", "119.29.29.29", region="CN", url="https://doh.pub/dns-query"),
    Server("114DNS", "114.114.114.114", region="CN"),
    Server("Baidu", "180.76.76.76", region="CN"),
    Server("TWNIC", "101.101.101.101", region="TW"),
    Server("Google", "8.8.8.8", region="Global", url="https://dns.google/dns-query"),
    Server("Google-v6", "2001:4860:4860::8888", region="Global"),
    Server("Cloudflare", "1.1.1.1", region="Global", url="https://cloudflare-dns.com/dns-query"),
    Server("Cloudflare-v6", "2606:4700:4700::1111", region="Global"),
    Server("Quad9", "9.9.9.9", region="EU/Global", url="https://dns.quad9.net/dns-query"),
    Server("OpenDNS", "208.67.222.222", region="US"),
    Server("Level3", "4.2.2.2", region="US"),
    Server("CIRA", "149.112.121.10", region="CA"),
    Server("AdGuard", "94.140.14.14", region="EU"),
    Server("DNS.SB", "185.222.222.222", region="EU"),
    Server("Yandex", "77.88.8.8", region="RU"),
)


@dataclass
class DnsConfig:
    interval: float = 30.0
    timeout: float = 1.0
    record_ttl: int = 3600
    mx_ttl: int = 300
    resolvers: list[Server] = field(default_factory=lambda: list(DEFAULT_RESOLVERS))
    authoritative: list[Server] = field(default_factory=list)
    mta_sts_policy: str = ""
    dmarc: str = ""
    tlsrpt: str = ""
    dkim: dict[str, str] = field(default_factory=dict)
    observed: dict[str, Any] = field(default_factory=dict)


def parse_address(text: str, path: tuple[str | int, ...] = ()) -> tuple[str, int]:
    """`IP`, `IP:PORT`, `[IPv6]:PORT` or a bare IPv6 address → (ip, port)."""
    text = text.strip()
    port = 53
    host = text
    if text.startswith("["):
        host, _sep, rest = text[1:].partition("]")
        if rest.startswith(":"):
            port = _port(rest[1:], text, path)
    elif text.count(":") == 1:
        host, _sep, port_text = text.partition(":")
        port = _port(port_text, text, path)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise SchemaError(path, _("expected an IP address (optionally :PORT), found {value!r}").format(value=text)) from None
    return host, port


def _port(text: str, whole: str, path: tuple[str | int, ...]) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise SchemaError(path, _("bad port in {value!r}").format(value=whole))
    return int(text)


def parse_resolver_arg(text: str) -> Server:
    """`NAME=IP[:PORT]` from the command line."""
    name, sep, address = text.partition("=")
    if not sep or not name.strip():
        raise SchemaError(("--resolver",), _("expected NAME=IP[:PORT], found {value!r}").format(value=text))
    ip, port = parse_address(address, ("--resolver",))
    return Server(name.strip(), ip, port)


def _get(data: dict[str, Any], key: str, kinds: tuple[type, ...], path: tuple[str | int, ...], default: Any) -> Any:
    if key not in data:
        return default
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise SchemaError((*path, key), _("expected {kind}, found {value!r}").format(
            kind=_("a number") if float in kinds else _("a string") if str in kinds else _("a list"), value=value))
    return value


def parse_dns_section(data: Any) -> DnsConfig:
    """Validate the `[dns]` table (or None when absent) into a DnsConfig."""
    path: tuple[str | int, ...] = ("dns",)
    if data is None:
        return DnsConfig()
    if not isinstance(data, dict):
        raise SchemaError(path, _("expected a table [dns], found {value!r}").format(value=data))
    config = DnsConfig()
    config.interval = float(_get(data, "interval", (int, float), path, config.interval))
    if not 1 <= config.interval <= 3600:
        raise SchemaError((*path, "interval"), _("must be between 1 and 3600 seconds"))
    config.timeout = float(_get(data, "timeout", (int, float), path, config.timeout))
    if not 0.05 <= config.timeout <= 30:
        raise SchemaError((*path, "timeout"), _("must be between 0.05 and 30 seconds"))
    for key in ("record_ttl", "mx_ttl"):
        value = _get(data, key, (int,), path, getattr(config, key))
        if not 1 <= value <= 604800:
            raise SchemaError((*path, key), _("a TTL must be between 1 and 604800 seconds"))
        setattr(config, key, value)
    for key in ("mta_sts_policy", "dmarc", "tlsrpt"):
        setattr(config, key, _get(data, key, (str,), path, ""))
    if "resolvers" in data:
        items = _get(data, "resolvers", (list,), path, [])
        if not items:
            raise SchemaError((*path, "resolvers"), _("the resolver list is empty; remove the key to use the defaults"))
        config.resolvers = [_parse_resolver(item, (*path, "resolvers", i)) for i, item in enumerate(items)]
        names = [r.name for r in config.resolvers]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise SchemaError((*path, "resolvers", i, "name"), _("resolver name {name!r} is used twice").format(name=name))
    for i, item in enumerate(_get(data, "authoritative", (list,), path, [])):
        if not isinstance(item, str):
            raise SchemaError((*path, "authoritative", i), _("expected \"IP[:PORT]\", found {value!r}").format(value=item))
        ip, port = parse_address(item, (*path, "authoritative", i))
        config.authoritative.append(Server(item, ip, port))
    dkim = data.get("dkim", {})
    if not isinstance(dkim, dict) or not all(isinstance(v, str) for v in dkim.values()):
        raise SchemaError((*path, "dkim"), _("expected a table of selector = \"v=DKIM1; …\""))
    config.dkim = dict(dkim)
    observed = data.get("observed", {})
    config.observed = dict(observed) if isinstance(observed, dict) else {}
    return config


def _parse_resolver(item: Any, path: tuple[str | int, ...]) -> Server:
    if not isinstance(item, dict):
        raise SchemaError(path, _("expected a table with name and address, found {value!r}").format(value=item))
    unknown = sorted(set(item) - {"name", "address", "port", "region", "transport", "url"})
    if unknown:
        raise SchemaError((*path, unknown[0]), _("unknown key {key!r}").format(key=unknown[0]))
    name = _get(item, "name", (str,), path, "")
    if not name:
        raise SchemaError((*path, "name"), _("every resolver needs a name"))
    transport = _get(item, "transport", (str,), path, "udp")
    if transport not in TRANSPORTS:
        raise SchemaError((*path, "transport"), _("must be one of {choices}, found {value!r}").format(
            choices=", ".join(TRANSPORTS), value=transport))
    url = _get(item, "url", (str,), path, "")
    if transport == "https" and not url.startswith("https://"):
        raise SchemaError((*path, "url"), _("a DoH resolver needs an https:// url"))
    address = _get(item, "address", (str,), path, "")
    if not address:
        raise SchemaError((*path, "address"), _("every resolver needs an address"))
    ip, port = parse_address(address, (*path, "address"))
    port = _get(item, "port", (int,), path, port)
    if not 0 < port < 65536:
        raise SchemaError((*path, "port"), _("port must be 1-65535, found {value}").format(value=port))
    return Server(name, ip, port, transport, url, _get(item, "region", (str,), path, ""))


def resolvers_to_toml(servers: list[Server]) -> list[dict[str, Any]]:
    """The list as it is written back to `[[dns.resolvers]]` (for the TUI's resolver editor)."""
    out = []
    for s in servers:
        entry: dict[str, Any] = {"name": s.name, "address": s.address}
        if s.port != 53:
            entry["port"] = s.port
        if s.region:
            entry["region"] = s.region
        if s.transport != "udp":
            entry["transport"] = s.transport
        if s.url:
            entry["url"] = s.url
        out.append(entry)
    return out


def resolvers_to_lines(servers: list[Server]) -> str:
    """The resolver list as the TUI's editor shows it: `NAME ADDRESS[:PORT] REGION [DoH URL [udp|https]]`."""
    lines = []
    for s in servers:
        address = s.address if s.port == 53 else (f"[{s.address}]:{s.port}" if ":" in s.address else f"{s.address}:{s.port}")
        # a URL alone means "ask over DoH"; a URL kept for later but not used is marked `udp`
        lines.append(" ".join(part for part in (s.name, address, s.region or "-", s.url,
                                                  "udp" if s.url and s.transport == "udp" else "") if part))
    return "\n".join(lines) + "\n"


def parse_resolver_lines(text: str) -> list[Server]:
    """Parse the editor's text back; a ValueError names the line. Empty lines and # comments are skipped."""
    servers: list[Server] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) < 2:
            raise ValueError(_("line {n}: expected NAME ADDRESS[:PORT] [REGION] [DoH URL], found {value!r}").format(
                n=number, value=raw))
        try:
            ip, port = parse_address(parts[1], ("line", number))
        except SchemaError as exc:
            raise ValueError(_("line {n}: {problem}").format(n=number, problem=exc.message)) from None
        region = parts[2] if len(parts) > 2 and parts[2] != "-" else ""
        url = parts[3] if len(parts) > 3 else ""
        if url and not url.startswith("https://"):
            raise ValueError(_("line {n}: a DoH URL starts with https://, found {value!r}").format(n=number, value=url))
        transport = parts[4] if len(parts) > 4 else ("https" if url else "udp")
        if transport not in ("udp", "https"):
            raise ValueError(_("line {n}: the transport is udp or https, found {value!r}").format(n=number, value=transport))
        servers.append(Server(parts[0], ip, port, transport, url, region))
    if not servers:
        raise ValueError(_("the list is empty: name at least one resolver"))
    return servers
