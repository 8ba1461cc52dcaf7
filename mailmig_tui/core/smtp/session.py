"""SMTP sessions the way the project says: TLS mode and certificate policy (verified, or pinned by
fingerprint, as core/imap/session.py does for IMAP), AUTH, submission of a message, and delivery to an
MX host on port 25 the way an outside sender's MTA would.

Every failure is an `SmtpError` with a one-line reason and `fatal` set when retrying cannot help (5xx
replies, a refused login, a rejected certificate, an unknown host); 4xx replies and dropped or refused
connections are transient.
"""

from __future__ import annotations

import contextlib
import hashlib
import smtplib
import socket
import ssl
import time
from dataclasses import dataclass

from mailmig_tui.core.i18n import _
from mailmig_tui.core.imap.session import normalise_fingerprint, ssl_context
from mailmig_tui.core.model import Endpoint

LOCAL_NAME = "mailmig.invalid"  # what we say in EHLO: not a real host, and it says so


class SmtpError(Exception):
    """An SMTP step failed; `fatal` when retrying cannot help, `code` the server's reply code if any."""

    def __init__(self, reason: str, *, fatal: bool, code: int | None = None, stage: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.fatal = fatal
        self.code = code
        self.stage = stage


@dataclass(frozen=True)
class Accepted:
    """The server took the message: its reply (often with a queue id) and how long the session took."""

    reply: str
    seconds: float
    host: str
    port: int
    tls: bool


def _reply_text(value: bytes | str) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return " ".join(text.split())


def _from_reply(stage: str, code: int, text: bytes | str) -> SmtpError:
    reason = _("{stage}: the server answered {code} {text}").format(stage=stage, code=code, text=_reply_text(text))
    return SmtpError(reason, fatal=500 <= code < 600, code=code, stage=stage)


def _network(stage: str, host: str, port: int, exc: BaseException) -> SmtpError:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return SmtpError(_("the server's TLS certificate is not trusted ({error}); if this provider really uses a "
                           "self-signed certificate, pin it with tls_fingerprint or set tls_verify = false for it in "
                           "the project").format(error=exc.verify_message or exc), fatal=True, stage=stage)
    if isinstance(exc, socket.gaierror):
        return SmtpError(_("cannot resolve {host}: {error}").format(host=host, error=exc.strerror), fatal=True, stage=stage)
    if isinstance(exc, ConnectionRefusedError):
        return SmtpError(_("{host}:{port} refused the connection").format(host=host, port=port), fatal=False, stage=stage)
    if isinstance(exc, TimeoutError | socket.timeout):
        return SmtpError(_("{host}:{port} did not answer in time").format(host=host, port=port), fatal=False, stage=stage)
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return SmtpError(_("{host}:{port} closed the connection ({stage})").format(host=host, port=port, stage=stage),
                         fatal=False, stage=stage)
    if isinstance(exc, ssl.SSLError):
        return SmtpError(_("TLS with {host}:{port} failed: {error}").format(host=host, port=port, error=exc.reason or exc),
                         fatal=True, stage=stage)
    detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
    return SmtpError(_("{host}:{port}: {error}").format(host=host, port=port, error=detail), fatal=False, stage=stage)


def _check_pin(client: smtplib.SMTP, endpoint: Endpoint) -> None:
    if not endpoint.tls_fingerprint:
        return
    sock = client.sock
    der = sock.getpeercert(binary_form=True) if isinstance(sock, ssl.SSLSocket) else None
    got = hashlib.sha256(der or b"").hexdigest()
    if got != normalise_fingerprint(endpoint.tls_fingerprint):
        raise SmtpError(_("the server's certificate fingerprint sha256:{got} does not match the pinned one").format(got=got),
                        fatal=True, stage="tls")


def connect(endpoint: Endpoint, timeout: float = 30.0) -> smtplib.SMTP:
    """An SMTP session to a submission endpoint, TLS done as the endpoint says, EHLO sent. Not logged in."""
    host, port = endpoint.host, endpoint.port
    if not host or not port:
        raise SmtpError(_("the provider's SMTP host and port are not set in the project"), fatal=True, stage="connect")
    ctx = ssl_context(endpoint)
    client: smtplib.SMTP | None = None
    try:
        if endpoint.tls == "ssl":
            client = smtplib.SMTP_SSL(host, port, local_hostname=LOCAL_NAME, timeout=timeout, context=ctx)
        else:
            client = smtplib.SMTP(host, port, local_hostname=LOCAL_NAME, timeout=timeout)
        client.ehlo()
        if endpoint.tls == "starttls":
            if not client.has_extn("starttls"):
                raise SmtpError(_("{host}:{port} does not offer STARTTLS; the project says this port uses it").format(
                    host=host, port=port), fatal=True, stage="starttls")
            code, text = client.starttls(context=ctx)
            if code != 220:
                raise _from_reply("STARTTLS", code, text)
            client.ehlo()
        if endpoint.tls != "plain":
            _check_pin(client, endpoint)
        return client
    except SmtpError:
        close_quietly(client)
        raise
    except smtplib.SMTPResponseException as exc:
        close_quietly(client)
        raise _from_reply("connect", exc.smtp_code, exc.smtp_error) from None
    except (OSError, smtplib.SMTPException) as exc:
        close_quietly(client)
        raise _network("connect", host, port, exc) from None


def login(client: smtplib.SMTP, user: str, password: str) -> None:
    """SMTP AUTH (PLAIN or LOGIN, whichever the server offers); a refusal is fatal for this user."""
    if not client.has_extn("auth"):
        raise SmtpError(_("the server offers no AUTH on this port (submission may be disabled for this account or "
                          "need TLS)"), fatal=True, stage="auth")
    try:
        client.login(user, password)
    except smtplib.SMTPAuthenticationError as exc:
        fatal = exc.smtp_code >= 500
        reason = _("SMTP login refused for {user}: {code} {text}").format(
            user=user, code=exc.smtp_code, text=_reply_text(exc.smtp_error))
        raise SmtpError(reason, fatal=fatal, code=exc.smtp_code, stage="auth") from None
    except smtplib.SMTPNotSupportedError:
        raise SmtpError(_("the server offers no AUTH mechanism mailmig can use (PLAIN or LOGIN)"), fatal=True,
                        stage="auth") from None
    except smtplib.SMTPResponseException as exc:
        raise _from_reply("AUTH", exc.smtp_code, exc.smtp_error) from None
    except (OSError, smtplib.SMTPException) as exc:
        raise _network("auth", getattr(client, "_host", "server"), 0, exc) from None


def send(client: smtplib.SMTP, sender: str, recipients: list[str], message: bytes) -> str:
    """MAIL FROM / RCPT TO / DATA on an open session; the server's final reply (it names the queue id)."""
    try:
        code, text = client.mail(sender)
        if code != 250:
            raise _from_reply("MAIL FROM", code, text)
        for rcpt in recipients:
            code, text = client.rcpt(rcpt)
            if code not in (250, 251):
                raise _from_reply(f"RCPT TO {rcpt}", code, text)
        code, text = client.data(message)
        if code != 250:
            raise _from_reply("DATA", code, text)
        return _reply_text(text)
    except SmtpError:
        with contextlib.suppress(Exception):
            client.rset()
        raise
    except smtplib.SMTPResponseException as exc:
        raise _from_reply("DATA", exc.smtp_code, exc.smtp_error) from None
    except (OSError, smtplib.SMTPException) as exc:
        raise _network("send", getattr(client, "_host", "server"), 0, exc) from None


def submit(endpoint: Endpoint, user: str, password: str, sender: str, recipients: list[str], message: bytes,
           timeout: float = 30.0) -> Accepted:
    """Connect, log in and send one message through a submission endpoint."""
    started = time.monotonic()
    client = connect(endpoint, timeout)
    try:
        login(client, user, password)
        reply = send(client, sender, recipients, message)
    finally:
        close_quietly(client)
    return Accepted(reply, time.monotonic() - started, endpoint.host, endpoint.port, endpoint.tls != "plain")


def deliver(address: str, sender: str, recipients: list[str], message: bytes, *, port: int = 25,
            timeout: float = 30.0, host_label: str = "") -> Accepted:
    """Hand a message to an MX at `address` the way another provider's MTA would: no AUTH, STARTTLS when
    offered (opportunistic and unverified, as MTAs do on port 25 without DANE or MTA-STS)."""
    label = host_label or address
    started = time.monotonic()
    client: smtplib.SMTP | None = None
    tls = False
    try:
        client = smtplib.SMTP(address, port, local_hostname=LOCAL_NAME, timeout=timeout)
        client.ehlo()
        if client.has_extn("starttls"):
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            code, text = client.starttls(context=ctx)
            if code != 220:
                raise _from_reply("STARTTLS", code, text)
            client.ehlo()
            tls = True
        reply = send(client, sender, recipients, message)
    except SmtpError:
        raise
    except smtplib.SMTPResponseException as exc:
        raise _from_reply("connect", exc.smtp_code, exc.smtp_error) from None
    except (OSError, smtplib.SMTPException) as exc:
        raise _network("connect", label, port, exc) from None
    finally:
        close_quietly(client)
    return Accepted(reply, time.monotonic() - started, label, port, tls)


def close_quietly(client: smtplib.SMTP | None) -> None:
    if client is None:
        return
    try:
        client.quit()
    except Exception:
        with contextlib.suppress(Exception):
            client.close()
