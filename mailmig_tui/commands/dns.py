"""DNS commands: `mailmig dns check|watch|zone PROJECT`.

JSON events (`--json`): dns.record (one per audited record), dns.check (one per readiness check),
dns.ready (summary), dns.zone (the snippet), dns.note (--ignore-unreachable in effect), dns.snapshot
(one per watcher sweep: standing of each resolver, unknown/unreachable, cutover_at, safe_to_switch_off
or switch_off_pending, summary), dns.propagated.
Exit codes: 0 ready / propagated; 1 not ready / not propagated when --count ran out; 2 usage (also: no
new MX to watch); 3 bad project file (including its [dns]).
"Propagated" and "safe to switch off" are defined in core/dns/watch.py (Watcher) and the README.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime
from pathlib import Path

from mailmig_tui.commands.output import Reporter, error_line
from mailmig_tui.core.dns.audit import FAIL, PASS, AuditReport, audit
from mailmig_tui.core.dns.config import DnsConfig, Server, parse_address, parse_resolver_arg
from mailmig_tui.core.dns.history import WatchHistory, watch_history_path
from mailmig_tui.core.dns.lastwatch import WatchRecorder
from mailmig_tui.core.dns.project import make_watcher, project_config
from mailmig_tui.core.dns.records import ERROR, MIXED, NEGATIVE, NEW, OLD, zone_snippet
from mailmig_tui.core.dns.watch import Snapshot, snapshot_to_dict
from mailmig_tui.core.errors import NotReadyError, ProjectFileError, ProjectLockedError, UsageError
from mailmig_tui.core.i18n import N_, _
from mailmig_tui.core.model import Project, SchemaError
from mailmig_tui.core.store import ProjectStore, format_key_path, load_project, open_for_update


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dns", help=_("DNS records audit, cutover readiness and propagation watcher"))
    dns_sub = p.add_subparsers(dest="dns_command", metavar="ACTION", parser_class=type(p))
    dns_sub.required = True

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("project", type=Path)
        q.add_argument("--json", action="store_true", help=_("print JSON events instead of text"))
        q.add_argument("--resolver", action="append", default=[], metavar="NAME=IP[:PORT]",
                       help=_("resolver to ask instead of the project's list (repeatable)"))
        q.add_argument("--authoritative", action="append", default=[], metavar="IP[:PORT]",
                       help=_("authoritative server to ask instead of the zone's NS set (repeatable)"))
        q.add_argument("--timeout", type=float, default=None, help=_("seconds to wait for each answer"))

    q = dns_sub.add_parser("check", help=_("audit the records and check readiness for the cutover"))
    common(q)
    q.set_defaults(func=cmd_check)
    q = dns_sub.add_parser("watch", help=_("watch the new records propagate"))
    common(q)
    q.add_argument("--interval", type=float, default=None, help=_("seconds between refreshes"))
    q.add_argument("--until-propagated", action="store_true",
                   help=_("exit 0 once every resolver answered the new MX after the authoritative servers changed"))
    q.add_argument("--ignore-unreachable", action="store_true",
                   help=_("leave out resolvers that have not answered once during the watch (said in the output)"))
    q.add_argument("--count", type=int, default=0, help=_("stop after this many refreshes"))
    q.set_defaults(func=cmd_watch)
    q = dns_sub.add_parser("zone", help=_("print the records to set, as a zone-file snippet"))
    common(q)
    q.set_defaults(func=cmd_zone)


def load_config(path: Path, args: argparse.Namespace) -> tuple[Project, DnsConfig]:
    project = load_project(path)
    config = project_config(project, path)
    try:
        if args.resolver:
            config.resolvers = [parse_resolver_arg(r) for r in args.resolver]
        if args.authoritative:
            config.authoritative = [Server(a, *parse_address(a, ("--authoritative",))) for a in args.authoritative]
    except SchemaError as exc:
        raise UsageError(f"{format_key_path(exc.path)}: {exc.message}") from None
    if args.timeout is not None:
        if not 0.05 <= args.timeout <= 30:
            raise UsageError(_("--timeout must be between 0.05 and 30 seconds"))
        config.timeout = args.timeout
    if getattr(args, "interval", None) is not None:
        if args.interval < 0.2:
            raise UsageError(_("--interval must be at least 0.2 seconds"))
        config.interval = args.interval
    return project, config


def _hm(when: datetime | None) -> str:
    return when.astimezone().strftime("%H:%M:%S") if when else "—"


STATE_NAMES = {NEW: N_("new"), OLD: N_("old"), MIXED: N_("mixed"), NEGATIVE: N_("absent"), ERROR: N_("error")}


def _state(state: str) -> str:
    return _(STATE_NAMES.get(state, state))


def print_audit(report: AuditReport, out: Reporter) -> None:
    out.event("dns.audit", _("DNS audit of {domain} (asked {servers})").format(
        domain=report.domain, servers=", ".join(s.label for s in report.servers) or "—"),
        domain=report.domain, servers=[s.label for s in report.servers])
    for row in report.rows:
        current = row.current
        shown = ", ".join(current.values) if current and current.values else (
            (current.detail or current.status) if current and current.failed else current.status if current else "—")
        mark = "✓" if not row.needs_change else "✗"
        human = f"  {mark} {row.target.name} {row.target.rdtype}: {_state(row.state)}\n      {_('now')}:    {shown}"
        if row.needs_change:
            human += f"\n      {_('set')}:    " + "\n              ".join(row.target.values) + f"  (TTL {row.target.ttl})"
        out.event("dns.record", human, key=row.target.key, name=row.target.name, type=row.target.rdtype,
                  state=row.state, current=list(current.values) if current else [],
                  status=current.status if current else None, target=list(row.target.values), ttl=row.target.ttl,
                  needs_change=row.needs_change, purpose=row.target.purpose)
    out.event("dns.checks", _("Readiness for the cutover:"))
    marks = {PASS: "✓", FAIL: "✗"}
    for check in report.checks:
        out.event("dns.check", f"  {marks.get(check.status, '!')} {check.title}\n      {check.explanation}",
                  key=check.key, status=check.status, title=check.title, explanation=check.explanation)
    failed = [c for c in report.checks if c.status == FAIL]
    out.event("dns.ready", _("READY for the cutover") if report.ready else
              _("NOT READY: {n} check(s) failed").format(n=len(failed)), ready=report.ready,
              failed=[c.key for c in failed])


def _record_observed(path: Path, report: AuditReport, config: DnsConfig) -> None:
    """Keep facts a later check compares against (the MTA-STS id before the policy changed)."""
    changes = {k: v for k, v in report.observed.items() if config.observed.get(k) != v}
    if not changes:
        return

    def change(project: Project) -> None:
        section = project.sections.setdefault("dns", {})
        section.setdefault("observed", {}).update(changes)

    try:
        store = ProjectStore.open(path, allow_readonly_fallback=False)
    except (ProjectLockedError, ProjectFileError):
        return  # best effort: another mailmig has it open; the next check records it
    with store:
        store.update(change)


def cmd_check(args: argparse.Namespace) -> int:
    project, config = load_config(args.project, args)
    report = asyncio.run(audit(project, config))
    print_audit(report, Reporter(args.json))
    _record_observed(args.project, report, config)
    if not report.ready:
        raise NotReadyError(_("DNS is not ready for the cutover"))
    return 0


def cmd_zone(args: argparse.Namespace) -> int:
    project, config = load_config(args.project, args)
    report = asyncio.run(audit(project, config))
    snippet = zone_snippet(report.rows, report.domain)
    out = Reporter(args.json)
    if args.json:
        out.event("dns.zone", None, zone=snippet)
    else:
        sys.stdout.write(snippet)
    return 0


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def render_snapshot(snap: Snapshot) -> str:
    """A sweep as text lines of at most 80 columns: one per server, the MX first, then the summary."""
    lines = [_("{time}  sweep {seconds:.2f} s").format(time=_hm(snap.at), seconds=snap.sweep_seconds)]
    if snap.auth_converged:
        lines.append(_("authoritative: converged on serial {serial} ({n} servers)").format(
            serial=snap.auth_serial, n=len(snap.authoritative)))
    else:
        lines.append(_("authoritative: NOT converged"))
    for row in snap.authoritative:
        note = _("LAGGING") if row.lagging else (row.status.upper() if row.status != "ok" else "")
        mx = _state(row.states.get("mx", "-")) if row.status == "ok" else "?"
        lines.append(_cut(f"  {row.server.label:<24} {_('serial')} {row.serial or '—':<11} AA={'y' if row.aa else 'n'} "
                          f"MX {mx:<6} {note}", 80))
    keys = [t.key for t in snap.targets if t.key != "mx"]
    for health in snap.resolvers:
        name = health.server.name
        head = f"  {name[:12]:<12} {health.server.label[:21]:<21} "
        o = snap.observation(name, "mx")
        standing = snap.standing.get(name, "")
        if not health.usable or o is None or o.answer.failed:
            status = health.status if not health.usable else (o.answer.status if o else "error")
            since = snap.failing_since.get(name)
            word = _("unreachable") if standing == "unreachable" else _("unknown") if standing == "unknown" else \
                _("new") if standing == "new" else _("failing")
            cell = f"{word}: {status.upper()}" + (" " + _("since {time}").format(time=_hm(since)) if since else "")
        else:
            cell = f"MX {_state(o.state)}"
            if o.ttl is not None:
                cell += f" {o.ttl}s"
            if o.flip_at:
                cell += f"→{_hm(o.flip_at)}"
            others = [k for k in keys if (x := snap.observation(name, k)) is not None and x.state != NEW]
            if others:
                cell += " " + _("+{n} not new").format(n=len(others))
        lines.append(_cut(head + cell, 80))
    lines.append(_cut("  " + snap.progress_text + (" (" + _("unreachable left out") + ")"
                                                    if snap.ignore_unreachable and snap.unreachable else ""), 80))
    history = " ".join(f"{p:.0f}" for _at, p in snap.history[-10:])
    lines.append(_cut("  " + _("% on the new MX: {history}").format(history=history), 80))
    if snap.draining:
        lines.append("  " + _("old MX still handed out by {n}").format(n=snap.draining))
    if snap.safe_to_switch_off is not None:
        lines.append(_cut("  " + (_("safe to switch the old provider off after {time}") if snap.safe_final else
                                  _("switch-off expected after {time} (not yet final)")).format(
            time=_hm(snap.safe_to_switch_off)), 80))
    else:
        lines.append(_cut("  " + _("switch-off: pending — {reason}").format(reason=snap.switch_off_pending), 80))
    return "\n".join(lines)


def cmd_watch(args: argparse.Namespace) -> int:
    project, config = load_config(args.project, args)
    history = WatchHistory(watch_history_path(args.project))  # what each server answered, for the report
    watcher = make_watcher(project, config, history=history)
    watcher.ignore_unreachable = args.ignore_unreachable
    out = Reporter(args.json)
    if not watcher.mx:
        raise UsageError(_("the new provider has no MX in the project (new.mx = []): nothing to watch"))
    if args.ignore_unreachable:
        out.event("dns.note", _("--ignore-unreachable: resolvers that never answer are left out of \"propagated\""),
                  ignore_unreachable=True)

    recorder = WatchRecorder(watcher.clock())
    trouble: list[str] = []

    def record() -> None:
        """Keep `[dns.last_watch]` in the project file when it changed (best effort, said once if not)."""
        if not recorder.due():
            return
        try:
            with open_for_update(args.project) as store:
                store.update(recorder.apply)
            recorder.written()
        except (ProjectLockedError, ProjectFileError, OSError) as exc:
            if not trouble:
                trouble.append(str(exc))
                error_line(_("the watch is not recorded in the project file ([dns.last_watch]): {error}").format(error=exc))

    async def loop() -> int:
        count = 0
        async for snap in watcher.run():
            count += 1
            recorder.observe(snap)
            await asyncio.to_thread(record)
            out.event("dns.snapshot", render_snapshot(snap), **snapshot_to_dict(snap))
            if snap.complete and args.until_propagated:
                left_out = snap.unreachable if snap.ignore_unreachable else []
                text = _("propagated: every resolver answered the new MX") if not left_out else \
                    _("propagated on {n} of {total}; left out, never answered: {names}").format(
                        n=snap.on_new, total=len(snap.standing), names=", ".join(left_out))
                out.event("dns.propagated", text + "\a", complete=True, left_out=left_out,
                          safe_to_switch_off=snap.safe_to_switch_off)
                return 0
            if args.count and count >= args.count:
                return 0 if snap.complete else 1
        return 1

    try:
        return asyncio.run(loop())
    finally:
        history.close()
        if history.problem:
            error_line(_("the watch history was not saved: {problem}").format(problem=history.problem))
        recorder.end(watcher.clock())
        record()
