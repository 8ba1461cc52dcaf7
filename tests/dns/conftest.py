"""The DNS lab (real NSD and Unbound on 127.0.53.x) and a project that migrates corp.test."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from mailmig_tui.core.dns.config import DnsConfig, Server
from mailmig_tui.core.model import MxHost, Project
from mailmig_tui.core.presets import preset_provider
from mailmig_tui.lab.dns import DnsLab

# An RSA public key (SubjectPublicKeyInfo, base64), as a provider's console would show it.
DKIM_KEY = (
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAwa8Nr6yVB1eVzq2o11oQRmC6TxWJxY7mD45jH5Jtm2eE2cSzE8Xe"
    "qEm9aEqEysJq0OCYQwQ2LQ0nPmFb2pQz5H0vyZyJz1yKqM2bnUdq6lN7AyOG7h1BEx5NUgWxFv4n4hFC2dRlPbHkOqF3sbYc"
    "Sh0Ipf5DSo9L7TzMEqUCbI1SvBsz1a9rLGTRpqTtEA7dHJzJmY2rLZx4bDgqNVUiVUb0GrF6GfX8o8o2p5E2L7vqxHQpG6bU"
    "qj2nGzjvW1b/IY8v4xSXcD0Oe8RmhS7nTKv7o4bXjk9pZpDS3g0P6bBv3wYB9rGXn8Jbx1TrD0gO3qL0V2zoRdVbcKmNtTxw"
    "pQIDAQAB"
)


def _dkim_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    import base64

    return base64.b64encode(der).decode()


@pytest.fixture(scope="session")
def dkim_key() -> str:
    return _dkim_key()


@pytest.fixture(scope="module")
def lab() -> Iterator[DnsLab]:
    if not shutil.which("nsd") or not shutil.which("unbound"):
        pytest.skip("nsd/unbound not installed (scripts/install-system-packages.sh)")
    with DnsLab() as running:
        yield running


@pytest.fixture
def fresh_lab(lab: DnsLab) -> DnsLab:
    """The lab with the default zones and empty resolver caches."""
    from mailmig_tui.lab.dns import _default_zone_records

    for zone, lines in _default_zone_records().items():
        if lab.records[zone] != lines or lab.serial("secondary", zone) != lab.serials[zone]:
            lab.set_records(zone, lines)
    lab.flush_resolvers()
    return lab


def make_project() -> Project:
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
    now = datetime.now().astimezone().replace(microsecond=0)
    project.plan.old_mx_ttl = 5
    project.plan.dates["ttl_lowered"] = now - timedelta(hours=2)
    project.plan.dates["mx_cutover"] = now + timedelta(hours=1)
    return project


@pytest.fixture
def project() -> Project:
    return make_project()


def lab_config(lab: DnsLab, resolvers: list[str] | None = None, policy: str = "") -> DnsConfig:
    names = resolvers or list(lab.resolvers)
    return DnsConfig(
        interval=1.0, timeout=0.5, mx_ttl=5,
        resolvers=[Server(n, lab.resolvers[n]) for n in names],
        authoritative=[Server(f"ns{i + 1}", a) for i, a in enumerate(lab.authoritative)],
        mta_sts_policy=policy,
    )
