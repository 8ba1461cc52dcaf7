"""`mailmig monitor`: after-care health checks, once (for cron) or on a schedule.

JSON events (`--json`): one `monitor.check` per result and a `monitor.run` summary per run. Exit codes
with `--once`: 0 nothing failing; 1 a check failed or could not be checked (warnings and advice do not
count); 2 usage; 3 project file; 5 credentials; 130 interrupted.
"""

from __future__ import annotations

import argparse
import threading
from pathlib import Path

from mailmig_tui.commands.output import Reporter
from mailmig_tui.core.credentials import open_credentials, terminal_passphrase_prompt
from mailmig_tui.core.dns.project import project_config
from mailmig_tui.core.errors import UsageError
from mailmig_tui.core.i18n import _
from mailmig_tui.core.model import Project, SchemaError, now
from mailmig_tui.core.monitor import History, MonitorConfig, history_path, parse_monitor_section, run_checks
from mailmig_tui.core.monitor.checks import SYMBOLS, WORDS, Health
from mailmig_tui.core.monitor.runner import CHECK_GROUPS, clean_window_start, summary_counts
from mailmig_tui.core.store import load_project, schema_error


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "monitor", help=_("after-care health checks of the new setup (DNS, IMAP, SMTP, TLS, stragglers)"),
        description=_("Check the new setup: DNS records still right, the new IMAP and SMTP reachable with a canary "
                      "user's login and latency, TLS certificates' days to expiry, mail still arriving at the old "
                      "provider, and advice that follows the calendar. History is kept beside the project. "
                      "Exit codes with --once: 0 nothing failing; 1 a check failed or could not be checked."))
    p.add_argument("project", type=Path)
    p.add_argument("--once", action="store_true", help=_("run the checks once and exit (for cron)"))
    p.add_argument("--interval", type=float, default=None,
                   help=_("seconds between runs (default: [monitor] interval, else 300)"))
    p.add_argument("--checks", default=None,
                   help=_("comma-separated groups to run: {groups} (default: all)").format(groups=",".join(CHECK_GROUPS)))
    p.add_argument("--json", action="store_true", help=_("print one JSON event per line"))
    p.set_defaults(func=cmd_monitor)


def monitor_config(project: Project, path: Path) -> MonitorConfig:
    try:
        return parse_monitor_section(project.sections.get("monitor"))
    except SchemaError as exc:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            text = ""
        raise schema_error(text, str(path), exc) from None


def _groups(value: str | None) -> tuple[str, ...]:
    if not value:
        return CHECK_GROUPS
    groups = tuple(v.strip() for v in value.split(",") if v.strip())
    unknown = [g for g in groups if g not in CHECK_GROUPS]
    if unknown:
        raise UsageError(_("unknown check group {name!r}; choose from {groups}").format(
            name=unknown[0], groups=", ".join(CHECK_GROUPS)))
    return groups


def format_result(r: Health) -> list[str]:
    lines = [f"{SYMBOLS[r.status]} {_(WORDS[r.status]):<8} {r.title}"]
    lines.append(f"    {r.detail}")
    if r.advice and r.status != "ok":
        lines.append(f"    → {r.advice}")
    return lines


def cmd_monitor(args: argparse.Namespace) -> int:
    groups = _groups(args.checks)
    out = Reporter(args.json)
    project = load_project(args.project)
    config = monitor_config(project, args.project)
    interval = args.interval if args.interval is not None else config.interval
    if interval <= 0:
        raise UsageError(_("--interval must be more than 0 seconds"))
    dns_config = project_config(project, args.project)
    creds = open_credentials(terminal_passphrase_prompt)
    stop = threading.Event()
    failing = False
    with History(history_path(args.project)) as history:
        while True:
            project = load_project(args.project)  # pick up edits made while watching
            started = now()
            clean = clean_window_start(history.failure_free_since(), project.plan.dates.get("go_live"))
            results = run_checks(project, creds, config, dns_config, groups=groups, clean_since=clean, cancel=stop,
                                 now=started)
            history.add(started, results)
            for r in results:
                out.event("monitor.check", "\n".join(format_result(r)), key=r.key, status=r.status, title=r.title,
                          detail=r.detail, advice=r.advice, value=r.value, at=r.at)
            counts = summary_counts(results)
            failing = any(r.failing for r in results)
            out.event("monitor.run", _("{ok} ok, {warn} warnings, {fail} failed, {unknown} unknown, {info} advice").format(
                **counts), **counts, failing=failing)
            if args.once:
                break
            if stop.wait(interval):
                break
    return 1 if failing else 0

