"""Microsoft 365 (Entra ID) tokens through msal, Microsoft's own library.

- `ms-client-credentials` (admin-wide, app-only): an app registration with the IMAP.AccessAsApp /
  SMTP.SendAsApp application permissions, its service principal registered in Exchange Online and given
  FullAccess to the mailboxes. One token (scope https://outlook.office365.com/.default) opens every
  mailbox with XOAUTH2 user=<mailbox>. The client secret, or a certificate (PEM key + certificate), is
  in the credential store.
- `ms-device-code` (delegated, one admin account): the admin signs in once on any browser with the code
  `mailmig credentials login` prints (works over SSH); msal's token cache (the refresh token) is kept in
  the credential store and later runs refresh silently.
msal keeps its own cache and refreshes before expiry too; its serialised cache is written back to the
credential store only when it changed.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from typing import Any

from mailmig_tui.core.i18n import _
from mailmig_tui.core.oauth.settings import OAuthSettings
from mailmig_tui.core.oauth.tokens import Token, TokenError, TokenUnavailable
from mailmig_tui.core.oauth.vault import CERTIFICATE, CLIENT_SECRET_ENTRY, MSAL_CACHE, Vault


def _network_error(exc: BaseException) -> bool:
    try:
        import requests
    except ImportError:  # pragma: no cover - msal depends on requests
        return isinstance(exc, OSError)
    return isinstance(exc, OSError | requests.exceptions.RequestException)


def certificate_credential(pem: str) -> dict[str, str]:
    """msal's client_credential for a certificate: the PEM private key and the PEM certificate (msal
    computes the SHA-256 thumbprint from it). Checked offline: both present and matching."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    certs = [block for block in pem.split("-----END CERTIFICATE-----") if "-----BEGIN CERTIFICATE-----" in block]
    if not certs:
        raise TokenError(_("the stored certificate has no -----BEGIN CERTIFICATE----- block"))
    cert_pem = certs[0][certs[0].index("-----BEGIN CERTIFICATE-----"):] + "-----END CERTIFICATE-----\n"
    try:
        cert = x509.load_pem_x509_certificate(cert_pem.encode())
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except ValueError as exc:
        raise TokenError(_("the stored certificate or private key cannot be read: {error}").format(error=exc)) from None
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(serialization.Encoding.DER, pub) != cert.public_key().public_bytes(
            serialization.Encoding.DER, pub):
        raise TokenError(_("the stored private key does not belong to the stored certificate"))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return {"private_key": key_pem, "public_certificate": cert_pem}


class _MsalBase:
    def __init__(self, settings: OAuthSettings, vault: Vault) -> None:
        self.settings = settings
        self.vault = vault
        self._app: Any = None
        self._cache: Any = None
        self._mutex = threading.Lock()

    def _load_cache(self) -> Any:
        import msal

        cache = msal.SerializableTokenCache()
        stored = self.vault.get(MSAL_CACHE)
        if stored:
            # An unreadable cache is as good as none: the admin signs in again.
            with contextlib.suppress(ValueError):
                cache.deserialize(stored)
        return cache

    def _save_cache(self) -> None:
        if self._cache is not None and self._cache.has_state_changed:
            self.vault.set(MSAL_CACHE, self._cache.serialize())
            self._cache.has_state_changed = False

    def _make_app(self, cache: Any) -> Any:
        raise NotImplementedError

    def app(self) -> Any:
        if self._app is None:
            self._cache = self._load_cache()
            try:
                self._app = self._make_app(self._cache)
            except TokenError:
                raise
            except Exception as exc:
                if _network_error(exc):
                    raise TokenUnavailable(_("cannot reach Microsoft's sign-in service {authority}: {error}").format(
                        authority=self.settings.authority, error=_short(exc))) from None
                raise TokenError(_("msal refused the configuration (client_id, tenant, secret): {error}").format(
                    error=_short(exc))) from None
        return self._app

    def _result(self, result: dict[str, Any] | None, login: str) -> Token:
        if not result or "access_token" not in result:
            result = result or {}
            error = str(result.get("error", "no token"))
            described = str(result.get("error_description", "")).splitlines()
            raise TokenError(_("Microsoft refused a token for {login}: {error}: {why}").format(
                login=login, error=error, why=described[0] if described else "").rstrip(": "))
        now = time.time()
        return Token(str(result["access_token"]), now + float(result.get("expires_in", 0) or 0), now)

    def _call(self, what: Callable[[], dict[str, Any] | None], login: str) -> Token:
        with self._mutex:
            try:
                result = what()
            except Exception as exc:
                if _network_error(exc):
                    raise TokenUnavailable(_("cannot reach Microsoft's sign-in service {authority}: {error}").format(
                        authority=self.settings.authority, error=_short(exc))) from None
                raise
            self._save_cache()
        return self._result(result, login)


class ClientCredentialsFetcher(_MsalBase):
    def _make_app(self, cache: Any) -> Any:
        import msal

        secret = self.vault.get(CLIENT_SECRET_ENTRY)
        cert = None if secret else self.vault.get(CERTIFICATE)
        if not secret and not cert:
            raise TokenError(_("no client secret or certificate stored for the app registration {client_id} "
                               "(store one with `mailmig credentials set-oauth`)").format(client_id=self.settings.client_id))
        credential: str | dict[str, str] = secret if secret else certificate_credential(str(cert))
        return msal.ConfidentialClientApplication(
            self.settings.client_id, client_credential=credential, authority=self.settings.authority,
            token_cache=cache, timeout=30, **_authority_options(self.settings))

    def fetch(self, login: str) -> Token:
        app = self.app()
        return self._call(lambda: app.acquire_token_for_client(scopes=list(self.settings.scopes)), login)


class DeviceCodeFetcher(_MsalBase):
    def _make_app(self, cache: Any) -> Any:
        import msal

        return msal.PublicClientApplication(self.settings.client_id, authority=self.settings.authority,
                                            token_cache=cache, timeout=30, **_authority_options(self.settings))

    def fetch(self, login: str) -> Token:
        app = self.app()
        accounts = app.get_accounts(username=self.settings.account or None)
        if not accounts:
            raise TokenError(_("nobody has signed in for this side yet: run `mailmig credentials login PROJECT "
                               "--side {side}` and enter the code it shows on any browser").format(side=self.vault.side))
        token = self._call(lambda: app.acquire_token_silent(list(self.settings.scopes), account=accounts[0]), login)
        return token

    def sign_in(self, show: Callable[[str], None]) -> dict[str, Any]:
        """The device-code flow: `show` gets Microsoft's message (the URL and the code); blocks until the
        admin signed in on a browser (or the code expired). Returns the signed-in account's claims."""
        app = self.app()
        with self._mutex:
            try:
                flow = app.initiate_device_flow(scopes=list(self.settings.scopes))
            except Exception as exc:
                if _network_error(exc):
                    raise TokenUnavailable(_("cannot reach Microsoft's sign-in service {authority}: {error}").format(
                        authority=self.settings.authority, error=_short(exc))) from None
                raise
        if "user_code" not in flow:
            raise TokenError(_("Microsoft did not start a device-code sign-in: {error}").format(
                error=flow.get("error_description") or flow.get("error") or json.dumps(flow)[:200]))
        show(str(flow.get("message") or _("Open {url} and enter the code {code}").format(
            url=flow.get("verification_uri"), code=flow["user_code"])))
        result = self._call(lambda: app.acquire_token_by_device_flow(flow), self.settings.account or "admin")
        del result
        accounts = app.get_accounts()
        return accounts[0] if accounts else {}


def _authority_options(settings: OAuthSettings) -> dict[str, Any]:
    # Microsoft's own clouds (global, 21Vianet, US Government) are known to msal; any other authority
    # host (an on-premises AD FS, a test identity provider) skips instance discovery.
    known = ("https://login.microsoftonline.com", "https://login.chinacloudapi.cn", "https://login.microsoftonline.us")
    return {} if settings.authority_host in known else {"instance_discovery": False}


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]
