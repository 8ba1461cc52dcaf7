"""The generic flavour: a command prints a token (for other providers, imapsync-style scripts, tests).

`token_command` runs through /bin/sh with `{login}` replaced by the mailbox login (shell-quoted) and
MAILMIG_OAUTH_LOGIN / MAILMIG_OAUTH_SIDE in its environment. It prints either the token (one line), or
JSON {"access_token": "...", "expires_in": seconds} (or "expires_at": Unix time). A JWT's own `exp` is
used when nothing else says when it expires; a token whose expiry is unknown is fetched for every login.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time

from mailmig_tui.core.i18n import _
from mailmig_tui.core.oauth.settings import OAuthSettings
from mailmig_tui.core.oauth.tokens import Token, TokenError, jwt_expiry

TIMEOUT = 60.0


class CommandFetcher:
    def __init__(self, settings: OAuthSettings, side: str) -> None:
        self.settings = settings
        self.side = side

    def fetch(self, login: str) -> Token:
        command = self.settings.token_command.replace("{login}", shlex.quote(login))
        env = dict(os.environ, MAILMIG_OAUTH_LOGIN=login, MAILMIG_OAUTH_SIDE=self.side)
        try:
            done = subprocess.run(["/bin/sh", "-c", command], capture_output=True, env=env, timeout=TIMEOUT,
                                  stdin=subprocess.DEVNULL, check=False)
        except subprocess.TimeoutExpired:
            raise TokenError(_("the token command did not finish within {seconds:.0f} s for {login}").format(
                seconds=TIMEOUT, login=login)) from None
        except OSError as exc:
            raise TokenError(_("cannot run the token command: {error}").format(error=exc)) from None
        if done.returncode != 0:
            lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
            why = lines[-1][:200] if lines else _("no message")
            raise TokenError(_("the token command failed for {login} (exit {code}): {why}").format(
                login=login, code=done.returncode, why=why))
        return parse_token_output(done.stdout.decode("utf-8", "replace"), login)


def parse_token_output(text: str, login: str, now: float | None = None) -> Token:
    text = text.strip()
    now = time.time() if now is None else now
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            raise TokenError(_("the token command printed JSON that cannot be read for {login}").format(login=login)) from None
        value = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(value, str) or not value:
            raise TokenError(_("the token command's JSON has no access_token for {login}").format(login=login))
        expires_at: float | None = None
        if isinstance(data.get("expires_at"), int | float):
            expires_at = float(data["expires_at"])
        elif isinstance(data.get("expires_in"), int | float):
            expires_at = now + float(data["expires_in"])
        return Token(value, expires_at if expires_at is not None else jwt_expiry(value), now)
    value = text.splitlines()[0].strip() if text else ""
    if not value:
        raise TokenError(_("the token command printed no token for {login}").format(login=login))
    if any(c.isspace() for c in value):
        raise TokenError(_("the token command printed more than a token for {login}").format(login=login))
    return Token(value, jwt_expiry(value), now)
