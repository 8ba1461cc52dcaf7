"""`mailmig golive`: the switch-off gate, and marking go-live done (through the gate or an override).

    mailmig golive check PROJECT [--json]
    mailmig golive final-delta PROJECT [--force] [--json]
    mailmig golive rollback PROJECT [--plan] [--json]
    mailmig golive done PROJECT [--old-provider-off] [--override --reason TEXT]

JSON events of `check`: one `golive.condition` per condition (key, status ok/fail, evidence, at) and
`golive.gate` (passed); `final-delta` and `rollback` emit the copy's events (as `mailmig copy --json`)
then `golive.stragglers` / `golive.rollback`. Exit codes: `check` 0 only when every condition holds, 1
otherwise; `final-delta` 0 when every user's delta ran and nothing new arrived since, 1 otherwise (also
when the old MX has not drained yet, without --force); `rollback` 0 when every user's mail went back;
`done` 0 when marked, 1 when the gate fails and no override was given; 2 usage; 3 project file; 4
project locked; 5 credentials.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mailmig_tui.commands.output import Reporter
from mailmig_tui.core.credentials import open_credentials, terminal_passphrase_prompt
from mailmig_tui.core.dns.project import project_config
from mailmig_tui.core.golive import check_gate, mark_done, record_gate
from mailmig_tui.core.golive.gate import SYMBOLS, Condition
from mailmig_tui.core.i18n import _
from mailmig_tui.core.model import now
from mailmig_tui.core.store import ProjectStore


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("golive", help=_("go-live: the switch-off gate and marking go-live done"),
                       description=_("`check` lists every condition for switching the old provider off with its "
                                     "evidence and exits 0 only when all hold; `done` marks the Go-live phase done "
                                     "(or, with --old-provider-off, the old provider switched off), which needs a "
                                     "passing gate or an explicit --override with a --reason that is recorded."))
    actions = p.add_subparsers(dest="golive_action", metavar="ACTION", required=True)
    c = actions.add_parser("check", help=_("check every go-live condition now"))
    c.add_argument("project", type=Path)
    c.add_argument("--json", action="store_true", help=_("print one JSON event per line"))
    c.set_defaults(func=cmd_check)
    f = actions.add_parser("final-delta", help=_("copy what still arrived at the old provider, after the old MX drained"))
    f.add_argument("project", type=Path)
    f.add_argument("--force", action="store_true", help=_("run even though the gate has not seen the old MX drain"))
    f.add_argument("--json", action="store_true", help=_("print one JSON event per line"))
    f.set_defaults(func=cmd_final_delta)
    r = actions.add_parser("rollback", help=_("undo go-live: the DNS records to restore, and mail copied back new → old"))
    r.add_argument("project", type=Path)
    r.add_argument("--plan", action="store_true", help=_("only print what to restore and what would be copied back"))
    r.add_argument("--json", action="store_true", help=_("print one JSON event per line"))
    r.set_defaults(func=cmd_rollback)
    d = actions.add_parser("done", help=_("mark go-live done (or the old provider switched off)"))
    d.add_argument("project", type=Path)
    d.add_argument("--old-provider-off", action="store_true", help=_("record the old provider as switched off instead"))
    d.add_argument("--override", action="store_true", help=_("go ahead although the gate fails (recorded)"))
    d.add_argument("--reason", default="", help=_("why, when overriding a failing gate"))
    d.set_defaults(func=cmd_done)


def format_condition(c: Condition) -> str:
    return f"{SYMBOLS[c.status]} {c.title}\n    {c.evidence}"


def cmd_check(args: argparse.Namespace) -> int:
    out = Reporter(args.json)
    store = ProjectStore.open(args.project)
    try:
        project = store.project
        dns_config = project_config(project, store.path)
        creds = open_credentials(terminal_passphrase_prompt)
        result = check_gate(project, store.path, creds, dns_config)
        for c in result.conditions:
            out.event("golive.condition", format_condition(c), key=c.key, status=c.status, title=c.title,
                      evidence=c.evidence, at=c.at)
        if not store.readonly:
            store.update(lambda p: record_gate(p, result))
        out.event("golive.gate", _("✓ Safe to switch the old provider off.") if result.passed else
                  _("✗ Not safe to switch off: {n} of {total} conditions fail.").format(
                      n=len(result.failing), total=len(result.conditions)), passed=result.passed,
                  failing=[c.key for c in result.failing])
    finally:
        store.close()
    return 0 if result.passed else 1


def cmd_done(args: argparse.Namespace) -> int:
    store = ProjectStore.open(args.project)
    try:
        what = "old_provider_off" if args.old_provider_off else "go_live"
        overridden = store.update(lambda p: mark_done(p, what=what, override=args.override, reason=args.reason))
    finally:
        store.close()
    if overridden:
        print(_("Marked {what} against a failing gate; the override is recorded (who, when, why, {n} failing "
                "conditions).").format(what=what, n=len(overridden)))
    else:
        print(_("Marked {what}: the gate passed.").format(what=what))
    return 0


def cmd_final_delta(args: argparse.Namespace) -> int:
    from mailmig_tui.commands.copy import CopyPrinter
    from mailmig_tui.core.golive.delta import final_delta, record_final_delta
    from mailmig_tui.core.golive.gate import straggler_conditions

    out = Reporter(args.json)
    store = ProjectStore.open(args.project)
    try:
        project = store.project
        creds = open_credentials(terminal_passphrase_prompt)
        result = final_delta(project, store.path, creds, force=args.force, on_event=CopyPrinter(out, "old"))
        store.update(lambda p: record_final_delta(p, result))
        observed = dict((store.project.sections.get("golive") or {}).get("observed") or {})
        conditions = straggler_conditions(store.project, creds, observed, now())
        for c in conditions:
            out.event("golive.condition", format_condition(c), key=c.key, status=c.status, title=c.title,
                      evidence=c.evidence, at=c.at)
        stragglers = next(c for c in conditions if c.key == "stragglers")
        out.event("golive.stragglers", None, status=stragglers.status, evidence=stragglers.evidence)
    finally:
        store.close()
    ok = result.summary.users_failed == 0 and result.summary.users_cancelled == 0 and stragglers.status == "ok"
    return 0 if ok else 1


def cmd_rollback(args: argparse.Namespace) -> int:
    from mailmig_tui.commands.copy import CopyPrinter
    from mailmig_tui.core.golive.delta import reverse_copy, rollback_plan

    out = Reporter(args.json)
    store = ProjectStore.open(args.project)
    try:
        project = store.project
        plan = rollback_plan(project, store.path, project_config(project, store.path))
        out.event("golive.rollback.dns", _("DNS records to restore (point the domain back at {old}):").format(
            old=project.old.name or project.old.preset), records=[line for _t, line in plan.records])
        for target, line in plan.records:
            out.event("golive.rollback.record", f"  {line}", key=target.key, name=target.name, type=target.rdtype,
                      line=line)
        since = plan.since.strftime("%Y-%m-%d %H:%M %z") if plan.since else _("the beginning (no cutover date in the plan)")
        out.event("golive.rollback.copy", _("Mail that arrived at the new provider since {since} is copied back to the "
                                            "old provider for {n} users (identity map: {dir}); what the forward copy put "
                                            "there is left out.").format(since=since, n=len(plan.users), dir=plan.copy_dir),
                  since=plan.since, users=plan.users, copy_dir=str(plan.copy_dir))
        if args.plan:
            return 0
        creds = open_credentials(terminal_passphrase_prompt)
        result = reverse_copy(project, store.path, creds, on_event=CopyPrinter(out, "old"))
        if not store.readonly:
            store.update(lambda p: p.log(_("rolled back: {n} messages copied back to the old provider").format(
                n=result.summary.messages)))
    finally:
        store.close()
    return 0 if result.summary.users_failed == 0 and result.summary.users_cancelled == 0 else 1
