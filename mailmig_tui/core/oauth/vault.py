"""What OAuth2 keeps in the credential store (core/credentials.py), per project side.

Entries use the side's service (`mailmig/<domain>/<side>`) with reserved login names that no mailbox
login can take (they start with `oauth2:`). Access is serialised by one lock: engines refresh tokens
from worker threads, and not every keyring backend is thread-safe.
"""

from __future__ import annotations

import threading

from mailmig_tui.core.credentials import Credentials

CLIENT_SECRET_ENTRY = "oauth2:client-secret"  # entry name (the value lives in the store): Microsoft client secret...
CERTIFICATE = "oauth2:certificate"  # ...or a certificate: PEM private key + PEM certificate
SERVICE_ACCOUNT_KEY = "oauth2:service-account-key"  # Google: the service account's JSON key
MSAL_CACHE = "oauth2:msal-token-cache"  # msal's serialised token cache (device code: the refresh token)

SECRET_KINDS = {"client-secret": CLIENT_SECRET_ENTRY, "certificate": CERTIFICATE, "service-account-key": SERVICE_ACCOUNT_KEY}
# Which secret each flavour can use (the first one stored wins for Microsoft: secret, then certificate).
FLAVOUR_SECRETS = {
    "ms-client-credentials": ("client-secret", "certificate"),
    "ms-device-code": (),
    "google-service-account": ("service-account-key",),
    "token-command": (),
}

_lock = threading.RLock()


class Vault:
    """The OAuth2 entries of one project side."""

    def __init__(self, credentials: Credentials, domain: str, side: str) -> None:
        self.credentials = credentials
        self.domain = domain
        self.side = side

    def get(self, name: str) -> str | None:
        with _lock:
            return self.credentials.get(self.domain, self.side, name)

    def set(self, name: str, value: str) -> None:
        with _lock:
            self.credentials.set(self.domain, self.side, name, value)

    def delete(self, name: str) -> None:
        with _lock:
            self.credentials.delete(self.domain, self.side, name)
