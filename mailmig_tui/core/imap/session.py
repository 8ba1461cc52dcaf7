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

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, LoginError

from mailmig_tui.core.i18n import _
from mailmig_tui.core.model import Auth, Endpoint

# What a dropped or refused connection looks like through imaplib/imapclient/ssl.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (OSError, EOFError, imaplib.IMAP4.abort, IMAPClientAbortError)


class FatalUserError(Exception):
    """Retrying will not help (login refused, certificate rejected): the user fails with this reason."""


@dataclass
class LoginSpec:
    login: str  # the mailbox to open
    secret: str  # the user's password, or the admin's when auth.method is not "user"
    auth: Auth


_contexts: dict[bool, ssl.SSLContext] = {}
_contexts_lock = threading.Lock()


def ssl_context(endpoint: Endpoint) -> ssl.SSLContext:
    """One context per policy, made once per process: loading the CA store costs tens of milliseconds,
    which a run with thousands of logins would pay each time. (An SSLContext is safe to share.)"""
    strict = not (endpoint.tls_fingerprint or not endpoint.tls_verify)
    with _contexts_lock:
        ctx = _contexts.get(strict)
        if ctx is None:
            ctx = ssl.create_default_context()
            if not strict:
                # Either the admin pinned the exact certificate (checked after the handshake) or explicitly
                # chose to accept any certificate for this provider; never the default.
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            _contexts[strict] = ctx
        return ctx


def normalise_fingerprint(value: str) -> str:
    return value.lower().removeprefix("sha256:").replace(":", "")


def connect(endpoint: Endpoint, spec: LoginSpec, timeout: float = 60.0) -> IMAPClient:
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
                               "for it in the project").format(error=exc.verify_message or exc)) from None
    except socket.gaierror as exc:
        raise FatalUserError(_("cannot resolve {host}: {error}").format(host=endpoint.host, error=exc.strerror)) from None
    try:
        if endpoint.tls_fingerprint and endpoint.tls != "plain":
            der = client._imap.sock.getpeercert(binary_form=True)
            got = hashlib.sha256(der or b"").hexdigest()
            if got != normalise_fingerprint(endpoint.tls_fingerprint):
                raise FatalUserError(_("the server's certificate fingerprint sha256:{got} does not match the pinned "
                                       "one").format(got=got))
        client.normalise_times = False  # keep INTERNALDATE's own offset
        client.folder_encode = False  # names stay the server's exact bytes; we decode them ourselves
        _login(client, spec)
    except BaseException:
        _close(client)
        raise
    return client


def _login(client: IMAPClient, spec: LoginSpec) -> None:
    auth = spec.auth
    try:
        if auth.method == "master":
            client.login(f"{spec.login}{auth.separator}{auth.master_user}", spec.secret)
        elif auth.method == "authzid":
            client.plain_login(auth.master_user, spec.secret, authorization_identity=spec.login)
        else:
            client.login(spec.login, spec.secret)
    except LoginError as exc:
        who = spec.login if auth.method == "user" else f"{spec.login} (via {auth.master_user})"
        raise FatalUserError(_("login refused for {who}: {reason}").format(who=who, reason=_text(exc))) from None


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
