"""`mailmig golive`: the switch-off gate, and marking go-live done (through the gate or an override).

    mailmig golive check PROJECT [--json]
    mailmig golive done PROJECT [--old-provider-off] [--override --reason TEXT]

JSON events of `check`: one `golive.condition` per condition (key, status ok/fail, evidence, at) and
`golive.gate` (passed). Exit codes: `check` 0 only when every condition holds, 1 otherwise; `done` 0
when marked, 1 when the gate fails and no override was given; 2 usage; 3 project file; 4 project
locked; 5 credentials.
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
