"""`mailmig accounts check` and `mailmig accounts export`: the headless face of core/accounts.

check: JSON events (`--json`) started, user (one per user: old/new/smtp status and detail), summary.
Exit codes as in cli.py: 0 every user logged in on each configured side; 1 a user failed (wrong
password, no account, unreachable, no password stored); 2 usage; 3 project file; 5 credentials.
export: writes the file (mode 0600) and prints where, whether it holds passwords, and any warning.
"""

from __future__ import annotations

import argparse
import threading
from pathlib import Path
from typing import Any

from mailmig_tui.commands.output import Reporter
from mailmig_tui.core import clock
from mailmig_tui.core.accounts.check import (
    SIDES,
    STATUSES,
    AccountCheck,
    CheckStarted,
    CheckSummary,
    check_accounts,
    record_check,
    select,
)
from mailmig_tui.core.accounts.export import ENCODINGS, default_out, export_formats, export_users, load_format
from mailmig_tui.core.credentials import open_credentials, terminal_passphrase_prompt
from mailmig_tui.core.errors import MailmigError, ProjectLockedError
from mailmig_tui.core.i18n import _
from mailmig_tui.core.store import ProjectStore


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("accounts", help=_("the users' accounts on the old and new provider"))
    asub = p.add_subparsers(dest="accounts_command", metavar="ACTION", required=True)
    c = asub.add_parser(
        "check", help=_("log every user in on the old and new IMAP and the new SMTP"),
        description=_("Log every (or the named) user in on the old and the new provider's IMAP server and, when "
                      "the project sets new.smtp, with SMTP AUTH, in parallel within each provider's "
                      "max_connections. Reports per user and side: ok, refused (wrong password or no such "
                      "account), unreachable, no password stored, or not configured. Results are saved in the "
                      "project. Exit codes: 0 all ok; 1 a user failed; 2 usage; 3 project file; 5 credentials."))
    c.add_argument("project", type=Path)
    c.add_argument("--users", help=_("comma-separated emails of the users to check (default: all)"))
    c.add_argument("--timeout", type=float, default=20.0, help=_("seconds to wait for each server (default 20)"))
    c.add_argument("--json", action="store_true", help=_("print one JSON event per line"))
    c.set_defaults(func=cmd_check)

    e = asub.add_parser(
        "export", help=_("write the new provider's bulk-user import file"),
        description=_("Write the users as the new provider's bulk-user import file (its documented columns, order "
                      "and encoding; see [<preset>.bulk_import] in presets.toml for the source), or as a generic "
                      "CSV. New passwords from the credential store are included where the format has a password "
                      "column; the file is created readable by you only (mode 0600)."))
    e.add_argument("project", type=Path)
    e.add_argument("--format", required=True, metavar="PRESET",
                   help=_("one of: {names}").format(names=", ".join(export_formats())))
    e.add_argument("--out", type=Path, help=_("the file to write (default: <domain>-users-<format>.csv beside the project)"))
    e.add_argument("--encoding", choices=ENCODINGS, help=_("override the format's encoding"))
    e.add_argument("--json", action="store_true", help=_("print JSON events instead of text"))
    e.set_defaults(func=cmd_export)


def _users_arg(value: str | None) -> list[str] | None:
    if not value:
        return None
    return [v.strip() for v in value.split(",") if v.strip()]


def _status_word(status: str) -> str:
    symbol, word, _meaning = STATUSES.get(status, STATUSES["error"])
    return f"{symbol} {_(word)}"


class _Printer:
    def __init__(self, out: Reporter) -> None:
        self.out = out
        self.lock = threading.Lock()

    def __call__(self, event: Any) -> None:
        with self.lock:  # results come from the check's threads
            self._print(event)

    def _print(self, e: Any) -> None:
        out = self.out
        if isinstance(e, CheckStarted):
            out.event("started", _("Checking {n} users' logins (old IMAP, new IMAP, new SMTP{note})").format(
                n=len(e.users), note="" if e.smtp else _(": not configured")), users=list(e.users), smtp=e.smtp)
        elif isinstance(e, AccountCheck):
            human = f"{'✓' if e.ok else '✗'} {e.user}: " + " · ".join(
                f"{side} {_status_word(e.side(side).status)}" for side in SIDES)
            for side in SIDES:
                result = e.side(side)
                if result.failed and result.detail:
                    human += "\n    " + _("{side}: {detail}").format(side=side, detail=result.detail)
            out.event("user", human, user=e.user, ok=e.ok, old_login=e.old_login, new_login=e.new_login,
                      **{side: e.side(side).status for side in SIDES},
                      **{f"{side}_detail": e.side(side).detail for side in SIDES})
        elif isinstance(e, CheckSummary):
            out.event("summary", _("{ok}/{n} users ok, {failed} failed ({seconds:.1f}s)").format(
                ok=e.users_ok, n=e.users, failed=e.users - e.users_ok, seconds=e.seconds),
                users=e.users, users_ok=e.users_ok, users_failed=e.users - e.users_ok, seconds=round(e.seconds, 2))


def cmd_check(args: argparse.Namespace) -> int:
    out = Reporter(args.json)
    store = ProjectStore.open(args.project)  # read-only is fine for the check; saving says if it cannot
    try:
        project = store.project
        users = select(project, _users_arg(args.users))
        credentials = open_credentials(terminal_passphrase_prompt)
        results = check_accounts(project, credentials, users, _Printer(out), timeout=args.timeout)
        at = clock.now()
        try:
            store.update(lambda p: record_check(p, results, at))
        except (ProjectLockedError, MailmigError) as exc:
            out.event("warning", _("warning: result not saved in the project: {error}").format(error=exc), message=str(exc))
    finally:
        store.close()
    return 0 if all(r.ok for r in results) else 1


def cmd_export(args: argparse.Namespace) -> int:
    out = Reporter(args.json)
    fmt = load_format(args.format)  # a usage error (unknown or undocumented) before unlocking anything
    store = ProjectStore.open(args.project, readonly=True)
    try:
        project = store.project
        credentials = open_credentials(terminal_passphrase_prompt) if fmt.has_password_column else None
        path = args.out or default_out(store.path, project, args.format)
        result = export_users(project, credentials, args.format, path, args.encoding)
    finally:
        store.close()
    for warning in result.warnings:
        out.event("warning", _("warning: {message}").format(message=warning), message=warning)
    fields = {"path": str(result.path), "format": result.format.name, "encoding": result.format.encoding,
              "users": result.users, "passwords": result.passwords, "source": result.format.source}
    if result.passwords:
        out.event("written", _("Wrote {n} users to {path} ({encoding}, mode 0600). It HOLDS {p} PASSWORDS: import it, "
                               "then delete it (shred) and never mail it.").format(
            n=result.users, path=result.path, encoding=result.format.encoding, p=result.passwords), **fields)
    else:
        note = _("no password column in this format") if not result.format.has_password_column else _(
            "no new passwords stored, so none written")
        out.event("written", _("Wrote {n} users to {path} ({encoding}, mode 0600); {note}.").format(
            n=result.users, path=result.path, encoding=result.format.encoding, note=note), **fields)
    return 0
