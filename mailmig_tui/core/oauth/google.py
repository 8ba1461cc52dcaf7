"""Google Workspace tokens through google-auth, Google's own library: a service account with
domain-wide delegation impersonates each mailbox (the JWT assertion's `sub`), one token per user, for
the scope https://mail.google.com/. The service account's JSON key is in the credential store.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC
from typing import Any

from mailmig_tui.core.i18n import N_, _
from mailmig_tui.core.oauth.settings import OAuthSettings
from mailmig_tui.core.oauth.tokens import Token, TokenError, TokenUnavailable
from mailmig_tui.core.oauth.vault import SERVICE_ACCOUNT_KEY, Vault

DELEGATION_HINT = N_("in the Admin console (Security > Access and data control > API controls > Domain-wide "
                   "delegation) allow the service account's client ID the scope {scopes}")


def load_service_account(key_json: str, scopes: tuple[str, ...]) -> Any:
    """google-auth's service-account credentials from the JSON key (checked offline)."""
    from google.oauth2 import service_account

    try:
        info = json.loads(key_json)
    except ValueError:
        raise TokenError(_("the stored service-account key is not JSON")) from None
    if not isinstance(info, dict) or info.get("type") != "service_account":
        raise TokenError(_("the stored key is not a service-account key (its \"type\" is not \"service_account\")"))
    try:
        return service_account.Credentials.from_service_account_info(info, scopes=list(scopes))
    except (ValueError, KeyError) as exc:
        raise TokenError(_("the stored service-account key cannot be used: {error}").format(error=exc)) from None


class ServiceAccountFetcher:
    def __init__(self, settings: OAuthSettings, vault: Vault) -> None:
        self.settings = settings
        self.vault = vault
        self._base: Any = None
        self._mutex = threading.Lock()

    def base(self) -> Any:
        with self._mutex:
            if self._base is None:
                key = self.vault.get(SERVICE_ACCOUNT_KEY)
                if not key:
                    raise TokenError(_("no service-account JSON key stored (store it with `mailmig credentials "
                                       "set-oauth`)"))
                self._base = load_service_account(key, self.settings.scopes)
            return self._base

    @property
    def service_account(self) -> str:
        return str(getattr(self.base(), "service_account_email", ""))

    def assertion(self, login: str) -> str:
        """The signed JWT assertion google-auth sends for `login` (offline; for `credentials test`)."""
        assertion = self.base().with_subject(login)._make_authorization_grant_assertion()
        return assertion.decode("ascii") if isinstance(assertion, bytes) else str(assertion)

    def fetch(self, login: str) -> Token:
        import google.auth.exceptions
        from google.auth.transport.requests import Request

        creds = self.base().with_subject(login)
        try:
            creds.refresh(Request())
        except google.auth.exceptions.RefreshError as exc:
            text = _refresh_text(exc)
            hint = ""
            if "unauthorized_client" in text or "access_denied" in text:
                hint = "; " + _(DELEGATION_HINT).format(scopes=", ".join(self.settings.scopes))
            raise TokenError(_("Google refused a token for {login}: {error}").format(login=login, error=text) + hint) from None
        except google.auth.exceptions.TransportError as exc:
            raise TokenUnavailable(_("cannot reach Google's token service: {error}").format(
                error=str(exc).splitlines()[0][:200])) from None
        expiry = creds.expiry.replace(tzinfo=UTC).timestamp() if creds.expiry else None
        return Token(str(creds.token), expiry, time.time())


def _refresh_text(exc: BaseException) -> str:
    args = getattr(exc, "args", ())
    text = str(args[0]) if args else str(exc)
    return text.splitlines()[0][:200]
