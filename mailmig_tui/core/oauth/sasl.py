"""The SASL client responses that carry an OAuth2 access token, for IMAP AUTHENTICATE and SMTP AUTH.

XOAUTH2 (Google's and Microsoft's): base64("user=" user ^A "auth=Bearer " token ^A ^A).
OAUTHBEARER (RFC 7628): a GS2 header naming the user, then host, port and the bearer token.
When the server refuses a token it sends one more challenge (a JSON error); the client answers with an
empty response and the server then says NO / 535. `ErrorCapture` keeps that JSON for the error message.
"""

from __future__ import annotations

import json
import smtplib
from collections.abc import Callable


def xoauth2_response(user: str, token: str) -> str:
    return f"user={user}\x01auth=Bearer {token}\x01\x01"


def oauthbearer_response(user: str, token: str, host: str = "", port: int = 0) -> str:
    gs2 = "n,a={},".format(user.replace("=", "=3D").replace(",", "=2C"))
    parts = [gs2]
    if host:
        parts.append(f"host={host}")
    if port:
        parts.append(f"port={port}")
    parts.append(f"auth=Bearer {token}")
    return "\x01".join(parts) + "\x01\x01"


def client_response(mechanism: str, user: str, token: str, host: str = "", port: int = 0) -> str:
    if mechanism.upper() == "OAUTHBEARER":
        return oauthbearer_response(user, token, host, port)
    return xoauth2_response(user, token)


class ErrorCapture:
    """An authobject for imaplib/smtplib: the initial response first, then an empty answer to the
    server's error challenge (kept in `error`, decoded JSON when it is JSON)."""

    def __init__(self, initial: str) -> None:
        self.initial = initial
        self.calls = 0
        self.error: dict[str, object] | str | None = None

    def __call__(self, challenge: bytes | None = None) -> str:
        self.calls += 1
        if self.calls == 1 and not challenge:
            return self.initial
        if challenge:
            raw = challenge.decode("utf-8", "replace") if isinstance(challenge, bytes) else str(challenge)
            try:
                parsed = json.loads(raw)
                self.error = parsed if isinstance(parsed, dict) else raw
            except ValueError:
                self.error = raw
        return ""

    def reason(self) -> str:
        """The server's own words, e.g. 'invalid_token' (never the token)."""
        if isinstance(self.error, dict):
            status = self.error.get("status") or self.error.get("error") or ""
            return str(status)
        return str(self.error or "")


def smtp_authenticate(smtp: smtplib.SMTP, mechanism: str, user: str, token: str) -> ErrorCapture:
    """AUTH XOAUTH2 / OAUTHBEARER on an SMTP connection after EHLO (and STARTTLS where needed).
    Raises smtplib.SMTPAuthenticationError when refused (then `.reason()` of the returned capture —
    also attached to the exception as `oauth_reason` — says why); returns the capture on success."""
    host, port = _peer(smtp)
    capture = ErrorCapture(client_response(mechanism, user, token, host, port))
    authobject: Callable[..., str] = capture
    try:
        smtp.auth(mechanism.upper(), authobject, initial_response_ok=True)
    except smtplib.SMTPAuthenticationError as exc:
        exc.oauth_reason = capture.reason()  # type: ignore[attr-defined]
        raise
    return capture


def _peer(smtp: smtplib.SMTP) -> tuple[str, int]:
    host = getattr(smtp, "_host", "") or ""
    try:
        port = int(smtp.sock.getpeername()[1]) if smtp.sock else 0
    except (OSError, IndexError, TypeError, ValueError):
        port = 0
    return host, port
