"""Setting a provider's servers (IMAP, SMTP) and admin login: one validated edit shared by the CLI
(`mailmig new --old-imap …`, `mailmig provider set …`) and the Providers tab's editor."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailmig_tui.core.i18n import _
from mailmig_tui.core.model import AUTH_METHODS, TLS_MODES, Provider

HOST_RE = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$"
                     r"|^\[?[0-9A-Fa-f:.]+\]?$")
# The usual TLS mode of a well-known port, when only HOST:PORT is given.
PORT_TLS = {993: "ssl", 143: "starttls", 465: "ssl", 587: "starttls", 25: "starttls"}


class EndpointError(ValueError):
    """A bad host, port, TLS mode or login: the message names the field."""


@dataclass
class EndpointChange:
    """What to change; None leaves a field as it is."""

    imap_host: str | None = None
    imap_port: int | None = None
    imap_tls: str | None = None
    smtp_host: str | None = None
    smtp_port: int | None = None
    smtp_tls: str | None = None
    auth_method: str | None = None
    master_user: str | None = None


def check_host(value: str, field: str) -> str:
    value = value.strip()
    if value and not HOST_RE.match(value):
        raise EndpointError(_("{field}: not a host name or address: {value!r}").format(field=field, value=value))
    return value


def check_port(value: int | str, field: str) -> int:
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise EndpointError(_("{field}: not a port number: {value!r}").format(field=field, value=value)) from None
    if not 0 < port <= 65535:
        raise EndpointError(_("{field}: a port is 1-65535, not {value}").format(field=field, value=port))
    return port


def check_tls(value: str, field: str) -> str:
    if value not in TLS_MODES:
        raise EndpointError(_("{field}: must be one of {choices}, not {value!r}").format(
            field=field, choices=", ".join(TLS_MODES), value=value))
    return value


def parse_host_port(value: str, field: str) -> tuple[str, int | None]:
    """`imap.corp.example` or `imap.corp.example:993` (or `[::1]:993`)."""
    value = value.strip()
    match = re.fullmatch(r"(\[[^\]]+\]|[^:]+):(\d+)", value)
    if match:
        return check_host(match.group(1).strip("[]"), field), check_port(match.group(2), field)
    return check_host(value.strip("[]"), field), None


def apply_change(provider: Provider, change: EndpointChange) -> None:
    """Validate everything first, then change: a bad field changes nothing."""
    imap_host = check_host(change.imap_host, "imap host") if change.imap_host is not None else provider.imap.host
    imap_port = check_port(change.imap_port, "imap port") if change.imap_port is not None else provider.imap.port
    imap_tls = check_tls(change.imap_tls, "imap tls") if change.imap_tls is not None else (
        PORT_TLS.get(imap_port, provider.imap.tls) if change.imap_port is not None else provider.imap.tls)
    smtp_host = check_host(change.smtp_host, "smtp host") if change.smtp_host is not None else provider.smtp.host
    smtp_port = check_port(change.smtp_port, "smtp port") if change.smtp_port is not None else provider.smtp.port
    smtp_tls = check_tls(change.smtp_tls, "smtp tls") if change.smtp_tls is not None else (
        PORT_TLS.get(smtp_port, provider.smtp.tls) if change.smtp_port is not None else provider.smtp.tls)
    method = change.auth_method if change.auth_method is not None else provider.auth.method
    if method not in AUTH_METHODS:
        raise EndpointError(_("auth: must be one of {choices}, not {value!r}").format(
            choices=", ".join(AUTH_METHODS), value=method))
    master = (change.master_user if change.master_user is not None else provider.auth.master_user).strip()
    if method != "user" and not master:
        raise EndpointError(_("auth {method!r} needs the admin login (master user)").format(method=method))
    if imap_host and not imap_port:
        imap_port = 993 if imap_tls == "ssl" else 143
    if smtp_host and not smtp_port:
        smtp_port = 465 if smtp_tls == "ssl" else 587
    provider.imap.host, provider.imap.port, provider.imap.tls = imap_host, imap_port, imap_tls
    provider.smtp.host, provider.smtp.port, provider.smtp.tls = smtp_host, smtp_port, smtp_tls
    provider.auth.method, provider.auth.master_user = method, master


def admin_password_hint(side: str) -> str:
    """How to store the admin (master) login's password: added to the "no password stored" error."""
    return _("(store it with `mailmig credentials set PROJECT --admin {side}`)").format(side=side)
