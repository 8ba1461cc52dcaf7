"""Who logs in as whom on each side: a user's own password, or an admin (master / SASL authzid) login.

Read on the calling thread: keyring backends are not all thread-safe.
"""

from __future__ import annotations

from mailmig_tui.core.credentials import Credentials
from mailmig_tui.core.errors import CredentialError
from mailmig_tui.core.i18n import _
from mailmig_tui.core.imap.session import LoginSpec
from mailmig_tui.core.model import Project, User


def login_for(user: User, side: str) -> str:
    return user.effective_old_login if side == "old" else user.effective_new_login


def login_spec(project: Project, credentials: Credentials, user: User, side: str) -> LoginSpec | str:
    """The user's LoginSpec on `side` ("old" or "new"), or the reason it cannot log in."""
    provider = project.old if side == "old" else project.new
    auth = provider.auth
    login = login_for(user, side)
    try:
        if auth.method != "user":
            secret = credentials.get(project.domain, side, auth.master_user)
            if secret is None:
                return _("no password stored for the admin login {login}").format(login=auth.master_user)
            return LoginSpec(login, secret, auth)
        secret = credentials.get(project.domain, side, login)
    except CredentialError as exc:
        return str(exc)
    if secret is None:
        return (_("no old-provider password stored for {login} (import it with `mailmig users import`)") if side == "old"
                else _("no new-provider password stored for {login}")).format(login=login)
    return LoginSpec(login, secret, auth)
