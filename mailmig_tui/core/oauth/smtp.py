"""SMTP AUTH with an OAuth2 token (XOAUTH2 / OAUTHBEARER) on a session from core/smtp/session.connect():
the counterpart of core/smtp/session.login() for sides whose auth is method = "oauth2". Errors are the
SMTP layer's own SmtpError (fatal or transient, one line); a refused token is replaced once by a fresh one."""

from __future__ import annotations

import smtplib
import time

from mailmig_tui.core.i18n import _
from mailmig_tui.core.model import Endpoint
from mailmig_tui.core.oauth.sasl import smtp_authenticate
from mailmig_tui.core.oauth.tokens import TokenError, TokenSource, TokenUnavailable
from mailmig_tui.core.smtp.session import Accepted, SmtpError, close_quietly, connect, send


def oauth2_login(client: smtplib.SMTP, user: str, source: TokenSource) -> None:
    mechanism = source.mechanism
    if not client.has_extn("auth"):
        raise SmtpError(_("the server offers no AUTH on this port (submission may be disabled for this account or "
                          "need TLS)"), fatal=True, stage="auth")
    offered = (client.esmtp_features.get("auth") or "").upper().split()
    if mechanism not in offered:
        raise SmtpError(_("the SMTP server does not offer {mechanism} login (it offers {offered})").format(
            mechanism=mechanism, offered=", ".join(offered) or "—"), fatal=True, stage="auth")
    reason = ""
    code: int | None = None
    for _attempt in range(2):
        try:
            token = source.token(user)
        except TokenError as exc:
            raise SmtpError(_("no OAuth2 token for {user}: {reason}").format(user=user, reason=exc), fatal=True,
                            stage="auth") from None
        except TokenUnavailable as exc:
            raise SmtpError(str(exc), fatal=False, stage="auth") from None
        try:
            smtp_authenticate(client, mechanism, user, token)
            return
        except smtplib.SMTPAuthenticationError as exc:
            source.invalidate(user, token)
            code = exc.smtp_code
            text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
            why = getattr(exc, "oauth_reason", "")
            reason = f"{code} {' '.join(text.split())}" + (f" ({why})" if why else "")
        except (OSError, smtplib.SMTPException) as exc:
            raise SmtpError(_("SMTP AUTH {mechanism} failed: {error}").format(mechanism=mechanism, error=exc),
                            fatal=False, stage="auth") from None
    hint = source.settings.refusal_hint()
    raise SmtpError(_("the SMTP server refused the OAuth2 token for {user} ({mechanism}), also a freshly fetched "
                      "one: {reason}").format(user=user, mechanism=mechanism, reason=reason) + (f"; {hint}" if hint else ""),
                    fatal=code is None or code >= 500, code=code, stage="auth")


def oauth2_submit(endpoint: Endpoint, user: str, source: TokenSource, sender: str, recipients: list[str],
                  message: bytes, timeout: float = 30.0) -> Accepted:
    """core/smtp/session.submit() with an OAuth2 login: connect, AUTH XOAUTH2/OAUTHBEARER, send one message."""
    started = time.monotonic()
    client = connect(endpoint, timeout)
    try:
        oauth2_login(client, user, source)
        reply = send(client, sender, recipients, message)
    finally:
        close_quietly(client)
    return Accepted(reply, time.monotonic() - started, endpoint.host, endpoint.port, endpoint.tls != "plain")
