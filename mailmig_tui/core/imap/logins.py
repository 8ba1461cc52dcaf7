"""Who logs in as whom on each side, for every engine: a user's own password, one admin login (master
user or SASL authzid), or OAuth2 tokens (core/oauth).

Read on the calling thread: keyring backends are not all thread-safe. A user who cannot log in (no
password stored, no token source) gets the reason instead of a LoginSpec, and fails alone.
"""

from __future__ import annotations

from mailmig_tui.core.credentials import Credentials
from mailmig_tui.core.endpoints import admin_password_hint
from mailmig_tui.core.errors import CredentialError
from mailmig_tui.core.i18n import _
from mailmig_tui.core.imap.session import LoginSpec
from mailmig_tui.core.model import Project, User


def login_for(user: User, side: str) -> str:
    return user.effective_old_login if side == "old" else user.effective_new_login


def side_login_specs(project: Project, credentials: Credentials, users: list[User], side: str) -> dict[str, LoginSpec | str]:
    """Each user's login on `side` ("old" | "new"), or why there is none."""
    provider = project.old if side == "old" else project.new
    auth = provider.auth
    if auth.method == "oauth2":
        from mailmig_tui.core.oauth.logins import oauth_login_specs

        return oauth_login_specs(project, side, credentials, {u.email: login_for(u, side) for u in users})
    where = _("old provider") if side == "old" else _("new provider")
    out: dict[str, LoginSpec | str] = {}
    admin: str | None = None
    admin_error = ""
    if auth.method != "user":
        try:
            admin = credentials.get(project.domain, side, auth.master_user)
        except CredentialError as exc:
            admin_error = str(exc)
    for user in users:
        login = login_for(user, side)
        if auth.method != "user":
            out[user.email] = (LoginSpec(login, admin, auth) if admin is not None else admin_error or (
                _("no password stored for the {side} admin login {login}").format(side=where, login=auth.master_user)
                + " " + admin_password_hint(side)))
            continue
        try:
            secret = credentials.get(project.domain, side, login)
        except CredentialError as exc:
            out[user.email] = str(exc)
            continue
        if secret is not None:
            out[user.email] = LoginSpec(login, secret, auth)
        elif side == "old":
            out[user.email] = _("no old-provider password stored for {login} (import it with `mailmig users import`)"
                                ).format(login=login)
        else:
            out[user.email] = _("no {side} password stored for {login}").format(side=where, login=login)
    return out


def login_spec(project: Project, credentials: Credentials, user: User, side: str) -> LoginSpec | str:
    """One user's LoginSpec on `side`, or the reason it cannot log in."""
    return side_login_specs(project, credentials, [user], side)[user.email]
