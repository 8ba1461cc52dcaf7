"""`mailmig credentials`: which backend holds the passwords; `set` stores one (admin or user), read from a
hidden prompt or standard input, never from the command line."""

from __future__ import annotations

import argparse
from pathlib import Path

from mailmig_tui.core.credentials import SIDES, describe_backend, open_credentials, terminal_passphrase_prompt
from mailmig_tui.core.errors import UsageError
from mailmig_tui.core.i18n import _
from mailmig_tui.core.store import load_project


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("credentials", help=_("say where passwords are stored (keyring or encrypted file), or store one"),
                       description=_("Without an action: say which credential store is in use. `set` stores a password "
                                     "(read from a hidden prompt, or from standard input when it is not a terminal; "
                                     "never from the command line)."))
    csub = p.add_subparsers(dest="credentials_command", metavar="ACTION")
    cs = csub.add_parser("set", help=_("store the admin (master) login's or one user's password"),
                         description=_("Store a password in the keyring (or the encrypted credential file). "
                                       "--admin old|new: the admin login named in [old_provider.auth] master_user "
                                       "(or new_provider's). --user EMAIL [--side old|new]: one user's own login."))
    cs.add_argument("project", type=Path)
    who = cs.add_mutually_exclusive_group(required=True)
    who.add_argument("--admin", choices=SIDES, help=_("the admin (master) login of this side's provider"))
    who.add_argument("--user", metavar="EMAIL", help=_("a user of the project"))
    cs.add_argument("--side", choices=SIDES, default="old", help=_("with --user: which provider's password (default old)"))
    cs.set_defaults(func=cmd_credentials_set)
    p.set_defaults(func=cmd_credentials)


def cmd_credentials(args: argparse.Namespace) -> int:
    print(_("Passwords are stored in: {where}").format(where=describe_backend()))
    return 0


def read_secret(label: str) -> str:
    """A password from a hidden prompt (asked twice), or the first line of standard input when it is no terminal."""
    import getpass
    import sys

    if sys.stdin.isatty():
        secret = getpass.getpass(_("Password for {label}: ").format(label=label))
        if getpass.getpass(_("Repeat it: ")) != secret:
            raise UsageError(_("the two passwords differ; nothing stored"))
    else:
        secret = sys.stdin.readline().rstrip("\r\n")
    if not secret:
        raise UsageError(_("an empty password; nothing stored"))
    return secret


def cmd_credentials_set(args: argparse.Namespace) -> int:
    project = load_project(args.project)
    if args.admin:
        side = args.admin
        provider = project.old if side == "old" else project.new
        if provider.auth.method == "user" or not provider.auth.master_user:
            raise UsageError(_("the {side} provider logs in as each user: set method = \"master\" (or \"authzid\") "
                               "and master_user in [{side}_provider.auth] first").format(side=side))
        login, label = provider.auth.master_user, _("the {side} admin login {login}").format(side=side, login=provider.auth.master_user)
    else:
        side = args.side
        try:
            user = project.user(args.user)
        except KeyError:
            raise UsageError(_("{email} is not a user of this project").format(email=args.user)) from None
        login = user.effective_old_login if side == "old" else user.effective_new_login
        label = _("{login} on the {side} provider").format(login=login, side=side)
    secret = read_secret(label)
    creds = open_credentials(terminal_passphrase_prompt)
    creds.set(project.domain, side, login, secret)
    print(_("stored the password for {label} in {where}").format(label=label, where=creds.description))
    return 0
