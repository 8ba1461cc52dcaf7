"""`mailmig provider set`: a provider's IMAP/SMTP servers and admin login, without a text editor."""

from __future__ import annotations

import argparse
from pathlib import Path

from mailmig_tui.core.credentials import SIDES
from mailmig_tui.core.endpoints import EndpointChange, EndpointError, apply_change
from mailmig_tui.core.errors import UsageError
from mailmig_tui.core.i18n import _
from mailmig_tui.core.model import AUTH_METHODS, TLS_MODES
from mailmig_tui.core.store import open_for_update


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("provider", help=_("set a provider's servers and admin login"))
    psub = p.add_subparsers(dest="provider_command", metavar="ACTION", required=True)
    s = psub.add_parser("set", help=_("set the old or new provider's IMAP/SMTP servers and admin login"),
                        description=_("Change only the fields given. A port alone picks its usual TLS mode "
                                      "(993/465 ssl, 143/587 starttls) unless --tls/--smtp-tls says otherwise."))
    s.add_argument("project", type=Path)
    s.add_argument("side", choices=SIDES)
    add_endpoint_options(s)
    s.set_defaults(func=cmd_provider_set)


def add_endpoint_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--imap-host", metavar="HOST")
    p.add_argument("--imap-port", type=int, metavar="PORT")
    p.add_argument("--tls", dest="imap_tls", choices=TLS_MODES, help=_("IMAP TLS mode"))
    p.add_argument("--smtp-host", metavar="HOST")
    p.add_argument("--smtp-port", type=int, metavar="PORT")
    p.add_argument("--smtp-tls", choices=TLS_MODES, help=_("SMTP TLS mode"))
    p.add_argument("--auth", dest="auth_method", choices=AUTH_METHODS,
                   help=_("log in as each user (user), or as one admin: user*admin (master) or SASL authzid"))
    p.add_argument("--master-user", metavar="LOGIN", help=_("the admin login (its password: `mailmig credentials set`)"))


def change_from(args: argparse.Namespace) -> EndpointChange:
    return EndpointChange(args.imap_host, args.imap_port, args.imap_tls, args.smtp_host, args.smtp_port,
                          args.smtp_tls, args.auth_method, args.master_user)


def cmd_provider_set(args: argparse.Namespace) -> int:
    change = change_from(args)
    if change == EndpointChange():
        raise UsageError(_("nothing to set: give at least one of --imap-host, --imap-port, --tls, --smtp-host, "
                           "--smtp-port, --smtp-tls, --auth, --master-user"))
    with open_for_update(args.project) as store:
        provider = store.project.old if args.side == "old" else store.project.new
        try:
            store.update(lambda p: apply_change(p.old if args.side == "old" else p.new, change),
                         log=_("set the {side} provider's servers").format(side=args.side))
        except EndpointError as exc:
            raise UsageError(str(exc)) from None
        provider = store.project.old if args.side == "old" else store.project.new
        print(_("{side} provider: IMAP {imap}, SMTP {smtp}").format(
            side=args.side, imap=provider.imap.describe(), smtp=provider.smtp.describe()))
    return 0
