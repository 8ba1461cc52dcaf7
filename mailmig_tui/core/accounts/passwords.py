"""Users' passwords on the new provider: generated, set, or the same as the old one. Always through the
credential store (`core/credentials.py`), never the project file or a log."""

from __future__ import annotations

import secrets

from mailmig_tui.core.credentials import Credentials
from mailmig_tui.core.errors import CredentialError
from mailmig_tui.core.i18n import _
from mailmig_tui.core.model import Project, User

# No look-alikes (0/O, 1/l/I) so a password read out over the phone is typed right.
LOWER = "abcdefghijkmnpqrstuvwxyz"
UPPER = "ABCDEFGHJKLMNPQRSTUVWXYZ"
DIGITS = "23456789"
SYMBOLS = "!#%+-=@_"
MIN_LENGTH = 8


def generate_password(length: int = 16) -> str:
    """A random password with a lower-case letter, an upper-case letter, a digit and a symbol, which meets
    the providers' rules (Alibaba: 8-64 and three of the four kinds; Google: at least 8)."""
    length = max(length, MIN_LENGTH)
    alphabet = LOWER + UPPER + DIGITS + SYMBOLS
    while True:
        chars = [secrets.choice(alphabet) for _ in range(length)]
        if (any(c in LOWER for c in chars) and any(c in UPPER for c in chars) and any(c in DIGITS for c in chars)
                and any(c in SYMBOLS for c in chars) and chars[0] not in SYMBOLS):
            return "".join(chars)


def login_for(user: User, side: str) -> str:
    return user.effective_old_login if side == "old" else user.effective_new_login


def password_state(project: Project, credentials: Credentials, user: User) -> tuple[bool, bool, bool]:
    """(old stored, new stored, new equals old) for the Users tab; never returns the secrets."""
    old = credentials.get(project.domain, "old", user.effective_old_login)
    new = credentials.get(project.domain, "new", user.effective_new_login)
    return old is not None, new is not None, old is not None and old == new


def password_states(project: Project, credentials: Credentials, users: list[User]) -> dict[str, tuple[bool, bool, bool]]:
    """`password_state` of many users, reading the store once."""
    wanted = [pair for u in users for pair in (("old", u.effective_old_login), ("new", u.effective_new_login))]
    secrets_ = credentials.get_many(project.domain, wanted)
    out = {}
    for u in users:
        old, new = secrets_[("old", u.effective_old_login)], secrets_[("new", u.effective_new_login)]
        out[u.email] = (old is not None, new is not None, old is not None and old == new)
    return out


def set_password(project: Project, credentials: Credentials, user: User, side: str, secret: str) -> None:
    if side not in ("old", "new"):
        raise ValueError(side)
    if not secret:
        raise CredentialError(_("an empty password cannot be stored"))
    credentials.set(project.domain, side, login_for(user, side), secret)


def same_as_old(project: Project, credentials: Credentials, user: User) -> None:
    """The new password := the old one (the seed's wish: staff keep their user name and password)."""
    old = credentials.get(project.domain, "old", user.effective_old_login)
    if old is None:
        raise CredentialError(_("no old password stored for {login}").format(login=user.effective_old_login))
    credentials.set(project.domain, "new", user.effective_new_login, old)
