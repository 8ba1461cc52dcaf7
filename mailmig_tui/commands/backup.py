"""`mailmig backup` and `mailmig verify`: the headless face of core/backup.

JSON events (`--json`, one per line): backup emits started, user_started, user_planned, folder,
progress (at most 4 a second, cumulative), retry (the user is waiting for the server: reason, next
try, give-up time), reconnected, user_done, error, summary; verify emits folder, user (one per user)
and summary; `verify --repair` then emits repair, the backup events of the repair run, and a second
round of verify events (`"pass": "after repair"`). Exit codes as in cli.py: 0 all good; 1 a user failed or verify found a
difference; 2 usage; 3 project file; 4 project or archive locked; 5 credentials; 130 interrupted.
"""

from __future__ import annotations

import argparse
import signal
from pathlib import Path
from typing import Any

from mailmig_tui.commands.output import Reporter, RunPrinter, first_ctrl_c_stops
from mailmig_tui.core.backup.config import project_settings
from mailmig_tui.core.backup.engine import (
    BackupEngine,
    BackupOptions,
    Controls,
    FolderStarted,
    Progress,
    Reconnected,
    Retrying,
    RunStarted,
    RunSummary,
    UserDone,
    UserPlanned,
    UserStarted,
    default_dest,
)
from mailmig_tui.core.backup.summary import human_bytes, record_result, run_record, verify_record
from mailmig_tui.core.backup.verify import FolderCheck, UserCheck, repair_archive, verify_archive
from mailmig_tui.core.credentials import open_credentials, terminal_passphrase_prompt
from mailmig_tui.core.errors import MailmigError, ProjectLockedError, UsageError
from mailmig_tui.core.i18n import _
from mailmig_tui.core.model import now
from mailmig_tui.core.store import ProjectStore


class Interrupted(MailmigError):
    exit_code = 130


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "backup", help=_("back up every user's mailbox from the old provider to a local Maildir archive"),
        description=_("Back up all (or the named) users' mailboxes from the old provider into one Maildir per "
                      "user, with an index for incremental runs and verification. Safe to interrupt and run "
                      "again: it resumes where it stopped. Exit codes: 0 all users backed up; 1 a user failed; "
                      "2 usage; 3 project file; 4 project or archive in use; 5 credentials; 130 interrupted."))
    p.add_argument("project", type=Path)
    p.add_argument("--users", help=_("comma-separated emails of the users to back up (default: all)"))
    p.add_argument("--dest", type=Path, help=_("archive folder (default: [backup] dest in the project, else "
                                               "<domain>-backup beside the project file)"))
    p.add_argument("--workers", type=int, default=0,
                   help=_("parallel connections (default and maximum: the provider's max_connections)"))
    p.add_argument("--full-scan", action="store_true",
                   help=_("scan every folder, even those whose STATUS says nothing changed since the last run"))
    p.add_argument("--json", action="store_true", help=_("print one JSON event per line"))
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser(
        "verify", help=_("prove the backup complete: server against archive, every file against its checksum"),
        description=_("For each user and folder, compare what the server has (count, UIDs, sizes) with the "
                      "archive, and check every archived file against its sha256. With --repair, fetch exactly "
                      "the messages that are missing or differ again, then verify again. Exit codes: 0 no "
                      "difference (after the repair, with --repair); 1 a difference or a user that could not be "
                      "checked; 2-5 as for backup; 130 interrupted. With --copy it proves the copy to the new "
                      "provider instead (see `mailmig copy --help`)."))
    p.add_argument("project", type=Path)
    p.add_argument("--users", help=_("comma-separated emails of the users to check (default: all)"))
    p.add_argument("--dest", type=Path, help=_("archive folder (default: as for backup)"))
    p.add_argument("--workers", type=int, default=0, help=_("parallel connections"))
    p.add_argument("--repair", action="store_true",
                   help=_("fetch again exactly the messages that are missing or differ, then verify again"))
    p.add_argument("--json", action="store_true", help=_("print one JSON event per line"))
    # `--copy` proves the copy to the new provider instead (commands/copy.py does the work).
    p.add_argument("--copy", action="store_true", help=_("prove the copy to the new provider: per user and folder, "
                                                         "source against target by content hash"))
    p.add_argument("--source", choices=["old", "archive"], default="old",
                   help=_("with --copy: compare with the old provider (default) or the backup archive (--dest)"))
    p.add_argument("--since", help=_("with --copy: only source messages on or after this day, as copied"))
    p.add_argument("--copy-dir", type=Path, help=_("with --copy: the identity map folder (for its [copy] settings)"))
    p.set_defaults(func=cmd_verify)


def _users_arg(value: str | None) -> list[str] | None:
    if not value:
        return None
    return [v.strip() for v in value.split(",") if v.strip()]


def _open(path: Path) -> ProjectStore:
    # Read-only is fine for the work itself (another mailmig may have the project open); only the
    # summary save needs the lock, and we say so if we cannot.
    return ProjectStore.open(path)


def _save_section(store: ProjectStore, key: str, value: dict[str, Any], dest: Path, out: Reporter) -> None:
    try:
        store.update(lambda project: record_result(project, key, value, dest))
    except (ProjectLockedError, MailmigError) as exc:
        out.event("warning", _("warning: result not saved in the project: {error}").format(error=exc), message=str(exc))


class _BackupPrinter(RunPrinter):

    def __call__(self, e: Any) -> None:
        out = self.out
        if isinstance(e, Progress):
            self.progress(e)
        elif isinstance(e, RunStarted):
            out.event("started", _("Backing up {n} users to {dest} with {w} connections").format(
                n=len(e.users), dest=e.dest, w=e.workers), users=list(e.users), dest=e.dest, workers=e.workers)
        elif isinstance(e, UserStarted):
            out.event("user_started", None, user=e.user)
        elif isinstance(e, UserPlanned):
            self.planned(e.messages, e.bytes)
            text = _("{user}: {folders} folders, {messages} new messages ({bytes}) to fetch").format(
                user=e.user, folders=e.folders, messages=e.messages, bytes=human_bytes(e.bytes))
            if e.unchanged:
                text += "; " + _("{n} folders unchanged").format(n=e.unchanged)
            if e.deleted_on_server:
                text += "; " + _("{n} messages deleted on the server (kept in the archive, marked)").format(n=e.deleted_on_server)
            out.event("user_planned", text, user=e.user, folders=e.folders, messages=e.messages, bytes=e.bytes,
                      unchanged_folders=e.unchanged, deleted_on_server=e.deleted_on_server)
        elif isinstance(e, FolderStarted):
            out.event("folder", None, user=e.user, folder=e.folder, messages=e.messages, bytes=e.bytes,
                      on_server=e.on_server)
        elif isinstance(e, Retrying):
            out.event("retry", _("{user}: waiting for the server ({reason}); next try in {delay:.1f}s (attempt {n}, "
                                 "giving up at {until})").format(
                user=e.user, reason=e.reason, delay=e.delay, n=e.attempt, until=_clock(e.give_up_at)),
                user=e.user, state="waiting", reason=e.reason, attempt=e.attempt, delay=round(e.delay, 3),
                next_try=_iso(e.next_try), waiting_since=_iso(e.waiting_since), give_up_at=_iso(e.give_up_at))
        elif isinstance(e, Reconnected):
            out.event("reconnected", _("{user}: the server is back after {secs:.0f}s; carrying on").format(
                user=e.user, secs=e.waited), user=e.user, waited=round(e.waited, 3))
        elif isinstance(e, UserDone):
            self.failed(e)
            out.event("user_done", _("{user}: {state}, {messages} messages, {bytes}").format(
                user=e.user, state=_state(e.state), messages=e.messages, bytes=human_bytes(e.bytes))
                if e.state != "failed" else None,
                user=e.user, state=e.state, messages=e.messages, bytes=e.bytes, seconds=round(e.seconds, 3),
                error=e.error)
        elif isinstance(e, RunSummary):
            out.event("summary", _("Backed up {messages} messages ({bytes}) in {secs:.1f}s: {rate:.0f} msg/s, {mbs:.1f} MB/s; "
                                   "{ok} users done, {failed} failed, {cancelled} cancelled").format(
                messages=e.messages, bytes=human_bytes(e.bytes), secs=e.seconds, rate=e.messages_per_second,
                mbs=e.megabytes_per_second, ok=e.users_ok, failed=e.users_failed, cancelled=e.users_cancelled),
                users_ok=e.users_ok, users_failed=e.users_failed, users_cancelled=e.users_cancelled,
                messages=e.messages, bytes=e.bytes, seconds=round(e.seconds, 3),
                messages_per_second=round(e.messages_per_second, 1),
                megabytes_per_second=round(e.megabytes_per_second, 2),
                errors=[{"user": u, "reason": r} for u, r in e.errors])


def _iso(wall: float) -> str:
    from datetime import datetime

    return datetime.fromtimestamp(wall).astimezone().isoformat(timespec="seconds") if wall else ""


def _clock(wall: float) -> str:
    from datetime import datetime

    return datetime.fromtimestamp(wall).astimezone().strftime("%H:%M:%S") if wall else "?"


def _state(state: str) -> str:
    return {"done": _("done"), "failed": _("failed"), "cancelled": _("cancelled")}.get(state, state)


def cmd_backup(args: argparse.Namespace) -> int:
    out = Reporter(args.json)
    if args.workers < 0:
        raise UsageError(_("--workers must be positive"))
    store = _open(args.project)
    try:
        project = store.project
        if not project.users:
            raise UsageError(_("the project has no users; add them with `mailmig users import`"))
        dest = (args.dest or default_dest(store.path, project)).absolute()
        project_settings(project, store.path)  # a bad [backup] retry_for is named by line and key, before any work
        creds = open_credentials(terminal_passphrase_prompt)
        controls = Controls()
        engine = BackupEngine(project, creds, BackupOptions(dest, args.workers, _users_arg(args.users),
                                                            full_scan=args.full_scan),
                              on_event=_BackupPrinter(out), controls=controls)

        started = now()
        # First Ctrl-C: finish the current batches and stop cleanly; a second one aborts at once.
        with first_ctrl_c_stops(out, controls.cancel, _("stopping after the current batch (Ctrl-C again to abort)")):
            summary = engine.run()
        if not store.readonly:
            _save_section(store, "last_run", run_record(summary, started, now()), dest, out)
        if summary.users_cancelled:
            raise Interrupted(_("interrupted; run the same command again to resume"))
        return 1 if summary.users_failed else 0
    finally:
        store.close()


def cmd_verify(args: argparse.Namespace) -> int:
    if args.copy:
        from mailmig_tui.commands.copy import cmd_verify_copy

        return cmd_verify_copy(args)
    out = Reporter(args.json)
    store = _open(args.project)
    try:
        project = store.project
        dest = (args.dest or default_dest(store.path, project)).absolute()
        creds = open_credentials(terminal_passphrase_prompt)
        results = _verify_pass(out, project, creds, dest, args, "")
        bad = [r for r in results if not r.ok]
        if args.repair and bad:
            to_fix = sum(len(r.repairs) for r in results)
            out.event("repair", _("Repairing: fetching {n} messages again for {u} users").format(
                n=to_fix, u=sum(1 for r in results if r.repairs)), messages=to_fix,
                unrepairable=sum(r.unrepairable for r in results))
            controls = Controls()
            previous = signal.signal(signal.SIGINT, lambda signum, frame: controls.cancel())
            try:
                summary = repair_archive(project, creds, dest, results, args.workers, _BackupPrinter(out), controls)
            finally:
                signal.signal(signal.SIGINT, previous)
            if summary is not None and summary.users_cancelled:
                raise Interrupted(_("interrupted; run the same command again to resume"))
            results = _verify_pass(out, project, creds, dest, args, "after repair")
            bad = [r for r in results if not r.ok]
        if not store.readonly:
            _save_section(store, "last_verify", verify_record(results, now()), dest, out)
        return 1 if bad else 0
    finally:
        store.close()


def _verify_pass(out: Reporter, project: Any, creds: Any, dest: Path, args: argparse.Namespace, label: str) -> list[UserCheck]:
    extra = {"pass": label} if label else {}

    def on_event(e: Any) -> None:
        if isinstance(e, FolderCheck):
            out.event("folder", None, user=e.user, folder=e.folder, on_server=e.on_server, archived=e.archived,
                      missing=e.missing, size_mismatch=e.size_mismatch, problem=e.problem, **extra)
        elif isinstance(e, UserCheck):
            out.event("user", None, user=e.user, ok=e.ok, folders=e.folders, on_server=e.on_server,
                      archived=e.archived, archived_only=e.archived_only, deleted_on_server=e.deleted_on_server,
                      missing=e.missing, size_mismatch=e.size_mismatch, missing_files=e.missing_files,
                      corrupt_files=e.corrupt_files, repairable=len(e.repairs), unrepairable=e.unrepairable,
                      error=e.error, details=e.details[:100], **extra)

    results = verify_archive(project, creds, dest, _users_arg(args.users), args.workers, on_event)
    bad = [r for r in results if not r.ok]
    if not out.json_mode:
        if label:
            print(_("Verify again, after the repair:"))
        print(render_table(results))
        for r in bad:
            for line in ([r.error] if r.error else []) + r.details[:20]:
                print(f"  {r.user}: {line}")
        kept = sum(r.archived_only for r in results)
        if kept:
            print(_("{n} archived messages are no longer on the server: kept in the archive (marked in the index), "
                    "not a difference").format(n=kept))
        if bad and not args.repair and any(r.repairs for r in bad):
            print(_("Run `mailmig verify --repair` to fetch the missing and differing messages again."))
    out.event("summary", _("{ok} of {n} users verified without difference").format(ok=len(results) - len(bad), n=len(results)),
              users=len(results), users_ok=len(results) - len(bad), users_with_differences=len(bad), **extra)
    return results


def render_table(results: list[UserCheck]) -> str:
    headers = [_("user"), _("folders"), _("server"), _("archived"), _("missing"), _("size diff"), _("files missing"),
               _("corrupt"), _("deleted on server"), _("result")]
    rows = [[r.user, str(r.folders), str(r.on_server), str(r.archived), str(r.missing), str(r.size_mismatch),
             str(r.missing_files), str(r.corrupt_files), str(r.archived_only),
             _("OK") if r.ok else (_("ERROR") if r.error else _("DIFFERENT"))]
            for r in results]
    widths = [max(_width(c) for c in col) for col in zip(headers, *rows, strict=False)]
    lines = []
    for i, row in enumerate([headers, *rows]):
        cells = [c + " " * (w - _width(c)) if j == 0 else " " * (w - _width(c)) + c for j, (c, w) in enumerate(zip(row, widths, strict=True))]
        lines.append("  ".join(cells).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _width(text: str) -> int:
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
