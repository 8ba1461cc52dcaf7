"""`mailmig notices`: staff notices exported as .eml files, or sent by mail to every member of staff.

    mailmig notices PROJECT [--dir DIR]                 export every notice as .eml (the default action)
    mailmig notices export PROJECT [--dir DIR]
    mailmig notices send PROJECT --notice NAME [--to all|pilots|a@x,…] [--via old|new] [--dry-run]
                         [--resend-uncertain] [--json]

JSON events of `send` (`--json`): `notices.plan`, one `notices.recipient` per recipient (state sent,
already, refused, deferred, uncertain, cancelled or planned) and `notices.summary`. Exit codes: 0 every
recipient has the notice (now or from an earlier run; a dry run that could plan); 1 some were refused,
deferred, uncertain or cancelled, or the sender could not log in; 2 usage; 3 project file; 5 credentials.
"""

from __future__ import annotations

import argparse
import threading
from pathlib import Path

from mailmig_tui.commands.output import Reporter
from mailmig_tui.core import notices
from mailmig_tui.core.credentials import open_credentials, terminal_passphrase_prompt
from mailmig_tui.core.errors import ProjectFileError, UsageError
from mailmig_tui.core.i18n import _
from mailmig_tui.core.mailout import (
    MailoutConfig,
    Outcome,
    SendOptions,
    parse_mailout_section,
    plan_sending,
    send_notice,
)
from mailmig_tui.core.model import Project, SchemaError
from mailmig_tui.core.store import load_project, schema_error


def _state_word(state: str) -> str:
    return {"sent": _("✓ sent"), "already": _("✓ already sent"), "refused": _("✗ refused"),
            "deferred": _("! deferred"), "uncertain": _("? uncertain"), "cancelled": _("■ cancelled"),
            "planned": _("· would send")}.get(state, state)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "notices", help=_("export the staff notices as .eml files, or send one to every member of staff"),
        description=_("`mailmig notices PROJECT` (or `notices export PROJECT`) writes every notice as an .eml file. "
                      "`mailmig notices send PROJECT --notice NAME` sends one notice to each recipient through the old "
                      "or new provider's SMTP, merged per user, with a per-recipient log beside the project so a re-run "
                      "never mails anyone twice. Exit codes: 0 everyone has it; 1 some refused, deferred, uncertain or "
                      "not sent; 2 usage; 3 project file; 5 credentials."))
    p.add_argument("target", metavar="PROJECT|export|send", help=_("the project file, or the action: export, send"))
    p.add_argument("project", type=Path, nargs="?", help=_("the project file, after export or send"))
    p.add_argument("--dir", type=Path, default=None, help=_("export: where to write them (default: beside the project)"))
    p.add_argument("--notice", choices=notices.NOTICE_KINDS, help=_("send: which notice"))
    p.add_argument("--to", default="all", help=_("send: all (default), pilots, or comma-separated emails"))
    p.add_argument("--via", choices=("old", "new"), default="",
                   help=_("send: through the old or new provider's SMTP (default: [mailout] via for the notice)"))
    p.add_argument("--dry-run", action="store_true", help=_("send: list who would get what; send nothing"))
    p.add_argument("--resend-uncertain", action="store_true",
                   help=_("send: resend to recipients whose earlier send was interrupted and not found in their INBOX"))
    p.add_argument("--json", action="store_true", help=_("print one JSON event per line"))
    p.set_defaults(func=cmd_notices)


def _project_arg(args: argparse.Namespace) -> tuple[str, Path]:
    if args.target in ("export", "send"):
        if args.project is None:
            raise UsageError(_("name the project file: mailmig notices {action} PROJECT").format(action=args.target))
        return args.target, args.project
    if args.project is not None:
        raise UsageError(_("unknown action {name!r}: use export or send").format(name=args.target))
    return "export", Path(args.target)


def cmd_notices(args: argparse.Namespace) -> int:
    action, path = _project_arg(args)
    project = load_project(path)
    bad = notices.project_template_problems(project)
    if bad:
        kind, problems = next(iter(bad.items()))
        raise schema_error(path.read_text(encoding="utf-8"), str(path),
                           SchemaError(("notices", kind), "; ".join(problems) + " " + (_("(nothing exported)") if action == "export"
                                                                      else _("(nothing sent)"))))
    if action == "export":
        folder = args.dir or notices.default_folder(path)
        try:
            written = notices.export_all(project, folder)
        except OSError as exc:
            raise ProjectFileError(_("Cannot write notices to {dir}: {error}").format(dir=folder, error=exc.strerror)) from None
        reporter = Reporter(args.json)
        for written_path in written:
            reporter.event("notice", str(written_path), path=str(written_path))
        return 0
    if not args.notice:
        raise UsageError(_("say which notice to send: --notice {kinds}").format(kinds="|".join(notices.NOTICE_KINDS)))
    return _send(args, project, path)


def mailout_config(project: Project, path: Path) -> MailoutConfig:
    try:
        return parse_mailout_section(project.sections.get("mailout"))
    except SchemaError as exc:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            text = ""
        raise schema_error(text, str(path), exc) from None


def _send(args: argparse.Namespace, project: Project, path: Path) -> int:
    out = Reporter(args.json)
    config = mailout_config(project, path)
    options = SendOptions(args.notice, args.to, args.via, args.dry_run, args.resend_uncertain)
    creds = open_credentials(terminal_passphrase_prompt)

    def on_event(outcome: Outcome) -> None:
        out.event("notices.recipient", f"  {_state_word(outcome.state):<16} {outcome.recipient}"
                  + (f"  {outcome.detail}" if outcome.detail and outcome.state not in ("sent", "already") else ""),
                  recipient=outcome.recipient, state=outcome.state, detail=outcome.detail)

    plan = plan_sending(project, config, options)
    label = _(notices.NOTICE_LABELS[plan.notice])
    out.event("notices.plan", (_("Dry run: nothing is sent. ") if options.dry_run else "") + _(
        "{notice} to {n} recipients from {sender} through the {via} provider's SMTP, at most {rate:g} a minute").format(
            notice=label, n=len(plan.recipients), sender=plan.sender, via=plan.via, rate=plan.rate_per_minute),
        notice=plan.notice, recipients=len(plan.recipients), sender=plan.sender, via=plan.via,
        rate_per_minute=plan.rate_per_minute, dry_run=options.dry_run)
    summary = send_notice(project, path, creds, config, options, on_event, threading.Event())
    counts = {state: summary.count(state) for state in
              ("sent", "already", "refused", "deferred", "uncertain", "cancelled", "planned")}
    out.event("notices.summary", _("{sent} sent now, {already} already had it, {refused} refused, {deferred} deferred, "
                                   "{uncertain} uncertain, {cancelled} not sent").format(**counts),
              **counts, seconds=round(summary.seconds, 3), complete=summary.complete)
    if options.dry_run:
        return 0
    return 0 if summary.complete else 1
