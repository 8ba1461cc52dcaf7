"""The DNS engines set up for a project: its [dns] section read (errors naming line and key) and a watcher.

Shared by `mailmig dns …` (which adds its command-line overrides on top) and the TUI's DNS screen.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from mailmig_tui.core.dns.config import DnsConfig, parse_dns_section
from mailmig_tui.core.dns.history import WatchHistory
from mailmig_tui.core.dns.records import derive_targets
from mailmig_tui.core.dns.watch import Watcher
from mailmig_tui.core.model import Project, SchemaError
from mailmig_tui.core.store import schema_error


def project_config(project: Project, path: Path) -> DnsConfig:
    """The project's `[dns]` section as a DnsConfig, errors naming line and key of the file at `path`.

    What the TUI watches and audits; the commands add their command-line overrides on top."""
    try:
        return parse_dns_section(project.sections.get("dns"))
    except SchemaError as exc:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            text = ""
        raise schema_error(text, str(path), exc) from None


def make_watcher(project: Project, config: DnsConfig, clock: Callable[[], datetime] | None = None,
                 history: WatchHistory | None = None) -> Watcher:
    """The watcher of `project`'s records over `config`'s servers (the command and the TUI both). With
    `history` (see history.py), every sweep is also written to the watch history beside the project."""
    watcher = Watcher(project.domain, derive_targets(project, config), list(config.resolvers),
                      list(config.authoritative), timeout=config.timeout, interval=config.interval,
                      old_mx_ttl=project.plan.old_mx_ttl)
    if clock is not None:
        watcher.clock = clock
    if history is not None:
        watcher.on_sweep = history.record
    return watcher
