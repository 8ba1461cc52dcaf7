"""The DNS engine of phase 3: record audit, readiness checks and the propagation watcher.

Headless and asyncio-based (dnspython's asyncio API); results are plain dataclasses so the CLI and a
Textual screen render the same thing. Entry points: `audit()` and `Watcher`.
"""

from mailmig_tui.core.dns.audit import AuditReport, Check, audit, discover_authoritative
from mailmig_tui.core.dns.config import DEFAULT_RESOLVERS, DnsConfig, Server, parse_dns_section
from mailmig_tui.core.dns.records import Target, derive_targets, zone_snippet
from mailmig_tui.core.dns.watch import Snapshot, Watcher

__all__ = [
    "DEFAULT_RESOLVERS",
    "AuditReport",
    "Check",
    "DnsConfig",
    "Server",
    "Snapshot",
    "Target",
    "Watcher",
    "audit",
    "derive_targets",
    "discover_authoritative",
    "parse_dns_section",
    "zone_snippet",
]
