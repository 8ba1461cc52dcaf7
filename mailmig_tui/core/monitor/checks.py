"""The health checks, each one function returning `Health` results.

Every result says what was seen and what to do. Statuses: `ok` (seen working), `warn` (working, but act
soon), `fail` (seen broken), `unknown` (could not be checked: a missing password, no cutover date, an
unreachable DNS server — never counted as working), `info` (advice that follows the calendar).
"""

from __future__ import annotations

import hashlib
import smtplib
import socket
import ssl
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from imapclient import IMAPClient

from mailmig_tui.core.i18n import N_, _
from mailmig_tui.core.imap.session import (
    TRANSIENT_ERRORS,
    FatalUserError,
    LoginSpec,
    close_quietly,
    connect,
    normalise_fingerprint,
    ssl_context,
)
from mailmig_tui.core.model import Endpoint, Project, SchemaError

_READ_ERRORS: tuple[type[BaseException], ...] = (smtplib.SMTPException, *TRANSIENT_ERRORS)
OK, WARN, FAIL, UNKNOWN, INFO = "ok", "warn", "fail", "unknown", "info"
SYMBOLS = {OK: "✓", WARN: "!", FAIL: "✗", UNKNOWN: "?", INFO: "i"}
WORDS = {OK: N_("ok"), WARN: N_("warning"), FAIL: N_("failed"), UNKNOWN: N_("unknown"), INFO: N_("advice")}


@dataclass(frozen=True)
class Health:
    key: str  # stable id: dns:mx, imap, smtp, tls:imap, tls:smtp, stragglers, advice:spf …
    status: str
    title: str
    detail: str  # what was seen
    advice: str = ""  # what to do (empty when nothing)
    value: float | None = None  # a number to draw over time: latency ms, days to expiry, messages
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def failing(self) -> bool:
        """What makes `mailmig monitor --once` exit 1: seen broken, or not checkable."""
        return self.status in (FAIL, UNKNOWN)


@dataclass
class MonitorConfig:
    interval: float = 300.0
    canary: str = ""  # the user whose logins are checked; default: the first pilot, else the first user
    cert_warn_days: int = 21
    dmarc_clean_days: int = 14
    timeout: float = 10.0

    KNOWN = ("interval", "canary", "cert_warn_days", "dmarc_clean_days", "timeout")


def parse_monitor_section(data: Any) -> MonitorConfig:
    """The project's `[monitor]` table; a wrong key or type raises SchemaError naming it."""
    cfg = MonitorConfig()
    if data is None:
        return cfg
    if not isinstance(data, dict):
        raise SchemaError(("monitor",), _("must be a table"))
    for key, value in data.items():
        if key not in MonitorConfig.KNOWN:
            raise SchemaError(("monitor", key), _("unknown key; expected one of {keys}").format(
                keys=", ".join(MonitorConfig.KNOWN)))
        if key == "canary":
            if not isinstance(value, str):
                raise SchemaError(("monitor", key), _("must be a user's email address"))
            cfg.canary = value
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise SchemaError(("monitor", key), _("must be a positive number, found {value!r}").format(value=value))
        if key in ("cert_warn_days", "dmarc_clean_days") and not isinstance(value, int):
            raise SchemaError(("monitor", key), _("must be a whole number of days, found {value!r}").format(value=value))
        setattr(cfg, key, value)
    return cfg


def canary_user(project: Project, config: MonitorConfig) -> str:
    if config.canary:
        return config.canary
    pilots = [u.email for u in project.users if u.role == "pilot"]
    return pilots[0] if pilots else (project.users[0].email if project.users else "")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return _("no answer (timed out)")
    if isinstance(exc, ConnectionRefusedError):
        return _("connection refused")
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


# --- IMAP and SMTP of the new provider --------------------------------------------------------------


def imap_check(endpoint: Endpoint, spec: LoginSpec | str, timeout: float) -> Health:
    """Connect, log the canary in and open its INBOX; the value is the round trip in milliseconds."""
    title = _("New provider's IMAP ({host})").format(host=endpoint.describe())
    if isinstance(spec, str):
        return Health("imap", UNKNOWN, title, spec, _("store the canary's new-provider password"))
    started = time.monotonic()
    client = None
    try:
        client = connect(endpoint, spec, timeout=timeout)
        client.select_folder("INBOX", readonly=True)
        ms = (time.monotonic() - started) * 1000
        return Health("imap", OK, title, _("{login} logged in and opened INBOX in {ms:.0f} ms").format(
            login=spec.login, ms=ms), value=ms)
    except FatalUserError as exc:
        return Health("imap", FAIL, title, str(exc), _("check the canary's password and the provider's settings"))
    except TRANSIENT_ERRORS as exc:
        return Health("imap", FAIL, title, _("unreachable: {error}").format(error=_describe(exc)),
                      _("check the provider's status page and the host and port in the project"))
    finally:
        close_quietly(client)


def _smtp_open(endpoint: Endpoint, timeout: float) -> smtplib.SMTP:
    ctx = ssl_context(endpoint)
    smtp: smtplib.SMTP
    if endpoint.tls == "ssl":
        smtp = smtplib.SMTP_SSL(endpoint.host, endpoint.port, timeout=timeout, context=ctx)
    else:
        smtp = smtplib.SMTP(endpoint.host, endpoint.port, timeout=timeout)
        smtp.ehlo()
        if endpoint.tls == "starttls":
            smtp.starttls(context=ctx)
            smtp.ehlo()
    if endpoint.tls_fingerprint and endpoint.tls != "plain":
        der = smtp.sock.getpeercert(binary_form=True) if isinstance(smtp.sock, ssl.SSLSocket) else b""
        got = hashlib.sha256(der or b"").hexdigest()
        if got != normalise_fingerprint(endpoint.tls_fingerprint):
            smtp.close()
            raise FatalUserError(_("the server's certificate fingerprint sha256:{got} does not match the pinned "
                                   "one").format(got=got))
    return smtp


def smtp_check(endpoint: Endpoint, login: str, secret: str | None, timeout: float) -> Health:
    """Connect to submission, STARTTLS as configured and AUTH as the canary; value: milliseconds."""
    title = _("New provider's SMTP ({host})").format(host=endpoint.describe())
    if not endpoint.host or not endpoint.port:
        return Health("smtp", UNKNOWN, title, _("the new provider's SMTP host and port are not set in the project"),
                      _("set [new_provider.smtp] host and port"))
    if secret is None:
        return Health("smtp", UNKNOWN, title, _("no new-provider password stored for {login}").format(login=login),
                      _("store the canary's new-provider password"))
    started = time.monotonic()
    try:
        smtp = _smtp_open(endpoint, timeout)
        try:
            smtp.login(login, secret)
        finally:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()
        ms = (time.monotonic() - started) * 1000
        return Health("smtp", OK, title, _("{login} authenticated in {ms:.0f} ms").format(login=login, ms=ms), value=ms)
    except smtplib.SMTPAuthenticationError as exc:
        reason = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return Health("smtp", FAIL, title, _("login refused for {login}: {reason}").format(login=login, reason=reason),
                      _("check the canary's password and that SMTP AUTH is enabled for it"))
    except ssl.SSLCertVerificationError as exc:
        return Health("smtp", FAIL, title, _("the server's TLS certificate is not trusted ({error})").format(
            error=exc.verify_message or exc), _("pin it with tls_fingerprint or fix the certificate"))
    except FatalUserError as exc:
        return Health("smtp", FAIL, title, str(exc))
    except (smtplib.SMTPException, OSError) as exc:
        return Health("smtp", FAIL, title, _("unreachable: {error}").format(error=_describe(exc)),
                      _("check the provider's status page and the host and port in the project"))


# --- TLS certificates --------------------------------------------------------------------------------


def peer_certificate(kind: str, endpoint: Endpoint, timeout: float) -> bytes:
    """The DER certificate the server presents (IMAP or SMTP, implicit TLS or STARTTLS), not verified here:
    the login checks verify it; this reads its dates even when it is already broken."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if kind == "imap":
        client = IMAPClient(endpoint.host, endpoint.port, ssl=endpoint.tls == "ssl",
                            ssl_context=ctx if endpoint.tls == "ssl" else None, timeout=timeout)
        try:
            if endpoint.tls == "starttls":
                client.starttls(ctx)
            return client._imap.sock.getpeercert(binary_form=True) or b""
        finally:
            close_quietly(client)
    smtp: smtplib.SMTP
    if endpoint.tls == "ssl":
        smtp = smtplib.SMTP_SSL(endpoint.host, endpoint.port, timeout=timeout, context=ctx)
    else:
        smtp = smtplib.SMTP(endpoint.host, endpoint.port, timeout=timeout)
        smtp.ehlo()
        smtp.starttls(context=ctx)
    try:
        sock = smtp.sock
        return sock.getpeercert(binary_form=True) or b"" if isinstance(sock, ssl.SSLSocket) else b""
    finally:
        smtp.close()


def tls_check(kind: str, endpoint: Endpoint, warn_days: int, timeout: float, now: datetime) -> Health:
    from cryptography import x509

    key = f"tls:{kind}"
    title = _("TLS certificate of {host}").format(host=endpoint.describe())
    if not endpoint.host or not endpoint.port:
        return Health(key, UNKNOWN, title, _("the host and port are not set in the project"))
    if endpoint.tls == "plain":
        return Health(key, WARN, title, _("this endpoint is configured without TLS"),
                      _("use port 993/465 (TLS) or STARTTLS; passwords cross the network in clear text"))
    try:
        der = peer_certificate(kind, endpoint, timeout)
    except _READ_ERRORS as exc:
        return Health(key, UNKNOWN, title, _("could not read the certificate: {error}").format(error=_describe(exc)))
    if not der:
        return Health(key, UNKNOWN, title, _("the server presented no certificate"))
    cert = x509.load_der_x509_certificate(der)
    expires = cert.not_valid_after_utc
    days = (expires - now).total_seconds() / 86400
    when = expires.strftime("%Y-%m-%d %H:%M UTC")
    if days < 0:
        return Health(key, FAIL, title, _("expired on {when}").format(when=when),
                      _("mail clients refuse this server now: renew the certificate (or ask the provider)"), days)
    if days < warn_days:
        return Health(key, WARN, title, _("expires in {days} days, on {when}").format(days=int(days), when=when),
                      _("renew it before it expires (or ask the provider)"), days)
    return Health(key, OK, title, _("valid until {when} ({days} days)").format(when=when, days=int(days)), value=days)


# --- mail still arriving at the old provider --------------------------------------------------------


def count_new_messages(endpoint: Endpoint, spec: LoginSpec, since: datetime, timeout: float) -> int:
    """Messages in the user's old INBOX (and Junk) whose INTERNALDATE is after `since`."""
    client = connect(endpoint, spec, timeout=timeout)
    try:
        folders = [b"INBOX"]
        for flags, _delim, raw in client.list_folders():
            if b"\\Junk" in flags and raw not in folders:
                folders.append(raw)
        count = 0
        for folder in folders:
            client.select_folder(folder, readonly=True)
            # SEARCH SINCE has day granularity (and the server's time zone): widen by a day, then compare
            # INTERNALDATE exactly.
            uids = client.search(["SINCE", (since - timedelta(days=1)).date()])
            if not uids:
                continue
            for data in client.fetch(uids, ["INTERNALDATE"]).values():
                value = data.get(b"INTERNALDATE")
                if isinstance(value, datetime):
                    value = value if value.tzinfo else value.replace(tzinfo=UTC)
                    if value > since:
                        count += 1
        return count
    finally:
        close_quietly(client)
