"""The DNS lab (real NSD and Unbound on 127.0.53.x) and a project that migrates corp.test."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mailmig_tui.core.dns.config import DnsConfig, Server
from mailmig_tui.core.model import Project
from mailmig_tui.core.store import ProjectStore
from mailmig_tui.lab.dns import TOOLS, DnsLab, _default_zone_records, lab_project
from tests.servers import require_tools


def _dkim_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


@pytest.fixture(scope="session")
def dkim_key() -> str:
    return _dkim_key()


@pytest.fixture(scope="session")
def lab() -> Iterator[DnsLab]:
    require_tools(*TOOLS)
    # MAILMIG_DNS_LAB_PREFIX (e.g. "127.0.54.") lets a second test run use its own addresses.
    with DnsLab() as running:
        yield running


@pytest.fixture
def fresh_lab(lab: DnsLab) -> DnsLab:
    """The lab with the default zones and empty resolver caches."""
    for zone, lines in _default_zone_records().items():
        if lab.records[zone] != lines or lab.serial("secondary", zone) != lab.serials[zone]:
            lab.set_records(zone, lines)
    lab.flush_resolvers()
    return lab


def make_project() -> Project:
    project = lab_project()
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


def write_project(folder: Path, project: Project, **dns: Any) -> Path:
    project.sections["dns"] = dns
    path = folder / "corp.test.mailmig.toml"
    ProjectStore.create(path, project, overwrite=True).close()
    return path


def run_cli(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mailmig_tui", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "MAILMIG_LANG": "en"})


def lab_args(lab: DnsLab, resolvers: list[str] | None = None) -> list[str]:
    out: list[str] = []
    for address in lab.authoritative:
        out += ["--authoritative", address]
    return out + lab.resolver_args(resolvers) + ["--timeout", "0.5"]
