"""`mailmig users import`."""

from __future__ import annotations

import argparse
from pathlib import Path

from mailmig_tui.commands.output import Reporter
from mailmig_tui.core.credentials import open_credentials, terminal_passphrase_prompt
from mailmig_tui.core.errors import UsageError
from mailmig_tui.core.i18n import _
from mailmig_tui.core.store import open_for_update
from mailmig_tui.core.users_import import CsvHeaderError, apply_import, parse_users_csv, read_csv_file


class BadCsvError(UsageError):
    """Bad rows and no --skip-bad: nothing was imported (exit 2)."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("users", help=_("manage the project's users"))
    usub = p.add_subparsers(dest="users_command", metavar="ACTION", required=True)
    imp = usub.add_parser(
        "import", help=_("import users and their passwords from a CSV file"),
        description=_("Columns: email and old_password (required); display_name, department, old_login, "
                      "new_login, new_password (optional; logins default to the email). Passwords go to the "
                      "keyring (or the encrypted credential file), never to the project file. If any row is "
                      "bad, nothing is imported unless --skip-bad is given."))
    imp.add_argument("project", type=Path)
    imp.add_argument("csv", type=Path)
    imp.add_argument("--skip-bad", action="store_true", help=_("import the good rows and skip the bad ones"))
    imp.add_argument("--json", action="store_true", help=_("print JSON events instead of text"))
    imp.set_defaults(func=cmd_import)
    # `mailmig credentials` (where secrets are, OAuth2 state and set-up) is in commands/credentials.py.


def cmd_import(args: argparse.Namespace) -> int:
    out = Reporter(args.json)
    try:
        text = read_csv_file(args.csv)
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(_("cannot read {file}: {error}").format(file=args.csv, error=exc)) from None
    try:
        parsed = parse_users_csv(text)
    except CsvHeaderError as exc:
        raise UsageError(f"{args.csv}: {exc}") from None
    for bad in parsed.bad:
        out.event("bad_row", _("{file} line {line}: {reason}").format(file=args.csv, line=bad.line, reason=bad.reason),
                  line=bad.line, reason=bad.reason)
    if parsed.bad and not args.skip_bad:
        raise BadCsvError(_("{n} bad row(s); nothing imported (fix them, or use --skip-bad)").format(n=len(parsed.bad)))
    if not parsed.rows:
        raise UsageError(_("no users to import in {file}").format(file=args.csv))
    with open_for_update(args.project) as store:
        creds = open_credentials(terminal_passphrase_prompt)
        result = apply_import(store, creds, parsed.rows)
    out.event("imported", _("imported {added} new and {updated} existing users ({skipped} bad rows skipped); "
                            "passwords stored in {where}").format(
        added=result.added, updated=result.updated, skipped=len(parsed.bad), where=creds.description),
        added=result.added, updated=result.updated, skipped=len(parsed.bad), backend=creds.description)
    return 0

