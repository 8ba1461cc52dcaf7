"""Opening SMTP sessions the way the project says: TLS mode and certificate policy as for IMAP
(`core/imap/session.py`: verified by default, a pinned fingerprint or an explicit `tls_verify = false`
otherwise), then AUTH.

Errors are sorted as the IMAP layer sorts them: `SmtpAuthRefused` (the server said no to these
credentials: retrying cannot help), `FatalUserError` (bad certificate, unknown host, no AUTH offered) and
everything network-shaped (`TRANSIENT_ERRORS`), which callers may retry.
"""

from __future__ import annotations

import contextlib
import hashlib
import smtplib
import socket
import ssl

from mailmig_tui.core.i18n import _
from mailmig_tui.core.imap.session import FatalUserError, normalise_fingerprint, ssl_context
from mailmig_tui.core.model import Endpoint

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (OSError, smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError)

DEFAULT_PORTS = {"ssl": 465, "starttls": 587, "plain": 25}


class SmtpAuthRefused(FatalUserError):
    """AUTH was refused for these credentials (the server's reply is in the message)."""

    def __init__(self, message: str, code: int, reply: str) -> None:
        super().__init__(message)
        self.code = code
        self.reply = reply


def connect(endpoint: Endpoint, timeout: float = 30.0, local_hostname: str | None = None) -> smtplib.SMTP:
    """An SMTP session to `endpoint`, TLS done as the project says, EHLO sent; not yet logged in."""
    if not endpoint.host:
        raise FatalUserError(_("the provider's SMTP host is not set in the project"))
    port = endpoint.port or DEFAULT_PORTS.get(endpoint.tls, 465)
    ctx = ssl_context(endpoint)
    try:
        if endpoint.tls == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(endpoint.host, port, timeout=timeout, context=ctx,
                                                    local_hostname=local_hostname)
        else:
            client = smtplib.SMTP(endpoint.host, port, timeout=timeout, local_hostname=local_hostname)
    except ssl.SSLCertVerificationError as exc:
        raise _untrusted(exc) from None
    except socket.gaierror as exc:
        raise FatalUserError(_("cannot resolve {host}: {error}").format(host=endpoint.host, error=exc.strerror)) from None
    try:
        client.ehlo()
        if endpoint.tls == "starttls":
            if not client.has_extn("starttls"):
                raise FatalUserError(_("the SMTP server {host} does not offer STARTTLS").format(host=endpoint.host))
            try:
                client.starttls(context=ctx)
            except ssl.SSLCertVerificationError as exc:
                raise _untrusted(exc) from None
            client.ehlo()
        if endpoint.tls_fingerprint and endpoint.tls != "plain":
            sock = client.sock
            der = sock.getpeercert(binary_form=True) if isinstance(sock, ssl.SSLSocket) else None
            got = hashlib.sha256(der or b"").hexdigest()
            if got != normalise_fingerprint(endpoint.tls_fingerprint):
                raise FatalUserError(_("the server's certificate fingerprint sha256:{got} does not match the pinned "
                                       "one").format(got=got))
    except BaseException:
        close_quietly(client)
        raise
    return client


def login(client: smtplib.SMTP, user: str, password: str) -> None:
    """SMTP AUTH as `user`; `SmtpAuthRefused` when the server says no."""
    if not client.has_extn("auth"):
        raise FatalUserError(_("the SMTP server offers no AUTH (on this port, before TLS, it may hide it)"))
    try:
        client.login(user, password)
    except smtplib.SMTPAuthenticationError as exc:
        reply = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        raise SmtpAuthRefused(_("SMTP AUTH refused for {who}: {code} {reply}").format(
            who=user, code=exc.smtp_code, reply=reply), exc.smtp_code, reply) from None
    except smtplib.SMTPNotSupportedError:
        raise FatalUserError(_("the SMTP server offers no AUTH mechanism mailmig can use")) from None


def _untrusted(exc: ssl.SSLCertVerificationError) -> FatalUserError:
    return FatalUserError(_("the server's TLS certificate is not trusted ({error}); if this provider really uses a "
                            "self-signed certificate, pin it with tls_fingerprint or set tls_verify = false for it in "
                            "the project").format(error=exc.verify_message or exc))


def close_quietly(client: smtplib.SMTP | None) -> None:
    if client is None:
        return
    try:
        client.quit()
    except Exception:
        with contextlib.suppress(Exception):
            client.close()
