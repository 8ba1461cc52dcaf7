"""Opening IMAP sessions the way the project says: TLS mode, certificate policy, user or admin login.

Errors are sorted into two kinds the engine treats differently: `FatalUserError` (wrong password, bad
certificate: retrying cannot help, fail this user now) and everything else network-shaped, which the
engine retries with backoff.
"""

from __future__ import annotations

import contextlib
import hashlib
import imaplib
import socket
import ssl
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, LoginError

from mailmig_tui.core.i18n import _
from mailmig_tui.core.model import Auth, Endpoint

if TYPE_CHECKING:
    from mailmig_tui.core.oauth.tokens import TokenSource

class ServerBusy(Exception):
    """The server refused the login for now (RFC 5530 UNAVAILABLE/LIMIT/INUSE, "too many connections",
    "try again later"): throttling or maintenance, so wait and try again rather than fail the user."""


# What a dropped, refused or throttled connection looks like through imaplib/imapclient/ssl.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (OSError, EOFError, imaplib.IMAP4.abort, IMAPClientAbortError,
                                                     ServerBusy)
_BUSY = ("[UNAVAILABLE]", "[LIMIT]", "[INUSE]", "TOO MANY", "TRY AGAIN LATER", "THROTTL", "RATE LIMIT")


class FatalUserError(Exception):
    """Retrying will not help (login refused, certificate rejected): the user fails with this reason."""


class LoginRefused(FatalUserError):
    """The server refused the login; `reply` is its own words (the accounts check sorts them)."""

    def __init__(self, message: str, reply: str) -> None:
        super().__init__(message)
        self.reply = reply


@dataclass
class LoginSpec:
    login: str  # the mailbox to open
    secret: str  # the user's password, or the admin's when auth.method is not "user"
    auth: Auth
    tokens: TokenSource | None = None  # auth.method == "oauth2": where access tokens come from


_CONTEXTS: dict[tuple[bool, bool], ssl.SSLContext] = {}
_CONTEXTS_LOCK = threading.Lock()




def ssl_context(endpoint: Endpoint) -> ssl.SSLContext:
    """One context per policy, shared by every connection (loading the system's CA store costs tens of
    milliseconds of CPU: paid once, not once per user)."""
    pinned_or_open = bool(endpoint.tls_fingerprint) or not endpoint.tls_verify
    key = (pinned_or_open, bool(endpoint.tls_verify))
    with _CONTEXTS_LOCK:
        ctx = _CONTEXTS.get(key)
        if ctx is None:
            if pinned_or_open:
                # Either the admin pinned the exact certificate (checked after the handshake) or explicitly
                # chose to accept any certificate for this provider; never the default. No CA store needed.
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            else:
                ctx = ssl.create_default_context()
            _CONTEXTS[key] = ctx
    return ctx


def normalise_fingerprint(value: str) -> str:
    return value.lower().removeprefix("sha256:").replace(":", "")


def peer_fingerprint(endpoint: Endpoint, timeout: float = 10.0) -> str | None:
    """The sha256 fingerprint ("sha256:<hex>") of the certificate the server presents, read without trusting
    it and without logging in (to tell the admin what to pin), or None if it cannot be read."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        client = IMAPClient(endpoint.host, endpoint.port, ssl=endpoint.tls == "ssl",
                            ssl_context=ctx if endpoint.tls == "ssl" else None, timeout=timeout)
    except TRANSIENT_ERRORS:
        return None
    try:
        if endpoint.tls == "starttls":
            client.starttls(ctx)
        der = client._imap.sock.getpeercert(binary_form=True)
        return "sha256:" + hashlib.sha256(der).hexdigest() if der else None
    except (imaplib.IMAP4.error, *TRANSIENT_ERRORS):  # type: ignore[misc]
        return None
    finally:
        _close(client)


def _pin_hint(fingerprint: str | None, section: str) -> str:
    if not fingerprint:
        return ""
    return " " + _("Its certificate's fingerprint is {fp}. If you have checked with the provider that this is "
                   "their certificate, pin it: put the line  tls_fingerprint = \"{fp}\"  under [{section}] in the "
                   "project file.").format(fp=fingerprint, section=section)


def connect(endpoint: Endpoint, spec: LoginSpec, timeout: float = 60.0, section: str = "old_provider.imap") -> IMAPClient:
    """`section`: the project-file table of `endpoint`, named in a certificate error's pinning hint."""
    if not endpoint.host or not endpoint.port:
        raise FatalUserError(_("the provider's IMAP host and port are not set in the project"))
    ctx = ssl_context(endpoint)
    try:
        client = IMAPClient(endpoint.host, endpoint.port, ssl=endpoint.tls == "ssl",
                            ssl_context=ctx if endpoint.tls == "ssl" else None, timeout=timeout)
        if endpoint.tls == "starttls":
            client.starttls(ctx)
    except ssl.SSLCertVerificationError as exc:
        raise FatalUserError(_("the server's TLS certificate is not trusted ({error}); if this provider really "
                               "uses a self-signed certificate, pin it with tls_fingerprint or set tls_verify = false "
                               "for it in the project").format(error=exc.verify_message or exc)
                             + _pin_hint(peer_fingerprint(endpoint), section)) from None
    except socket.gaierror as exc:
        raise FatalUserError(_("cannot resolve {host}: {error}").format(host=endpoint.host, error=exc.strerror)) from None
    try:
        if endpoint.tls_fingerprint and endpoint.tls != "plain":
            der = client._imap.sock.getpeercert(binary_form=True)
            got = hashlib.sha256(der or b"").hexdigest()
            if got != normalise_fingerprint(endpoint.tls_fingerprint):
                raise FatalUserError(_("the server's certificate fingerprint sha256:{got} does not match the pinned "
                                       "one").format(got=got) + _pin_hint("sha256:" + got, section))
        client.normalise_times = False  # keep INTERNALDATE's own offset
        client.folder_encode = False  # names stay the server's exact bytes; we decode them ourselves
        _login(client, spec)
    except BaseException:
        _close(client)
        raise
    return client


def _login(client: IMAPClient, spec: LoginSpec) -> None:
    auth = spec.auth
    if auth.method == "oauth2":
        _oauth2_login(client, spec)
        return
    try:
        if auth.method == "master":
            client.login(f"{spec.login}{auth.separator}{auth.master_user}", spec.secret)
        elif auth.method == "authzid":
            client.plain_login(auth.master_user, spec.secret, authorization_identity=spec.login)
        else:
            client.login(spec.login, spec.secret)
    except LoginError as exc:
        if any(word in _text(exc).upper() for word in _BUSY):
            raise ServerBusy(_text(exc)) from None
        who = spec.login if auth.method == "user" else f"{spec.login} (via {auth.master_user})"
        from mailmig_tui.core.oauth.advice import password_refused_hint

        hint = password_refused_hint(str(getattr(client, "host", "")))
        raise LoginRefused(_("login refused for {who}: {reason}").format(who=who, reason=_text(exc))
                           + (f"; {hint}" if hint else ""), _text(exc)) from None


def _oauth2_login(client: IMAPClient, spec: LoginSpec) -> None:
    """AUTHENTICATE XOAUTH2 / OAUTHBEARER with a token from spec.tokens. A refused token is dropped and
    a fresh one tried once (it may have been revoked, or expired in between); a token service that cannot
    be reached raises TokenUnavailable, an OSError, which engines retry like a dropped connection."""
    from mailmig_tui.core.oauth.sasl import ErrorCapture, client_response
    from mailmig_tui.core.oauth.tokens import TokenError

    source = spec.tokens
    if source is None:
        raise FatalUserError(_("OAuth2 login for {login}, but no token source was set up").format(login=spec.login))
    mechanism = source.mechanism
    offered = [c.decode("ascii", "replace").upper() for c in client.capabilities() if c.upper().startswith(b"AUTH=")]
    if offered and f"AUTH={mechanism}" not in offered:
        raise FatalUserError(_("the server does not offer {mechanism} login (it offers {offered})").format(
            mechanism=mechanism, offered=", ".join(o.removeprefix("AUTH=") for o in offered)))
    reason = ""
    for _attempt in range(2):
        try:
            token = source.token(spec.login)
        except TokenError as exc:
            raise FatalUserError(_("no OAuth2 token for {login}: {reason}").format(login=spec.login, reason=exc)) from None
        capture = ErrorCapture(client_response(mechanism, spec.login, token, str(client.host), int(client.port)))
        try:
            client._command_and_check("authenticate", mechanism, capture)
            return
        except imaplib.IMAP4.abort:
            raise
        except imaplib.IMAP4.error as exc:
            source.invalidate(spec.login, token)
            reason = _text(exc)
            if capture.reason():
                reason = f"{reason} ({capture.reason()})"
    hint = source.settings.refusal_hint()
    raise FatalUserError(_("the server refused the OAuth2 token for {login} ({mechanism}), also a freshly fetched "
                           "one: {reason}").format(login=spec.login, mechanism=mechanism, reason=reason)
                         + (f"; {hint}" if hint else ""))


def _text(exc: BaseException) -> str:
    text = str(exc)
    if text.startswith("b'") or text.startswith('b"'):
        text = text[2:-1]
    return text


def _close(client: IMAPClient) -> None:
    try:
        client.logout()
    except Exception:
        with contextlib.suppress(Exception):
            client.shutdown()


def close_quietly(client: IMAPClient | None) -> None:
    if client is not None:
        _close(client)
