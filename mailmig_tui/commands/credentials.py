"""`mailmig credentials`: where secrets are stored, each side's login method and OAuth2 state; `set` stores a
password (admin, a user, or another login such as the notices' sender), `set-oauth` the OAuth2 client
secret / certificate / service-account key (always from a hidden prompt or stdin, never argv); the
device-code sign-in; and a login check against the providers."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from mailmig_tui.commands.output import Reporter
from mailmig_tui.core.credentials import Credentials, describe_backend, open_credentials, terminal_passphrase_prompt
from mailmig_tui.core.errors import CredentialError, MailmigError, UsageError
from mailmig_tui.core.i18n import _
from mailmig_tui.core.model import Project, User
from mailmig_tui.core.store import load_project

SIDES = ("old", "new")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("credentials", help=_("where secrets are stored; OAuth2 state, set-up and a login check"),
                       description=_("Without an action: say where passwords and OAuth2 secrets are stored, and "
                                     "show the login state of the project in this folder (if there is one)."))
    p.set_defaults(func=cmd_where)
    csub = p.add_subparsers(dest="credentials_command", metavar="ACTION")

    cs = csub.add_parser("set", help=_("store the admin (master) login's or one user's password"),
                         description=_("Store a password in the keyring (or the encrypted credential file). "
                                       "--admin old|new: the admin login named in [old_provider.auth] master_user "
                                       "(or new_provider's). --user EMAIL [--side old|new]: one user's own login. "
                                       "--login ADDRESS --side old|new: any other login, e.g. the [mailout] sender."))
    cs.add_argument("project", type=Path)
    who = cs.add_mutually_exclusive_group(required=True)
    who.add_argument("--admin", choices=SIDES, help=_("the admin (master) login of this side's provider"))
    who.add_argument("--user", metavar="EMAIL", help=_("a user of the project"))
    who.add_argument("--login", metavar="ADDRESS", help=_("another login on that side (e.g. the notices' sender)"))
    cs.add_argument("--side", choices=SIDES, default="old", help=_("with --user: which provider's password (default old)"))
    cs.set_defaults(func=cmd_credentials_set)

    s = csub.add_parser("show", help=_("each side's login method and OAuth2 state (never a secret or token)"))
    s.add_argument("project", type=Path)
    s.add_argument("--json", action="store_true", help=_("print JSON events instead of text"))
    s.set_defaults(func=cmd_show)

    s = csub.add_parser("set-oauth", help=_("store an OAuth2 client secret, certificate or service-account key"),
                        description=_("The secret is read from standard input when it is not a terminal "
                                      "(`< key.json`), else asked for; never from the command line. "
                                      "Kinds: client-secret and certificate (PEM private key + certificate) for "
                                      "ms-client-credentials; service-account-key (the JSON key) for "
                                      "google-service-account."))
    s.add_argument("project", type=Path)
    s.add_argument("--side", choices=SIDES, required=True)
    s.add_argument("--kind", choices=("client-secret", "certificate", "service-account-key"), required=True)
    s.add_argument("--delete", action="store_true", help=_("remove the stored value instead"))
    s.set_defaults(func=cmd_set_oauth)

    s = csub.add_parser("login", help=_("device-code sign-in for ms-device-code (prints a code to enter on any browser)"))
    s.add_argument("project", type=Path)
    s.add_argument("--side", choices=SIDES, required=True)
    s.set_defaults(func=cmd_login)

    s = csub.add_parser("test", help=_("log in to the providers' IMAP servers to check the credentials"),
                        description=_("Logs in as the first user (or --user, or --users for everyone) on each side "
                                      "whose IMAP server is set. Exit 0 when every login worked, 1 otherwise."))
    s.add_argument("project", type=Path)
    s.add_argument("--side", choices=SIDES, help=_("only this side (default: both)"))
    s.add_argument("--user", action="append", default=[], metavar="EMAIL", help=_("test this user (repeatable)"))
    s.add_argument("--users", action="store_true", help=_("test every user of the project"))
    s.add_argument("--json", action="store_true", help=_("print JSON events instead of text"))
    s.set_defaults(func=cmd_test)


def _creds() -> Credentials:
    return open_credentials(terminal_passphrase_prompt)


def _try_creds() -> Credentials | None:
    try:
        return _creds()
    except CredentialError:
        return None


def cmd_where(args: argparse.Namespace) -> int:
    print(_("Passwords and OAuth2 secrets are stored in: {where}").format(where=describe_backend()))
    found = sorted(Path.cwd().glob("*.mailmig.toml"))
    if len(found) == 1:
        _print_status(load_project(found[0]), Reporter(False))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    out = Reporter(args.json)
    out.event("backend", _("Passwords and OAuth2 secrets are stored in: {where}").format(where=describe_backend()),
              backend=describe_backend())
    _print_status(load_project(args.project), out)
    return 0


def _print_status(project: Project, out: Reporter) -> None:
    from mailmig_tui.core.oauth.status import side_status

    needs_store = any(getattr(project, s).auth.method == "oauth2" for s in SIDES)
    creds = _try_creds() if needs_store else None
    for side in SIDES:
        st = side_status(project, side, creds)
        head = _("{side} provider ({name}): {summary}").format(side=_(side), name=st.provider, summary=st.summary)
        body = "".join(f"\n  {label}: {value}" for label, value in st.lines)
        warn = ("\n  " + _("⚠ warning: {warning}").format(warning=st.warning)) if st.warning else ""
        out.event("login", head + body + warn, side=side, provider=st.provider, summary=st.summary,
                  warning=st.warning or None, **st.data)


def _read_secret(kind: str) -> str:
    if not sys.stdin.isatty():
        value = sys.stdin.read()
    elif kind == "client-secret":
        value = getpass.getpass(_("Client secret (not echoed): "))
    else:
        what = _("the PEM private key and certificate") if kind == "certificate" else _("the JSON key")
        print(_("Paste {what}, then Ctrl-D on an empty line:").format(what=what), file=sys.stderr)
        value = sys.stdin.read()
    value = value.strip()
    if not value:
        raise UsageError(_("nothing was read: give the secret on standard input or at the prompt"))
    return value + ("\n" if kind == "certificate" else "")


def cmd_set_oauth(args: argparse.Namespace) -> int:
    from mailmig_tui.core.oauth.tokens import TokenError
    from mailmig_tui.core.oauth.vault import FLAVOUR_SECRETS, SECRET_KINDS, Vault

    project = load_project(args.project)
    auth = (project.old if args.side == "old" else project.new).auth
    flavour = str(auth.extra.get("oauth2", "")) if auth.method == "oauth2" else ""
    if args.kind not in FLAVOUR_SECRETS.get(flavour, ()):
        raise UsageError(_("the {side} side logs in with {method}; a {kind} is used only by {users}").format(
            side=args.side, method=f"oauth2 = {flavour!r}" if flavour else f"method = {auth.method!r}", kind=args.kind,
            users=", ".join(f for f, kinds in FLAVOUR_SECRETS.items() if args.kind in kinds)))
    vault = Vault(_creds(), project.domain, args.side)
    name = SECRET_KINDS[args.kind]
    if args.delete:
        vault.delete(name)
        print(_("removed the {side} side's {kind}").format(side=args.side, kind=args.kind))
        return 0
    value = _read_secret(args.kind)
    try:  # check it offline before storing it, so a bad paste is caught now and not mid-migration
        if args.kind == "certificate":
            from mailmig_tui.core.oauth.microsoft import certificate_credential

            certificate_credential(value)
        elif args.kind == "service-account-key":
            from mailmig_tui.core.oauth.google import load_service_account
            from mailmig_tui.core.oauth.settings import OAuthSettings

            load_service_account(value, OAuthSettings.from_auth(auth).scopes)
    except TokenError as exc:
        raise UsageError(str(exc)) from None
    vault.set(name, value)
    if args.kind == "client-secret":  # one credential at a time: the secret wins over a certificate
        vault.delete(SECRET_KINDS["certificate"])
    elif args.kind == "certificate":
        vault.delete(SECRET_KINDS["client-secret"])
    print(_("stored the {side} side's {kind} in {where}").format(side=args.side, kind=args.kind,
                                                                 where=vault.credentials.description))
    return 0


def cmd_login(args: argparse.Namespace) -> int:
    from mailmig_tui.core.oauth.microsoft import DeviceCodeFetcher
    from mailmig_tui.core.oauth.settings import OAuthSettings
    from mailmig_tui.core.oauth.tokens import TokenError, TokenUnavailable
    from mailmig_tui.core.oauth.vault import Vault

    project = load_project(args.project)
    auth = (project.old if args.side == "old" else project.new).auth
    if auth.method != "oauth2" or auth.extra.get("oauth2") != "ms-device-code":
        raise UsageError(_("`credentials login` is for oauth2 = \"ms-device-code\"; the {side} side uses {method}").format(
            side=args.side, method=auth.extra.get("oauth2") or auth.method))
    fetcher = DeviceCodeFetcher(OAuthSettings.from_auth(auth), Vault(_creds(), project.domain, args.side))
    try:
        account = fetcher.sign_in(lambda message: print(message, flush=True))
    except (TokenError, TokenUnavailable) as exc:
        raise MailmigError(str(exc)) from None
    print(_("signed in as {account}; the token cache is in the credential store").format(
        account=account.get("username") or "?"))
    return 0


def _login_targets(project: Project, args: argparse.Namespace) -> list[User]:
    if args.users:
        return list(project.users)
    if args.user:
        try:
            return [project.user(email) for email in args.user]
        except KeyError as exc:
            raise UsageError(_("{email} is not a user of this project").format(email=exc.args[0])) from None
    return project.users[:1]


def cmd_test(args: argparse.Namespace) -> int:
    from mailmig_tui.core.imap.session import TRANSIENT_ERRORS, FatalUserError, LoginSpec, close_quietly, connect
    from mailmig_tui.core.oauth.logins import oauth_login_specs

    out = Reporter(args.json)
    project = load_project(args.project)
    users = _login_targets(project, args)
    if not users:
        raise UsageError(_("the project has no users to log in as"))
    creds = _creds()
    failed = tested = 0
    for side in [args.side] if args.side else list(SIDES):
        provider = project.old if side == "old" else project.new
        if not provider.imap.host:
            out.event("skipped", _("{side}: no IMAP server set; not tested").format(side=_(side)), side=side)
            continue
        auth = provider.auth
        logins = {u.email: (u.effective_old_login if side == "old" else u.effective_new_login) for u in users}
        specs: dict[str, LoginSpec | str]
        if auth.method == "oauth2":
            specs = oauth_login_specs(project, side, creds, logins)
        else:
            specs = {}
            for email, login in logins.items():
                secret = creds.get(project.domain, side, auth.master_user if auth.method != "user" else login)
                specs[email] = LoginSpec(login, secret, auth) if secret is not None else _(
                    "no {side} password stored for {login}").format(side=side, login=auth.master_user or login)
        for email, spec in specs.items():
            tested += 1
            login = logins[email]
            error, detail = "", ""
            if isinstance(spec, str):
                error = spec
            else:
                try:
                    client = connect(provider.imap, spec, timeout=30)
                    close_quietly(client)
                    if spec.tokens is not None:
                        from mailmig_tui.core.oauth.status import when

                        token = spec.tokens.get(login)
                        detail = _(" with {mechanism}, token valid until {when}").format(
                            mechanism=spec.tokens.mechanism, when=when(token.expires_at))
                except FatalUserError as exc:
                    error = str(exc)
                except TRANSIENT_ERRORS as exc:
                    error = _("cannot reach {server}: {error}").format(server=provider.imap.describe(), error=exc)
            if error:
                failed += 1
                out.event("login_failed", _("✗ FAILED {side} {login}: {reason}").format(side=_(side), login=login, reason=error),
                          side=side, user=email, login=login, reason=error)
            else:
                out.event("login_ok", _("✓ ok {side} {login}: logged in{detail}").format(side=_(side), login=login, detail=detail),
                          side=side, user=email, login=login)
    out.event("summary", _("{ok} of {n} logins worked").format(ok=tested - failed, n=tested), ok=tested - failed,
              failed=failed)
    return 1 if failed else 0


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
    elif args.login:
        side, login = args.side, args.login
        label = _("{login} on the {side} provider").format(login=login, side=side)
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
