"""`mailmig copy`: the headless face of core/copy (`mailmig verify --copy` is in commands/backup.py).

JSON events (`--json`, one per line): started (users, dir, workers, phase, source), user_started,
plan (user, folders: [{source, target, action, reason, renamed}]), user_planned, folder, folder_done
(copied, already, rekeyed, flags_updated, recovered), progress (at most 4 a second, cumulative), retry,
user_done, error, summary. With --plan only `plan` (and `error`) events, then `summary`.

Exit codes: 0 every user copied (or planned); 1 a user failed; 2 usage; 3 project file (a bad [copy]
section included); 4 project or identity map in use by another mailmig; 5 credentials; 130 interrupted.
"""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path
from typing import Any

from mailmig_tui.commands.output import Reporter, RunPrinter, first_ctrl_c_stops
from mailmig_tui.core.backup.engine import default_dest, select_users
from mailmig_tui.core.backup.summary import human_bytes
from mailmig_tui.core.copy.config import default_copy_dir, project_copy_config
from mailmig_tui.core.copy.engine import CopyEngine, CopyOptions, FolderCopied, UserFolders, plan_user
from mailmig_tui.core.copy.folders import FolderMapping
from mailmig_tui.core.copy.summary import phase_label, record_copy_run
from mailmig_tui.core.credentials import open_credentials, terminal_passphrase_prompt
from mailmig_tui.core.errors import MailmigError, ProjectLockedError, UsageError
from mailmig_tui.core.i18n import _
from mailmig_tui.core.imap.session import FatalUserError
from mailmig_tui.core.model import Project, now
from mailmig_tui.core.runs import (
    Controls,
    FolderStarted,
    Progress,
    Retrying,
    RunStarted,
    RunSummary,
    UserDone,
    UserPlanned,
    UserStarted,
)
from mailmig_tui.core.store import ProjectStore

EXIT_CODES = _("Exit codes: 0 every user copied; 1 a user failed; 2 usage; 3 project file (or its [copy] section); "
               "4 project or identity map in use; 5 credentials; 130 interrupted.")


class Interrupted(MailmigError):
    exit_code = 130


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "copy", help=_("copy every user's mail to the new provider (pre-stage before the MX cutover, delta after)"),
        description=_("Copy all (or the named) users' mail to the new provider: every folder (special-use folders "
                      "mapped to the target's own), flags and keywords, INTERNALDATE, byte-identical messages. "
                      "Incremental: an identity map beside the project remembers what was copied, so a re-run sends "
                      "only what is new and never a duplicate, even after a crash. ") + EXIT_CODES)
    p.add_argument("project", type=Path)
    add_copy_arguments(p)
    p.add_argument("--workers", type=int, default=0,
                   help=_("users copied in parallel (default and maximum: the providers' max_connections)"))
    p.add_argument("--plan", action="store_true", help=_("print each user's folder mapping (source → target, why) and stop"))
    p.add_argument("--dry-run", action="store_true", help=_("scan both sides and count what would be copied; write nothing"))
    p.add_argument("--json", action="store_true", help=_("print one JSON event per line"))
    p.set_defaults(func=cmd_copy)


def add_copy_arguments(p: argparse.ArgumentParser) -> None:
    """The options `copy` and `verify --copy` share."""
    p.add_argument("--users", help=_("comma-separated emails of the users (default: all)"))
    p.add_argument("--source", choices=["old", "archive"], default="old",
                   help=_("read from the old provider (default) or from the local backup archive"))
    p.add_argument("--since", type=_date, help=_("only messages whose INTERNALDATE is on or after this day (YYYY-MM-DD)"))
    p.add_argument("--archive", type=Path, help=_("backup archive for --source archive (default: as for backup)"))
    p.add_argument("--copy-dir", type=Path, help=_("identity map folder (default: [copy] dir, else <project>.copy beside it)"))


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(_("expected a date YYYY-MM-DD, found {value!r}").format(value=text)) from None


def _users_arg(value: str | None) -> list[str] | None:
    if not value:
        return None
    return [v.strip() for v in value.split(",") if v.strip()]


def options_from_args(store: ProjectStore, args: argparse.Namespace) -> CopyOptions:
    project = store.project
    config = project_copy_config(project, store.path)
    if getattr(args, "workers", 0) < 0:
        raise UsageError(_("--workers must be positive"))
    return CopyOptions(
        users=_users_arg(args.users), workers=getattr(args, "workers", 0), source=args.source, since=args.since,
        dry_run=getattr(args, "dry_run", False),
        copy_dir=(args.copy_dir or default_copy_dir(store.path, config)).absolute(),
        archive=(args.archive or default_dest(store.path, project)).absolute(), project_path=store.path, config=config)


class CopyPrinter(RunPrinter):
    def __init__(self, out: Reporter, source: str) -> None:
        super().__init__(out)
        self.source = source

    def __call__(self, e: Any) -> None:
        out = self.out
        if isinstance(e, Progress):
            self.progress(e)
        elif isinstance(e, RunStarted):
            out.event("started", _("Copying {n} users ({phase}, from the {source}) with {w} connections; identity map in {dest}").format(
                n=len(e.users), phase=phase_label(e.phase), source=_source_word(self.source), w=e.workers, dest=e.dest),
                users=list(e.users), dir=e.dest, workers=e.workers, phase=e.phase, source=self.source)
        elif isinstance(e, UserStarted):
            out.event("user_started", None, user=e.user)
        elif isinstance(e, UserFolders):
            emit_plan(out, e.user, list(e.mappings), human=False)
        elif isinstance(e, UserPlanned):
            self.planned(e.messages, e.bytes)
            out.event("user_planned", _("{user}: {folders} folders, {messages} messages ({bytes}) to copy").format(
                user=e.user, folders=e.folders, messages=e.messages, bytes=human_bytes(e.bytes)),
                user=e.user, folders=e.folders, messages=e.messages, bytes=e.bytes)
        elif isinstance(e, FolderStarted):
            out.event("folder", None, user=e.user, folder=e.folder, messages=e.messages, bytes=e.bytes, on_source=e.on_server)
        elif isinstance(e, FolderCopied):
            extra = []
            if e.flags_updated:
                extra.append(_("{n} flag changes").format(n=e.flags_updated))
            if e.rekeyed:
                extra.append(_("{n} matched after a UIDVALIDITY change").format(n=e.rekeyed))
            if e.recovered:
                extra.append(_("{n} recovered from an interrupted run").format(n=e.recovered))
            out.event("folder_done", _("  {folder} → {target}: {copied} copied, {already} already there{extra}").format(
                folder=e.folder, target=e.target, copied=e.copied, already=e.already,
                extra=(", " + ", ".join(extra)) if extra else "") if (e.copied or extra) else None,
                user=e.user, folder=e.folder, target=e.target, copied=e.copied, already=e.already, rekeyed=e.rekeyed,
                flags_updated=e.flags_updated, recovered=e.recovered)
        elif isinstance(e, Retrying):
            out.event("retry", _("{user}: connection problem ({reason}); retrying in {delay:.1f}s (attempt {n})").format(
                user=e.user, reason=e.reason, delay=e.delay, n=e.attempt), user=e.user, reason=e.reason,
                attempt=e.attempt, delay=e.delay)
        elif isinstance(e, UserDone):
            self.failed(e)
            out.event("user_done", _("{user}: {state}, {messages} messages copied, {bytes}").format(
                user=e.user, state=_state(e.state), messages=e.messages, bytes=human_bytes(e.bytes))
                if e.state != "failed" else None,
                user=e.user, state=e.state, messages=e.messages, bytes=e.bytes, seconds=round(e.seconds, 3), error=e.error)
        elif isinstance(e, RunSummary):
            out.event("summary", _("Copied {messages} messages ({bytes}) in {secs:.1f}s: {rate:.0f} msg/s, {mbs:.1f} MB/s; "
                                   "{ok} users done, {failed} failed, {cancelled} cancelled").format(
                messages=e.messages, bytes=human_bytes(e.bytes), secs=e.seconds, rate=e.messages_per_second,
                mbs=e.megabytes_per_second, ok=e.users_ok, failed=e.users_failed, cancelled=e.users_cancelled),
                users_ok=e.users_ok, users_failed=e.users_failed, users_cancelled=e.users_cancelled,
                messages=e.messages, bytes=e.bytes, seconds=round(e.seconds, 3),
                messages_per_second=round(e.messages_per_second, 1), megabytes_per_second=round(e.megabytes_per_second, 2),
                errors=[{"user": u, "reason": r} for u, r in e.errors])


def _source_word(source: str) -> str:
    return _("old provider") if source == "old" else _("backup archive")


def _state(state: str) -> str:
    return {"done": _("done"), "failed": _("failed"), "cancelled": _("cancelled")}.get(state, state)


def action_word(action: str) -> str:
    return {"copy": _("copy"), "exclude": _("excluded"), "skip": _("skipped")}.get(action, action)


def emit_plan(out: Reporter, user: str, mappings: list[FolderMapping], human: bool = True) -> None:
    lines = [_("{user}: {n} folders").format(user=user, n=len(mappings))]
    for m in mappings:
        target = m.target_name if m.action == "copy" else "—"
        mark = " " + _("(new)") if m.action == "copy" and not m.exists else ""
        lines.append(f"  {m.source_name} → {target}{mark}  [{action_word(m.action)}: {m.describe()}]")
    out.event("plan", "\n".join(lines) if human else None, user=user, folders=[
        {"source": m.source_name, "target": m.target_name, "action": m.action, "reason": m.describe(),
         "renamed": m.renamed, "role": m.role, "exists": m.exists} for m in mappings])


def _save(store: ProjectStore, change: Any, out: Reporter) -> None:
    try:
        store.update(change)
    except (ProjectLockedError, MailmigError) as exc:
        out.event("warning", _("warning: result not saved in the project: {error}").format(error=exc), message=str(exc))


def cmd_copy(args: argparse.Namespace) -> int:
    out = Reporter(args.json)
    store = ProjectStore.open(args.project)
    try:
        project = store.project
        if not project.users:
            raise UsageError(_("the project has no users; add them with `mailmig users import`"))
        options = options_from_args(store, args)
        select_users(project, options.users)  # a user not in the project is a usage error, before anything
        creds = open_credentials(terminal_passphrase_prompt)
        if args.plan:
            return _plan(out, project, creds, options)
        controls = Controls()
        engine = CopyEngine(project, creds, options, controls, CopyPrinter(out, options.source))

        started = now()
        with first_ctrl_c_stops(out, controls.cancel, _("stopping after the current batch (Ctrl-C again to abort)")):
            summary = engine.run()
        if not store.readonly and not options.dry_run:
            users = list(engine.results.values())
            finished = now()
            _save(store, lambda p: record_copy_run(p, summary, users, started, finished, engine.phase, options.source), out)
        if summary.users_cancelled:
            raise Interrupted(_("interrupted; run the same command again to resume"))
        return 1 if summary.users_failed else 0
    finally:
        store.close()


def _plan(out: Reporter, project: Project, creds: Any, options: CopyOptions) -> int:
    failed = 0
    for user in select_users(project, options.users):
        try:
            emit_plan(out, user.email, plan_user(project, creds, user.email, options))
        except FatalUserError as exc:
            failed += 1
            out.event("error", _("{user}: FAILED: {reason}").format(user=user.email, reason=exc), user=user.email, reason=str(exc))
    n = len(select_users(project, options.users))
    out.event("summary", _("Planned {n} users, {failed} failed; nothing was written").format(n=n, failed=failed),
              users=n, users_failed=failed)
    return 1 if failed else 0


def cmd_verify_copy(args: argparse.Namespace) -> int:
    """`mailmig verify PROJECT --copy`: exit 0 when every user's target matches its source, else 1."""
    from mailmig_tui.commands.backup import _width
    from mailmig_tui.core.copy.summary import record_copy_verify
    from mailmig_tui.core.copy.verify import CopyCheck, FolderCopyCheck, verify_copy

    out = Reporter(args.json)
    if args.since and not isinstance(args.since, date):
        try:
            args.since = date.fromisoformat(args.since)
        except ValueError:
            raise UsageError(_("--since: expected a date YYYY-MM-DD, found {value!r}").format(value=args.since)) from None
    if args.workers < 0:
        raise UsageError(_("--workers must be positive"))
    args.archive = getattr(args, "dest", None)
    store = ProjectStore.open(args.project)
    try:
        project = store.project
        options = options_from_args(store, args)
        select_users(project, options.users)
        creds = open_credentials(terminal_passphrase_prompt)

        def on_event(e: Any) -> None:
            if isinstance(e, FolderCopyCheck):
                out.event("folder", None, user=e.user, folder=e.source_folder, target=e.target_folder,
                          source=e.source_count, target_count=e.target_count, missing=e.n_missing, extra=e.n_extra,
                          different=e.n_different, missing_list=e.missing, extra_list=e.extra, different_list=e.different)
            elif isinstance(e, CopyCheck):
                out.event("user", None, user=e.user, ok=e.ok, folders=e.folders, source=e.source_messages,
                          target=e.target_messages, missing=e.missing, extra=e.extra, different=e.different,
                          error=e.error, details=e.details[:200])

        results = verify_copy(project, creds, options, on_event)
        bad = [r for r in results if not r.ok]
        if not out.json_mode:
            headers = [_("user"), _("folders"), _("source"), _("target"), _("missing"), _("extra"), _("different"), _("result")]
            rows = [[r.user, str(r.folders), str(r.source_messages), str(r.target_messages), str(r.missing), str(r.extra),
                     str(r.different), _("OK") if r.ok else (_("ERROR") if r.error else _("DIFFERENT"))] for r in results]
            widths = [max(_width(c) for c in col) for col in zip(headers, *rows, strict=False)]
            for i, row in enumerate([headers, *rows]):
                print("  ".join(c + " " * (w - _width(c)) if j == 0 else " " * (w - _width(c)) + c
                                for j, (c, w) in enumerate(zip(row, widths, strict=True))).rstrip())
                if i == 0:
                    print("  ".join("-" * w for w in widths))
            for r in bad:
                for line in ([r.error] if r.error else []) + r.details[:50]:
                    print(f"  {r.user}: {line}")
                if len(r.details) > 50:
                    print("  " + _("{user}: … and {n} more (see --json)").format(user=r.user, n=len(r.details) - 50))
        out.event("summary", _("{ok} of {n} users' copies verified without difference").format(
            ok=len(results) - len(bad), n=len(results)),
            users=len(results), users_ok=len(results) - len(bad), users_with_differences=len(bad))
        if not store.readonly:
            at = now()
            _save(store, lambda p: record_copy_verify(p, results, at), out)
        return 1 if bad else 0
    finally:
        store.close()
