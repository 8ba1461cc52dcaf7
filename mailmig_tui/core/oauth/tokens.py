"""Access tokens for one project side: fetched through the configured flavour, cached in memory and
replaced before they expire, so a backup or copy that runs for hours never presents a stale token.

A token is replaced when less than `refresh_margin` seconds (default 300, at most half its lifetime)
remain. Sessions opened later get the fresh one; a server that refuses a token makes the caller
`invalidate()` it and try once more with a newly fetched token (a revoked token, or a clock skew).
Tokens live in memory only; where a flavour must persist something (msal's cache: the device-code
refresh token), it goes to the credential store (vault.py), never to the project file or a log.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from mailmig_tui.core.credentials import Credentials
from mailmig_tui.core.i18n import _
from mailmig_tui.core.model import Project
from mailmig_tui.core.oauth.settings import OAuthSettings


class TokenError(Exception):
    """No token for this mailbox, and trying again will not help (bad secret, no consent, command failed)."""


class TokenUnavailable(ConnectionError):
    """The token service could not be reached: an OSError, so engines retry it like a dropped connection."""


@dataclass(frozen=True)
class Token:
    value: str
    expires_at: float | None  # Unix time; None: unknown (never cached, fetched for every login)
    fetched_at: float | None = None

    def fresh(self, now: float, margin: float) -> bool:
        if self.expires_at is None:
            return False
        lifetime = max(0.0, self.expires_at - (now if self.fetched_at is None else self.fetched_at))
        return now < self.expires_at - min(margin, lifetime / 2)

    def __repr__(self) -> str:  # never print the token itself
        return f"Token(expires_at={self.expires_at!r})"


class Fetcher(Protocol):
    def fetch(self, login: str) -> Token: ...


def jwt_expiry(token: str) -> float | None:
    """The `exp` claim of a JWT (not verified: only to know when to refresh), or None."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        exp = payload.get("exp") if isinstance(payload, dict) else None
        return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None
    except (ValueError, TypeError):
        return None


class TokenSource:
    """Tokens for the mailboxes of one side. Thread-safe; one fetch at a time per cache key."""

    def __init__(self, settings: OAuthSettings, fetcher: Fetcher, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.fetcher = fetcher
        self.clock = clock
        self._cache: dict[str, Token] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self.fetches = 0  # how many tokens were fetched (tests, and `credentials test`)
        self.broken = False  # the last fetch failed for a reason retrying cannot fix (see logins.shared_source)

    @property
    def mechanism(self) -> str:
        return self.settings.mechanism

    def _key(self, login: str) -> str:
        return login.lower() if self.settings.per_mailbox else ""

    def _lock_for(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def get(self, login: str) -> Token:
        key = self._key(login)
        with self._lock_for(key):
            cached = self._cache.get(key)
            now = self.clock()
            if cached is not None and cached.fresh(now, self.settings.refresh_margin):
                return cached
            try:
                token = self.fetcher.fetch(login)
            except TokenError:
                self.broken = True
                raise
            self.broken = False
            if not token.value:
                raise TokenError(_("the token source returned an empty token for {login}").format(login=login))
            if token.fetched_at is None:
                token = Token(token.value, token.expires_at, now)
            self.fetches += 1
            if token.expires_at is not None and token.expires_at <= now:
                raise TokenError(_("the token for {login} had already expired when it was issued (check this "
                                   "machine's clock)").format(login=login))
            self._cache[key] = token
            return token

    def token(self, login: str) -> str:
        return self.get(login).value

    def invalidate(self, login: str, value: str | None = None) -> None:
        """Drop the cached token (only if it is still `value`, when given): the server refused it."""
        key = self._key(login)
        with self._guard:
            cached = self._cache.get(key)
            if cached is not None and (value is None or cached.value == value):
                del self._cache[key]


def token_source(project: Project, side: str, credentials: Credentials) -> TokenSource:
    """The TokenSource for `side` ("old" or "new") of a project whose auth there is method = "oauth2".
    Reads what it needs from the credential store now (on the calling thread) where it can."""
    from mailmig_tui.core.oauth.vault import Vault

    provider = project.old if side == "old" else project.new
    settings = OAuthSettings.from_auth(provider.auth)
    vault = Vault(credentials, project.domain, side)
    fetcher: Fetcher
    if settings.flavour == "token-command":
        from mailmig_tui.core.oauth.command import CommandFetcher

        fetcher = CommandFetcher(settings, side)
    elif settings.flavour == "ms-client-credentials":
        from mailmig_tui.core.oauth.microsoft import ClientCredentialsFetcher

        fetcher = ClientCredentialsFetcher(settings, vault)
    elif settings.flavour == "ms-device-code":
        from mailmig_tui.core.oauth.microsoft import DeviceCodeFetcher

        fetcher = DeviceCodeFetcher(settings, vault)
    elif settings.flavour == "google-service-account":
        from mailmig_tui.core.oauth.google import ServiceAccountFetcher

        fetcher = ServiceAccountFetcher(settings, vault)
    else:  # the model refuses other values; keep a clear message anyway
        raise TokenError(_("unknown OAuth2 flavour {flavour!r}").format(flavour=settings.flavour))
    return TokenSource(settings, fetcher)
