"""The transports a resolver can be asked over, against real servers: TCP after a truncated UDP answer
(NSD and Unbound with a TXT set too big for 512 bytes), DNS over HTTPS (Unbound serving it itself with
a self-signed certificate), and a resolver on ::1 at a free high port (never [::1]:53)."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mailmig_tui.core.dns.config import Server, parse_address
from mailmig_tui.core.dns.query import OK, ask
from mailmig_tui.core.dns.records import OLD, derive_targets
from mailmig_tui.core.dns.watch import Watcher
from mailmig_tui.core.model import Project
from mailmig_tui.lab.dns import DnsLab
from tests.dns.conftest import lab_config, run_cli, write_project

pytestmark = pytest.mark.lab

BIG = tuple(f'big 60 IN TXT "record {i:02d} {"x" * 90}"' for i in range(20))  # ~2 KB: over 512 bytes


def _free_port(family: int, host: str) -> int:
    with socket.socket(family, socket.SOCK_DGRAM) as udp, socket.socket(family, socket.SOCK_STREAM) as tcp:
        udp.bind((host, 0))
        port = udp.getsockname()[1]
        tcp.bind((host, port))  # the same port free for TCP too
        return int(port)


def _certificate(folder: Path, ip: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mailmig DoH lab")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    pem, key_file = folder / "doh.pem", folder / "doh.key"
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return pem, key_file


@pytest.fixture(scope="session")
def doh(lab: DnsLab) -> Iterator[tuple[Server, Path]]:
    """An Unbound that also serves DNS over HTTPS; the certificate to trust (SSL_CERT_FILE)."""
    address = lab.prefix + "60"
    port = _free_port(socket.AF_INET, address)
    pem, key = _certificate(lab.base, address)
    lab.add_resolver("doh", address=address, https_port=port, cert=(pem, key))
    yield Server("doh", address, 53, "https", f"https://{address}:{port}/dns-query"), pem


@pytest.fixture(scope="session")
def v6(lab: DnsLab) -> str:
    """`[::1]:PORT` of an Unbound on ::1 at a free high port."""
    port = _free_port(socket.AF_INET6, "::1")
    return lab.add_resolver("v6", address="::1", port=port)


def test_truncated_udp_answer_is_asked_again_over_tcp(fresh_lab: DnsLab) -> None:
    fresh_lab.edit("corp.test", add=BIG)

    async def run() -> None:
        direct = await ask(Server("ns1", fresh_lab.primary), "big.corp.test", "TXT", timeout=2, recursion=False)
        assert direct.status == OK and direct.tcp and direct.aa and len(direct.values) == 20
        resolver = Server("plain1", fresh_lab.resolvers["plain1"])
        recursive = await ask(resolver, "big.corp.test", "TXT", timeout=2)
        assert recursive.status == OK and recursive.tcp and len(recursive.values) == 20
        small = await ask(resolver, "corp.test", "MX", timeout=2)
        assert small.status == OK and not small.tcp

    asyncio.run(run())


def test_doh_resolver_answers_through_the_watcher(fresh_lab: DnsLab, doh: tuple[Server, Path], project: Project,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    server, pem = doh
    monkeypatch.setenv("SSL_CERT_FILE", str(pem))

    async def run() -> None:
        answer = await ask(server, "corp.test", "MX", timeout=3)
        assert answer.status == OK and answer.values == ("10 mx1.oldmail.test",), answer
        config = lab_config(fresh_lab, ["plain1"])
        watcher = Watcher(project.domain, derive_targets(project, config), [server], config.authoritative, timeout=3)
        snap = await watcher.sweep()
        o = snap.observation("doh", "mx")
        assert o is not None and o.state == OLD and snap.standing == {"doh": "old"}
        # Not trusted: the certificate check fails, said as an error, never as an answer.
        monkeypatch.setenv("SSL_CERT_FILE", "/nonexistent")
        untrusted = await ask(server, "corp.test", "MX", timeout=3)
        assert untrusted.failed

    asyncio.run(run())


def test_ipv6_resolver_on_a_high_port(fresh_lab: DnsLab, v6: str, project: Project, tmp_path: Path) -> None:
    assert v6.startswith("[::1]:") and not v6.endswith(":53")
    address, port = parse_address(v6)
    answer = asyncio.run(ask(Server("v6", address, port), "corp.test", "MX", timeout=2))
    assert answer.status == OK and answer.values == ("10 mx1.oldmail.test",)
    path = write_project(tmp_path, project, mx_ttl=5)
    args = [a for ns in fresh_lab.authoritative for a in ("--authoritative", ns)]
    result = run_cli("dns", "watch", str(path), "--count", "1", "--json", "--timeout", "1", *args,
                     "--resolver", f"v6={v6}")
    snap = json.loads(result.stdout.splitlines()[0])
    assert snap["resolvers"][0]["address"] == v6 and snap["standing"] == {"v6": "old"}
