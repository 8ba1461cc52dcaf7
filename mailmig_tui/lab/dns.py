"""A DNS lab of real servers on loopback: two NSD authoritative servers and several Unbound resolvers.

Used by the tests, the benchmark and rehearsals. Everything binds 127.0.53.x:53 (every 127.x address is
local on Linux) and lives in one folder; processes are stopped by their pid files, never by name.

Roles (default addresses):
- 127.0.53.1 NSD primary, 127.0.53.2 NSD secondary: both serve the same zones from their own copy of
  the zone files, reloaded independently, so the secondary can be left on an old serial.
- 127.0.53.11.. plain Unbound resolvers (stub zones to both NSDs).
- a "sticky" Unbound that holds every answer for at least `sticky_min_ttl` seconds (cache-min-ttl).
- a "refused" Unbound whose access control refuses everyone.
- a "servfail" Unbound whose stub points at the refusing one (REFUSED upstream gives a fast SERVFAIL;
  a dead upstream would make Unbound retry for tens of seconds).
- a "timeout" address: a UDP socket held open by this process that never answers.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import dns.message
import dns.query
import dns.rdatatype

from mailmig_tui.lab.process import alive, terminate
from mailmig_tui.lab.tools import require_tool

if TYPE_CHECKING:
    from mailmig_tui.core.model import Project

# MAILMIG_DNS_LAB_PREFIX lets two labs run side by side on one machine (e.g. "127.0.54.").
PREFIX = os.environ.get("MAILMIG_DNS_LAB_PREFIX", "127.0.53.")
ZONES = ("corp.test", "newmail.test", "oldmail.test")
# The programs the lab runs, found on PATH or in /usr/sbin where Debian puts them (see lab/tools.py).
TOOLS = ("nsd", "nsd-control", "unbound", "unbound-control")


def _default_zone_records() -> dict[str, list[str]]:
    """Records of each zone (owner relative to the zone, as zone-file lines without the SOA/NS)."""
    return {
        "corp.test": [
            "@ 5 IN MX 10 mx1.oldmail.test.",
            '@ 5 IN TXT "v=spf1 include:spf.oldmail.test ~all"',
            '_dmarc 60 IN TXT "v=DMARC1; p=none; rua=mailto:dmarc@corp.test"',
            '_mta-sts 60 IN TXT "v=STSv1; id=20260101T000000"',
            '_smtp._tls 60 IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@corp.test"',
            "www 60 IN A 192.0.2.10",
        ],
        "newmail.test": [
            "mx1 60 IN A 192.0.2.21",
            "mx2 60 IN A 192.0.2.22",
            "imap 60 IN A 192.0.2.23",
            "smtp 60 IN A 192.0.2.24",
            "autodiscover 60 IN A 192.0.2.25",
            '_spf 60 IN TXT "v=spf1 ip4:192.0.2.0/28 -all"',
            'spf 60 IN TXT "v=spf1 include:_spf.newmail.test ip4:192.0.2.16/28 ~all"',
        ],
        "oldmail.test": [
            "mx1 60 IN A 198.51.100.1",
            'spf 60 IN TXT "v=spf1 ip4:198.51.100.0/24 ~all"',
        ],
    }


@dataclass
class DnsLab:
    """Start with `start()`, stop with `stop()` (or use as a context manager)."""

    base: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="mailmig-dnslab-")))
    plain_resolvers: int = 2
    sticky_min_ttl: int = 12
    prefix: str = PREFIX  # another /24 of 127/8 lets two labs run side by side (e.g. "127.0.54.")
    primary: str = ""
    secondary: str = ""
    records: dict[str, list[str]] = field(default_factory=_default_zone_records)
    serials: dict[str, int] = field(default_factory=dict)
    resolvers: dict[str, str] = field(default_factory=dict)
    # Resolvers started on demand by add_resolver() (not in `resolvers`, so the default list stays the same).
    extra: dict[str, str] = field(default_factory=dict)
    faults: dict[str, str] = field(default_factory=dict)  # name -> fault injected by fault()
    nsd_ports: dict[str, tuple[str, int]] = field(default_factory=dict)  # NSD role -> (address, port)
    _paused: set[int] = field(default_factory=set)
    # The resolvers take prefix+first_resolver onwards: the mail lab (lab/mail.py) runs its own DNS lab
    # in the same /24 (primary .101, resolvers from .111) so both can run in one test session.
    first_resolver: int = 11
    _timeout_socket: socket.socket | None = None
    _pidfiles: list[Path] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.primary = self.primary or self.prefix + "1"
        self.secondary = self.secondary or self.prefix + "2"

    # --- addresses ---------------------------------------------------------------------------------

    @property
    def authoritative(self) -> list[str]:
        return [self.primary, self.secondary]

    @property
    def plain(self) -> list[str]:
        return [n for n in self.resolvers if n.startswith("plain")]

    def resolver_args(self, names: list[str] | None = None) -> list[str]:
        """`--resolver NAME=IP` arguments for the CLI."""
        chosen = names or list(self.resolvers)
        out: list[str] = []
        for name in chosen:
            out += ["--resolver", f"{name}={self.resolvers[name]}"]
        return out

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> DnsLab:
        for tool in TOOLS:
            require_tool(tool)
        self.base.mkdir(parents=True, exist_ok=True)
        self.serials = {z: 2026010100 for z in ZONES}
        try:
            for role, address in (("primary", self.primary), ("secondary", self.secondary)):
                self._start_nsd(role, address)
            for role in ("primary", "secondary"):
                for zone in ZONES:
                    self.wait_serial(role, zone, self.serials[zone])
            n = self.first_resolver
            for i in range(self.plain_resolvers):
                self._start_unbound(f"plain{i + 1}", self.prefix + str(n))
                n += 1
            self._start_unbound("sticky", self.prefix + str(n), cache_min_ttl=self.sticky_min_ttl)
            self._start_unbound("refused", self.prefix + str(n + 1), refuse=True)
            self._start_unbound("servfail", self.prefix + str(n + 2), upstream=[self.prefix + str(n + 1)])
            self._start_timeout(self.prefix + str(n + 3))
            for name, address in self.resolvers.items():
                if name not in ("refused", "servfail", "timeout"):
                    self._wait_answers(address, "corp.test", recursion=True)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for pid in list(self._paused):  # a stopped (SIGSTOP) process cannot act on SIGTERM
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        self._paused.clear()
        if self._timeout_socket is not None:
            self._timeout_socket.close()
            self._timeout_socket = None
        for pidfile in reversed(self._pidfiles):
            _stop_pidfile(pidfile)
        self._pidfiles.clear()

    def __enter__(self) -> DnsLab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def address(self, name: str) -> str:
        """`IP` or `[IPv6]:PORT` / `IP:PORT` of a resolver (base or extra), as --resolver takes it."""
        return self.resolvers.get(name) or self.extra[name]

    def add_resolver(self, name: str, *, cache_min_ttl: int = 0, address: str = "", port: int = 53,
                     https_port: int = 0, cert: tuple[Path, Path] | None = None) -> str:
        """Start one more Unbound (stubs to both NSDs) and return its address as --resolver takes it.

        `address` defaults to the next free address of the prefix; `::1` needs a free high `port` (never 53:
        only one process on the machine could have it). `https_port` with `cert` (pem, key) also serves
        DNS over HTTPS on that port."""
        if name in self.extra:
            return self.extra[name]
        if not address:
            used = {a.split(":")[0] for a in (*self.resolvers.values(), *self.extra.values())}
            n = 40
            while f"{self.prefix}{n}" in used:
                n += 1
            address = f"{self.prefix}{n}"
        self._start_unbound(name, address, cache_min_ttl=cache_min_ttl, port=port, https_port=https_port, cert=cert)
        label = address if port == 53 else (f"[{address}]:{port}" if ":" in address else f"{address}:{port}")
        del self.resolvers[name]
        self.extra[name] = label
        self._wait_answers(address, "corp.test", recursion=True, port=port)
        return label

    def _pid(self, name: str, kind: str) -> int:
        return int((self.base / name / f"{kind}.pid").read_text().split()[0])

    def pause(self, name: str, kind: str = "unbound") -> None:
        """SIGSTOP a server (`name` a resolver, or "primary"/"secondary" with kind="nsd"): it keeps its
        cache and state but answers nothing (a client sees timeouts) until resume()."""
        for pid in _family(self._pid(name, kind)):  # NSD answers from a child process
            os.kill(pid, signal.SIGSTOP)
            self._paused.add(pid)

    def resume(self, name: str, kind: str = "unbound") -> None:
        for pid in _family(self._pid(name, kind)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
            self._paused.discard(pid)

    def fault(self, name: str, kind: str, zone: str = "corp.test") -> None:
        """Make resolver `name` fail for `zone` without losing what it cached (except for servfail):

        timeout: queries are dropped (local-zone deny); refused: answered REFUSED (local-zone refuse);
        stopped: the process is SIGSTOPped; servfail: its cache of the zone is emptied and its upstream
        is a server that refuses, so it answers SERVFAIL."""
        if kind == "timeout":
            self._control("unbound", name, "local_zone", zone, "deny")
        elif kind == "refused":
            self._control("unbound", name, "local_zone", zone, "refuse")
        elif kind == "stopped":
            self.pause(name)
        elif kind == "servfail":
            self._control("unbound", name, "stub_remove", zone)
            self._control("unbound", name, "stub_add", zone, self.resolvers.get("refused") or self.extra["refused"])
            self._control("unbound", name, "flush_zone", zone)
            self._control("unbound", name, "flush_requestlist")
        else:
            raise ValueError(kind)
        self.faults[name] = kind

    def clear_fault(self, name: str, zone: str = "corp.test") -> None:
        kind = self.faults.pop(name, "")
        if kind in ("timeout", "refused"):
            self._control("unbound", name, "local_zone_remove", zone)
        elif kind == "stopped":
            self.resume(name)
        elif kind == "servfail":
            self._control("unbound", name, "stub_remove", zone)
            self._control("unbound", name, "stub_add", zone, *self.authoritative)
            self._control("unbound", name, "flush_infra", "all")
            self._control("unbound", name, "flush_zone", zone)

    def flush(self, name: str) -> None:
        """Empty one resolver's cache of the lab's zones."""
        self._control("unbound", name, "flush_zone", "test.")
        self._control("unbound", name, "flush_infra", "all")
        self._control("unbound", name, "flush_requestlist")

    # --- zone changes ------------------------------------------------------------------------------

    def set_records(self, zone: str, lines: list[str], *, servers: tuple[str, ...] = ("primary", "secondary")) -> int:
        """Replace `zone`'s records, bump its serial, reload `servers` and wait until they serve it."""
        self.records[zone] = list(lines)
        self.serials[zone] += 1
        for role in servers:
            self._write_zone(role, zone)
            self._control("nsd", role, "reload", zone)
        for role in servers:
            self.wait_serial(role, zone, self.serials[zone])
        return self.serials[zone]

    def edit(self, zone: str, *, remove: tuple[str, ...] = (), add: tuple[str, ...] = (),
             servers: tuple[str, ...] = ("primary", "secondary")) -> int:
        """Remove lines starting with any of `remove` (e.g. "@ 5 IN MX"), add `add`, then reload."""
        kept = [line for line in self.records[zone] if not any(line.startswith(r) for r in remove)]
        return self.set_records(zone, kept + list(add), servers=servers)

    def sync_secondary(self, zone: str, role: str = "secondary") -> None:
        """Bring a lagging secondary (or any other NSD role) up to the primary's serial."""
        self._write_zone(role, zone)
        self._control("nsd", role, "reload", zone)
        self.wait_serial(role, zone, self.serials[zone])

    def add_nsd(self, role: str, address: str, port: int) -> str:
        """One more authoritative NSD serving the current zones (`::1` needs a free high port, never 53);
        returns its address as --authoritative takes it. It follows `edit(servers=(..., role))`."""
        if role not in self.nsd_ports:
            self._start_nsd(role, address, port)
            for zone in ZONES:
                self.wait_serial(role, zone, self.serials[zone])
        return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"

    def flush_resolvers(self) -> None:
        """Empty every Unbound cache so the next test starts the TTL clocks afresh."""
        for name in list(self.faults):
            self.clear_fault(name)
        for name in (*self.resolvers, *self.extra):
            if name != "timeout":
                self.flush(name)

    def serial(self, role: str, zone: str) -> int | None:
        address, port = self.nsd_ports.get(role, (self.primary if role == "primary" else self.secondary, 53))
        query = dns.message.make_query(zone, "SOA")
        query.flags &= ~dns.flags.RD
        try:
            response = dns.query.udp(query, address, timeout=0.5, port=port)
        except (dns.exception.Timeout, OSError):
            return None
        for rrset in response.answer:
            if rrset.rdtype == dns.rdatatype.SOA:
                return int(rrset[0].serial)
        return None

    def wait_serial(self, role: str, zone: str, serial: int, timeout: float = 15.0) -> None:
        # nsd-control reload returns before the new zone is served: poll the SOA serial.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.serial(role, zone) == serial:
                return
            time.sleep(0.05)
        raise RuntimeError(f"NSD {role} did not serve {zone} serial {serial} (log: {self.base / role / 'nsd.log'})")

    # --- internals ---------------------------------------------------------------------------------

    def _zone_text(self, zone: str) -> str:
        head = [
            f"$ORIGIN {zone}.",
            "$TTL 60",
            # SOA minimum 3 s: negative answers (a DKIM name that does not exist yet) expire quickly.
            f"@ 3 IN SOA ns1.{zone}. hostmaster.{zone}. {self.serials[zone]} 3600 600 86400 3",
            f"@ 60 IN NS ns1.{zone}.",
            f"@ 60 IN NS ns2.{zone}.",
            f"ns1 60 IN A {self.primary}",
            f"ns2 60 IN A {self.secondary}",
        ]
        return "\n".join(head + self.records[zone]) + "\n"

    def _write_zone(self, role: str, zone: str) -> None:
        path = self.base / role / f"{zone}.zone"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self._zone_text(zone))
        os.replace(tmp, path)

    def _start_nsd(self, role: str, address: str, port: int = 53) -> None:
        folder = self.base / role
        folder.mkdir(parents=True, exist_ok=True)
        for zone in ZONES:
            self._write_zone(role, zone)
        zones = "".join(f"zone:\n  name: {z}\n  zonefile: {z}.zone\n" for z in ZONES)
        conf = folder / "nsd.conf"
        conf.write_text(
            "server:\n"
            f"  ip-address: {address}@{port}\n  port: {port}\n  do-ip6: {'yes' if ':' in address else 'no'}\n"
            '  username: ""\n  chroot: ""\n'
            f'  zonesdir: "{folder}"\n  pidfile: "{folder}/nsd.pid"\n  database: ""\n'
            f'  xfrdfile: "{folder}/xfrd.state"\n  zonelistfile: "{folder}/zone.list"\n'
            f'  xfrdir: "{folder}"\n  logfile: "{folder}/nsd.log"\n'
            "  server-count: 1\n  verbosity: 1\n  hide-version: yes\n"
            "remote-control:\n  control-enable: yes\n"
            f'  control-interface: "{folder}/nsd.ctl"\n'
            + zones
        )
        pidfile = folder / "nsd.pid"
        self._pidfiles.append(pidfile)
        _run([require_tool("nsd"), "-c", str(conf)], folder / "start.log")
        _wait_pidfile(pidfile)
        self.nsd_ports[role] = (address, port)

    def _start_unbound(self, name: str, address: str, *, cache_min_ttl: int = 0, refuse: bool = False,
                       upstream: list[str] | None = None, port: int = 53, https_port: int = 0,
                       cert: tuple[Path, Path] | None = None) -> None:
        folder = self.base / name
        folder.mkdir(parents=True, exist_ok=True)
        stubs = upstream or self.authoritative
        zones = "".join(
            f'stub-zone:\n  name: "{z}"\n' + "".join(f"  stub-addr: {a}\n" for a in stubs) for z in ZONES
        )
        # 127.0.0.0/8 is allowed by default and the most specific rule wins, so refuse it by name.
        access = "127.0.0.0/8 refuse" if refuse else "127.0.0.0/8 allow"
        if ":" in address:
            access += "\n  access-control: ::1 allow"
        interfaces = f"  interface: {address}@{port}\n"
        if https_port and cert:
            # DNS over HTTPS (Debian's Unbound is built with libnghttp2): same address, its own port.
            interfaces += (f"  interface: {address}@{https_port}\n  https-port: {https_port}\n"
                           f'  tls-service-pem: "{cert[0]}"\n  tls-service-key: "{cert[1]}"\n'
                           "  http-notls-downstream: no\n")
        conf = folder / "unbound.conf"
        conf.write_text(
            "server:\n"
            f"{interfaces}  port: {port}\n  do-ip6: {'yes' if ':' in address else 'no'}\n  do-ip4: yes\n"
            f'  username: ""\n  chroot: ""\n  directory: "{folder}"\n'
            f'  pidfile: "{folder}/unbound.pid"\n  logfile: "{folder}/unbound.log"\n  use-syslog: no\n'
            f"  access-control: {access}\n"
            '  local-zone: "test." nodefault\n  do-not-query-localhost: no\n'
            '  module-config: "iterator"\n  num-threads: 1\n  so-reuseport: no\n'
            "  prefetch: no\n  serve-expired: no\n  qname-minimisation: no\n  verbosity: 0\n"
            f"  cache-min-ttl: {cache_min_ttl}\n"
            # A short infra cache so a restarted NSD is retried at once.
            "  infra-host-ttl: 5\n"
            "remote-control:\n  control-enable: yes\n"
            f'  control-interface: "{folder}/unbound.ctl"\n  control-use-cert: no\n'
            + zones
        )
        pidfile = folder / "unbound.pid"
        self._pidfiles.append(pidfile)
        _run([require_tool("unbound"), "-c", str(conf)], folder / "start.log")
        _wait_pidfile(pidfile)
        self.resolvers[name] = address

    def _start_timeout(self, address: str) -> None:
        # Bound but never read: queries sit in the buffer and the client times out, like a dead server.
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((address, 53))
        self._timeout_socket = sock
        self.resolvers["timeout"] = address

    def _control(self, kind: str, name: str, *args: str) -> None:
        conf = self.base / name / f"{kind}.conf"
        tool = "nsd-control" if kind == "nsd" else "unbound-control"
        result = subprocess.run([require_tool(tool), "-c", str(conf), *args], capture_output=True, text=True, timeout=15)
        if result.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args)} failed: {result.stdout}{result.stderr}")

    def _wait_answers(self, address: str, zone: str, recursion: bool, timeout: float = 15.0, port: int = 53) -> None:
        deadline = time.monotonic() + timeout
        query = dns.message.make_query(zone, "SOA")
        while time.monotonic() < deadline:
            with contextlib.suppress(dns.exception.Timeout, OSError):
                response = dns.query.udp(query, address, timeout=0.5, port=port)
                if response.answer:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"resolver {address} does not answer")


def _run(cmd: list[str], log: Path) -> None:
    with open(log, "w") as out:
        result = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=30)
    if result.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed to start: {log.read_text()}")


def _wait_pidfile(pidfile: Path, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError, IndexError):  # IndexError: written but still empty
            pid = int(pidfile.read_text().split()[0])
            if alive(pid):
                return pid
        time.sleep(0.02)
    raise RuntimeError(f"no running process in {pidfile}")


def _family(pid: int) -> list[int]:
    """`pid` and its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(parent, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo += children.get(current, [])
    return out


def _stop_pidfile(pidfile: Path, timeout: float = 10.0) -> None:
    # A server that is still starting may have created its pid file without writing it yet.
    waited_until = time.monotonic() + 3.0
    while True:
        try:
            pid = int(pidfile.read_text().split()[0])
            break
        except FileNotFoundError:
            return
        except (OSError, ValueError, IndexError):
            if time.monotonic() > waited_until:
                return
            time.sleep(0.05)
    if alive(pid):
        terminate(pid, timeout)


def lab_project() -> Project:
    """A project migrating corp.test from the lab's oldmail.test to newmail.test (tests, bench, rehearsal)."""
    from mailmig_tui.core.model import MxHost, Project
    from mailmig_tui.core.presets import preset_provider

    project = Project(domain="corp.test")
    project.old = preset_provider("generic-imap", "corp.test")
    project.old.name = "Old Mail"
    project.old.mx = [MxHost("mx1.oldmail.test", 10)]
    project.old.spf_include = "spf.oldmail.test"
    project.new = preset_provider("generic-imap", "corp.test")
    project.new.name = "New Mail"
    project.new.mx = [MxHost("mx1.newmail.test", 10), MxHost("mx2.newmail.test", 20)]
    project.new.spf_include = "spf.newmail.test"
    project.new.dkim_selectors = ["mm1"]
    project.new.imap.host, project.new.imap.port, project.new.imap.tls = "imap.newmail.test", 993, "ssl"
    project.new.smtp.host, project.new.smtp.port, project.new.smtp.tls = "smtp.newmail.test", 587, "starttls"
    project.new.extra["autodiscover"] = "autodiscover.newmail.test"
    return project


if __name__ == "__main__":  # pragma: no cover - manual rehearsal: `python -m mailmig_tui.lab.dns`
    def _interrupt(*_args: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _interrupt)  # `kill PID` stops the servers too
    signal.signal(signal.SIGINT, _interrupt)  # even when started in the background (SIGINT ignored)
    lab = DnsLab().start()
    print(f"lab in {lab.base}; authoritative {lab.authoritative}; resolvers {lab.resolvers}")
    print("press Ctrl-C to stop")
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        lab.stop()
