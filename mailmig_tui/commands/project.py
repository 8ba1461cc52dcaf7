"""Project commands: new, demo, status, phase, presets.

`mailmig phase PROJECT PHASE STATUS [--force]` sets a phase's status by hand. A status that does not agree
with the phase's facts (core/facts.py) is refused with exit 2 unless --force; forced, the activity log
keeps the facts it overrode.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mailmig_tui.commands.output import have_terminal
from mailmig_tui.core import dashboard
from mailmig_tui.core.endpoints import EndpointChange, EndpointError, apply_change, parse_host_port
from mailmig_tui.core.errors import UsageError
from mailmig_tui.core.facts import derive_one, set_status
from mailmig_tui.core.i18n import _
from mailmig_tui.core.phases import Phase, PhaseStatus
from mailmig_tui.core.presets import preset_names, preset_provider
from mailmig_tui.core.project_factory import create_demo, new_project, project_filename
from mailmig_tui.core.store import ProjectStore, load_project, open_for_update


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("new", help=_("create a project file for a domain"))
    p.add_argument("domain", help=_("the email domain being migrated, e.g. corp.example"))
    p.add_argument("--from", dest="old", default="generic-imap", metavar="PRESET",
                   help=_("the old provider's preset (see `mailmig presets`)"))
    p.add_argument("--to", dest="new", default="generic-imap", metavar="PRESET", help=_("the new provider's preset"))
    p.add_argument("--dir", type=Path, default=Path.cwd(), help=_("where to write the project file"))
    p.add_argument("--force", action="store_true", help=_("overwrite an existing project file (a .bak is kept)"))
    for side in ("old", "new"):
        for proto in ("imap", "smtp"):
            p.add_argument(f"--{side}-{proto}", metavar="HOST[:PORT]",
                           help=_("the {side} provider's {proto} server (overrides the preset)").format(
                               side=side, proto=proto.upper()))
    p.set_defaults(func=cmd_new)

    p = sub.add_parser("demo", help=_("open a realistic demo project (a copy in a temp folder)"))
    p.add_argument("--dir", type=Path, default=None, help=_("write the demo project here instead of a temp folder"))
    p.add_argument("--no-open", action="store_true", help=_("only write the demo project and print its path"))
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("status", help=_("print the dashboard as plain text"))
    p.add_argument("project", type=Path)
    p.add_argument("--json", action="store_true", help=_("print JSON instead of text"))
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("phase", help=_("set a phase's status (against the facts only with --force)"))
    p.add_argument("project", type=Path)
    p.add_argument("phase", choices=[ph.value for ph in Phase], help=_("the phase"))
    p.add_argument("status", choices=[st.value for st in PhaseStatus], help=_("the status to set"))
    p.add_argument("--force", action="store_true",
                   help=_("set it even though the facts say otherwise (logged with the facts overridden)"))
    p.set_defaults(func=cmd_phase)

    p = sub.add_parser("presets", help=_("list the provider presets"))
    p.set_defaults(func=cmd_presets)


def cmd_new(args: argparse.Namespace) -> int:
    project = new_project(args.domain, args.old, args.new, language=args.lang or "")
    try:
        for side, provider in (("old", project.old), ("new", project.new)):
            change = EndpointChange()
            for proto in ("imap", "smtp"):
                value = getattr(args, f"{side}_{proto}")
                if value:
                    host, port = parse_host_port(value, f"--{side}-{proto}")
                    setattr(change, f"{proto}_host", host)
                    setattr(change, f"{proto}_port", port)
            apply_change(provider, change)
    except EndpointError as exc:
        raise UsageError(str(exc)) from None
    path = args.dir / project_filename(project.domain)
    store = ProjectStore.create(path, project, overwrite=args.force)
    store.close()
    print(_("wrote {path}").format(path=path))
    for side, provider in (("old", project.old), ("new", project.new)):
        if not provider.imap.host:
            print(_("the {side} provider has no IMAP server yet: set it with `mailmig provider set {path} {side} "
                    "--imap-host HOST --imap-port PORT`").format(side=side, path=path))
    from mailmig_tui.core.oauth.advice import project_advice

    for side, warning in project_advice(project):
        print(_("warning: the {side} provider: {warning}").format(side=_(side), warning=warning))
    print(_("open it with: mailmig {path}").format(path=path))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    if args.dir:
        args.dir.mkdir(parents=True, exist_ok=True)
    path = create_demo(args.dir, language=args.lang or "")
    if args.no_open:
        print(path)
        return 0
    if not have_terminal():
        print(path)
        raise UsageError(_("not a terminal: the demo project was written to {path} but the TUI was not opened "
                           "(open it with `mailmig {path}` in a terminal)").format(path=path))
    from mailmig_tui.ui.app import run_app  # textual is imported only when the TUI opens

    return run_app(path, demo=True)


def cmd_status(args: argparse.Namespace) -> int:
    project = load_project(args.project)
    board = dashboard.build(project, path=args.project)
    if args.json:
        print(json.dumps({
            "domain": board.domain,
            "old_provider": board.old_name,
            "new_provider": board.new_name,
            "users": board.users,
            "next_milestone": board.next_milestone,
            "overall": {"done": board.overall.done, "total": board.overall.total},
            "phases": [{
                "phase": r.phase.value, "status": r.status.value, "done": r.progress.done,
                "total": r.progress.total, "overdue": r.overdue, "next": [i.title for i in r.next_items],
                "facts": {"status": r.fact.status.value, "evidence": r.fact.evidence,
                          "at": r.fact.at.isoformat() if r.fact.at else None},
                "agrees_with_facts": r.agrees,
            } for r in board.rows],
            "plan_problems": board.plan_problems,
        }, ensure_ascii=False, indent=2))
    else:
        print(dashboard.render_text(board))
        from mailmig_tui.core.matrix.results import dashboard_line

        line = dashboard_line(project)
        if line:
            print(line)
    return 0


def cmd_phase(args: argparse.Namespace) -> int:
    phase, status = Phase(args.phase), PhaseStatus(args.status)
    if phase == Phase.GO_LIVE and status == PhaseStatus.DONE:
        raise UsageError(_("go-live is marked done through the gate: `mailmig golive done {path}` (with --override "
                           "--reason \"…\" when the gate fails)").format(path=args.project))
    with open_for_update(args.project) as store:
        fact = derive_one(store.project, phase, args.project)
        forced = store.update(lambda project: set_status(project, phase, status, fact, confirmed=args.force))
    print(_("{phase}: {status}").format(phase=phase.label, status=f"{status.symbol} {status.label}"))
    if forced:
        print(_("set against the facts ({facts}); logged").format(facts=fact.describe()))
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    for name in preset_names():
        provider = preset_provider(name, "corp.example")
        print(f"{name:<18} {provider.name}")
        print(f"{'':<18} IMAP {provider.imap.describe()}  SMTP {provider.smtp.describe()}")
    return 0
