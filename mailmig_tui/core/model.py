"""The migration project: everything about one migration, as stored in its TOML project file.

Every dataclass keeps the keys it does not know in `extra`, so a file written by a newer version keeps
them when this version saves it. Nothing here holds a password or token: credentials live in the
keyring (see core/credentials.py).
"""

from __future__ import annotations

import copy
import getpass
import os
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, ClassVar

from mailmig_tui.core import clock
from mailmig_tui.core.i18n import N_, _
from mailmig_tui.core.phases import Phase, PhaseStatus

SCHEMA_VERSION = 1
TLS_MODES = ("ssl", "starttls", "plain")
USER_ROLES = ("user", "pilot", "admin")
ROLE_LABELS = {"user": N_("user"), "pilot": N_("pilot"), "admin": N_("admin")}
MAX_EVENTS = 500


class SchemaError(ValueError):
    """A value of the wrong type or shape; `path` names the key, e.g. ('users', 3, 'email')."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


Path_ = tuple[str | int, ...]


def _take(data: dict[str, Any], key: str, kind: type | tuple[type, ...], path: Path_, default: Any) -> Any:
    if key not in data:
        return default
    value = data[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    # bool is an int in Python, but a port of `true` is a mistake the user should hear about.
    if isinstance(value, bool) and bool not in kinds:
        raise SchemaError((*path, key), _("expected {kind}, found {value!r}").format(kind=_kind_name(kinds), value=value))
    if not isinstance(value, kinds):
        raise SchemaError((*path, key), _("expected {kind}, found {type} {value!r}").format(kind=_kind_name(kinds), type=type(value).__name__, value=value))
    return value


def _kind_name(kinds: tuple[type, ...]) -> str:
    names = {str: N_("a string"), int: N_("an integer"), bool: N_("true or false"), list: N_("a list"),
             dict: N_("a table"), datetime: N_("a date-time"), date: N_("a date"), float: N_("a number")}
    return _(" or ").join(_(names[k]) if k in names else k.__name__ for k in kinds)


def _extra(data: dict[str, Any], known: set[str]) -> dict[str, Any]:
    return {k: copy.deepcopy(v) for k, v in data.items() if k not in known}


def _table(data: dict[str, Any], key: str, path: Path_) -> dict[str, Any]:
    value = _take(data, key, dict, path, {})
    assert isinstance(value, dict)
    return value


def _tables(data: dict[str, Any], key: str, path: Path_) -> list[dict[str, Any]]:
    value = _take(data, key, list, path, [])
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise SchemaError((*path, key, i), _("expected a table, found {value!r}").format(value=item))
    return list(value)


def _drop_empty(data: dict[str, Any]) -> dict[str, Any]:
    """TOML has no null: leave unset optional values out of the file."""
    return {k: v for k, v in data.items() if v is not None and v != "" and v != {} and v != []}


def now() -> datetime:
    return clock.now()


def current_operator() -> str:
    """Who is at the keyboard, for the event log (MAILMIG_OPERATOR overrides the login name)."""
    name = os.environ.get("MAILMIG_OPERATOR")
    if name:
        return name
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@dataclass
class Endpoint:
    """An IMAP or SMTP server: host, port and how TLS is done."""

    host: str = ""
    port: int = 0
    tls: str = "ssl"
    extra: dict[str, Any] = field(default_factory=dict)
    # Certificates are verified unless the admin explicitly turns it off for this endpoint, or pins the
    # certificate's SHA-256 fingerprint ("sha256:<hex>"), which then replaces CA verification.
    tls_verify: bool = True
    tls_fingerprint: str = ""

    KNOWN = {"host", "port", "tls", "tls_verify", "tls_fingerprint"}

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: Path_) -> Endpoint:
        tls = _take(data, "tls", str, path, "ssl")
        if tls not in TLS_MODES:
            raise SchemaError((*path, "tls"), _("must be one of {choices}, found {value!r}").format(choices=", ".join(TLS_MODES), value=tls))
        port = _take(data, "port", int, path, 0)
        if not 0 <= port <= 65535:
            raise SchemaError((*path, "port"), _("port must be 0-65535, found {port}").format(port=port))
        fingerprint = _take(data, "tls_fingerprint", str, path, "")
        if fingerprint and not re.fullmatch(r"sha256:[0-9a-fA-F:]{64,95}", fingerprint):
            raise SchemaError((*path, "tls_fingerprint"),
                              _("expected sha256:<64 hex digits>, found {value!r}").format(value=fingerprint))
        return cls(_take(data, "host", str, path, ""), port, tls, _extra(data, cls.KNOWN),
                   _take(data, "tls_verify", bool, path, True), fingerprint)

    def to_dict(self) -> dict[str, Any]:
        return {**self.extra, **_drop_empty({"host": self.host, "port": self.port or None, "tls": self.tls,
                                             "tls_verify": None if self.tls_verify else False,
                                             "tls_fingerprint": self.tls_fingerprint})}

    def describe(self) -> str:
        return f"{self.host}:{self.port} ({self.tls})" if self.host else "—"


@dataclass
class MxHost:
    host: str
    preference: int = 10
    extra: dict[str, Any] = field(default_factory=dict)

    KNOWN: ClassVar[set[str]] = {"host", "preference"}

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: Path_) -> MxHost:
        host = _take(data, "host", str, path, "")
        if not host:
            raise SchemaError((*path, "host"), _("an MX entry needs a host"))
        return cls(host, _take(data, "preference", int, path, 10), _extra(data, cls.KNOWN))

    def to_dict(self) -> dict[str, Any]:
        return {**self.extra, "host": self.host, "preference": self.preference}


@dataclass
class Limits:
    """A provider's documented throttling limits; engines bound their parallelism by them."""

    max_connections: int = 4
    max_connections_per_user: int = 2
    messages_per_minute: int = 0
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    KNOWN = {"max_connections", "max_connections_per_user", "messages_per_minute", "notes"}

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: Path_) -> Limits:
        return cls(
            _take(data, "max_connections", int, path, 4),
            _take(data, "max_connections_per_user", int, path, 2),
            _take(data, "messages_per_minute", int, path, 0),
            _take(data, "notes", str, path, ""),
            _extra(data, cls.KNOWN),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.extra,
            "max_connections": self.max_connections,
            "max_connections_per_user": self.max_connections_per_user,
            **_drop_empty({"messages_per_minute": self.messages_per_minute or None, "notes": self.notes}),
        }


AUTH_METHODS = ("user", "master", "authzid", "oauth2")
# method = "oauth2": how the token is obtained (core/oauth) and which SASL mechanism carries it.
OAUTH2_FLAVOURS = ("ms-client-credentials", "ms-device-code", "google-service-account", "token-command")
OAUTH2_MECHANISMS = ("XOAUTH2", "OAUTHBEARER")
# key -> (type, flavours that require it); the values stay in Auth.extra and core/oauth reads them.
OAUTH2_KEYS: dict[str, tuple[type, tuple[str, ...]]] = {
    "oauth2": (str, OAUTH2_FLAVOURS),
    "mechanism": (str, ()),
    "client_id": (str, ("ms-client-credentials", "ms-device-code")),
    "tenant": (str, ("ms-client-credentials", "ms-device-code")),
    "authority": (str, ()),
    "account": (str, ()),
    "token_command": (str, ("token-command",)),
    "scopes": (list, ()),
    "refresh_margin": (int, ()),
}


def _check_oauth2(data: dict[str, Any], path: Path_) -> None:
    """method = "oauth2": the flavour, the keys it needs, their types (errors name the key)."""
    for key, (kind, _needed) in OAUTH2_KEYS.items():
        _take(data, key, kind, path, None)
    flavour = data.get("oauth2", "")
    if flavour not in OAUTH2_FLAVOURS:
        raise SchemaError((*path, "oauth2"), _("method \"oauth2\" needs oauth2 = one of {choices}, found {value!r}").format(
            choices=", ".join(OAUTH2_FLAVOURS), value=flavour or ""))
    for key, (_kind, needed) in OAUTH2_KEYS.items():
        if flavour in needed and not data.get(key):
            raise SchemaError((*path, key), _("oauth2 = {flavour!r} needs {key}").format(flavour=flavour, key=key))
    mechanism = data.get("mechanism", "XOAUTH2")
    if mechanism not in OAUTH2_MECHANISMS:
        raise SchemaError((*path, "mechanism"), _("must be one of {choices}, found {value!r}").format(
            choices=", ".join(OAUTH2_MECHANISMS), value=mechanism))
    for i, scope in enumerate(data.get("scopes", [])):
        if not isinstance(scope, str) or not scope:
            raise SchemaError((*path, "scopes", i), _("expected a string, found {value!r}").format(value=scope))
    if data.get("refresh_margin", 0) < 0:
        raise SchemaError((*path, "refresh_margin"), _("must be 0 or more seconds"))


@dataclass
class Auth:
    """How mailmig logs in to a provider's mailboxes: as each user (`user`, the default), or with one
    admin account: Dovecot-style `user<separator>admin` logins (`master`) or SASL PLAIN with an
    authorisation identity (`authzid`). The admin's password lives with the other credentials.
    `oauth2`: an OAuth2 access token per mailbox (XOAUTH2/OAUTHBEARER); its settings (flavour,
    client_id, tenant, token_command…, see OAUTH2_KEYS) stay in `extra` and core/oauth reads them."""

    method: str = "user"
    master_user: str = ""
    separator: str = "*"
    extra: dict[str, Any] = field(default_factory=dict)

    KNOWN: ClassVar[set[str]] = {"method", "master_user", "separator"}

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: Path_) -> Auth:
        method = _take(data, "method", str, path, "user")
        if method not in AUTH_METHODS:
            raise SchemaError((*path, "method"), _("must be one of {choices}, found {value!r}").format(choices=", ".join(AUTH_METHODS), value=method))
        master = _take(data, "master_user", str, path, "")
        if method == "oauth2":
            _check_oauth2(data, path)
        elif method != "user" and not master:
            raise SchemaError((*path, "master_user"), _("method {value!r} needs the admin login in master_user").format(value=method))
        return cls(method, master, _take(data, "separator", str, path, "*"), _extra(data, cls.KNOWN))

    def to_dict(self) -> dict[str, Any]:
        return {**self.extra, **_drop_empty({"method": None if self.method == "user" else self.method,
                                             "master_user": self.master_user,
                                             "separator": None if self.separator == "*" else self.separator})}


@dataclass
class Provider:
    """One side of the migration. Fields start from a preset (core/presets) and may be overridden."""

    preset: str = "generic-imap"
    name: str = ""
    imap: Endpoint = field(default_factory=Endpoint)
    smtp: Endpoint = field(default_factory=Endpoint)
    mx: list[MxHost] = field(default_factory=list)
    spf_include: str = ""
    dkim_selectors: list[str] = field(default_factory=list)
    webmail: str = ""
    admin_console: str = ""
    limits: Limits = field(default_factory=Limits)
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    auth: Auth = field(default_factory=Auth)

    KNOWN = {"preset", "name", "imap", "smtp", "mx", "spf_include", "dkim_selectors", "webmail",
             "admin_console", "limits", "source", "auth"}

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: Path_) -> Provider:
        selectors = _take(data, "dkim_selectors", list, path, [])
        for i, s in enumerate(selectors):
            if not isinstance(s, str):
                raise SchemaError((*path, "dkim_selectors", i), _("expected a string, found {value!r}").format(value=s))
        return cls(
            preset=_take(data, "preset", str, path, "generic-imap"),
            name=_take(data, "name", str, path, ""),
            imap=Endpoint.from_dict(_table(data, "imap", path), (*path, "imap")),
            smtp=Endpoint.from_dict(_table(data, "smtp", path), (*path, "smtp")),
            mx=[MxHost.from_dict(m, (*path, "mx", i)) for i, m in enumerate(_tables(data, "mx", path))],
            spf_include=_take(data, "spf_include", str, path, ""),
            dkim_selectors=list(selectors),
            webmail=_take(data, "webmail", str, path, ""),
            admin_console=_take(data, "admin_console", str, path, ""),
            limits=Limits.from_dict(_table(data, "limits", path), (*path, "limits")),
            source=_take(data, "source", str, path, ""),
            extra=_extra(data, cls.KNOWN),
            auth=Auth.from_dict(_table(data, "auth", path), (*path, "auth")),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.extra,
            **_drop_empty({
                "preset": self.preset,
                "name": self.name,
                "webmail": self.webmail,
                "admin_console": self.admin_console,
                "spf_include": self.spf_include,
                "dkim_selectors": list(self.dkim_selectors),
                "source": self.source,
            }),
            "imap": self.imap.to_dict(),
            "smtp": self.smtp.to_dict(),
            "mx": [m.to_dict() for m in self.mx],
            "limits": self.limits.to_dict(),
            **_drop_empty({"auth": self.auth.to_dict()}),
        }


@dataclass
class User:
    email: str
    display_name: str = ""
    department: str = ""
    old_login: str = ""
    new_login: str = ""
    role: str = "user"
    extra: dict[str, Any] = field(default_factory=dict)

    KNOWN = {"email", "display_name", "department", "old_login", "new_login", "role"}

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: Path_) -> User:
        email = _take(data, "email", str, path, "")
        if "@" not in email:
            raise SchemaError((*path, "email"), _("expected an email address, found {value!r}").format(value=email))
        role = _take(data, "role", str, path, "user")
        if role not in USER_ROLES:
            raise SchemaError((*path, "role"), _("must be one of {choices}, found {value!r}").format(choices=", ".join(USER_ROLES), value=role))
        return cls(
            email,
            _take(data, "display_name", str, path, ""),
            _take(data, "department", str, path, ""),
            _take(data, "old_login", str, path, ""),
            _take(data, "new_login", str, path, ""),
            role,
            _extra(data, cls.KNOWN),
        )

    def to_dict(self) -> dict[str, Any]:
        return {**self.extra, "email": self.email, **_drop_empty({
            "display_name": self.display_name,
            "department": self.department,
            "old_login": self.old_login,
            "new_login": self.new_login,
            "role": self.role if self.role != "user" else None,
        })}

    @property
    def effective_old_login(self) -> str:
        return self.old_login or self.email

    @property
    def effective_new_login(self) -> str:
        return self.new_login or self.email


@dataclass
class ChecklistItem:
    id: str
    phase: Phase
    title: str
    done: bool = False
    done_by: str = ""
    done_at: datetime | None = None
    owner: str = ""
    due: date | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    KNOWN = {"id", "phase", "title", "done", "done_by", "done_at", "owner", "due", "note"}

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: Path_) -> ChecklistItem:
        phase = _take(data, "phase", str, path, "")
        try:
            phase_value = Phase(phase)
        except ValueError:
            raise SchemaError(
                (*path, "phase"), _("must be one of {choices}, found {value!r}").format(choices=", ".join(p.value for p in Phase), value=phase)
            ) from None
        item_id = _take(data, "id", str, path, "")
        if not item_id:
            raise SchemaError((*path, "id"), _("every checklist item needs an id"))
        due = _take(data, "due", (date, datetime), path, None)
        if isinstance(due, datetime):
            due = due.date()
        done_at = _take(data, "done_at", datetime, path, None)
        return cls(
            id=item_id,
            phase=phase_value,
            title=_take(data, "title", str, path, ""),
            done=_take(data, "done", bool, path, False),
            done_by=_take(data, "done_by", str, path, ""),
            done_at=done_at,
            owner=_take(data, "owner", str, path, ""),
            due=due,
            note=_take(data, "note", str, path, ""),
            extra=_extra(data, cls.KNOWN),
        )

    def to_dict(self) -> dict[str, Any]:
        return {**self.extra, "id": self.id, "phase": self.phase.value, "title": self.title,
                "done": self.done, **_drop_empty({
                    "done_by": self.done_by,
                    "done_at": self.done_at,
                    "owner": self.owner,
                    "due": self.due,
                    "note": self.note,
                })}

    def is_overdue(self, today: date) -> bool:
        return not self.done and self.due is not None and self.due < today


@dataclass
class Event:
    at: datetime
    who: str
    what: str
    extra: dict[str, Any] = field(default_factory=dict)

    KNOWN = {"at", "who", "what"}

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: Path_) -> Event:
        return cls(
            _take(data, "at", datetime, path, now()),
            _take(data, "who", str, path, ""),
            _take(data, "what", str, path, ""),
            _extra(data, cls.KNOWN),
        )

    def to_dict(self) -> dict[str, Any]:
        return {**self.extra, "at": self.at, "who": self.who, "what": self.what}


PLAN_KEYS = ("ttl_lowered", "backup_start", "prestage_copy", "mx_cutover", "go_live", "old_provider_off")


@dataclass
class Plan:
    """The key dates of the migration (aware date-times; TOML keeps the offset)."""

    dates: dict[str, datetime | None] = field(default_factory=lambda: {k: None for k in PLAN_KEYS})
    old_mx_ttl: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: Path_) -> Plan:
        dates: dict[str, datetime | None] = {}
        for key in PLAN_KEYS:
            value = _take(data, key, (datetime, date), path, None)
            if isinstance(value, datetime) and value.tzinfo is None:
                raise SchemaError((*path, key), _("a plan date needs a UTC offset, e.g. 2026-12-05T22:00:00+08:00"))
            if isinstance(value, date) and not isinstance(value, datetime):
                raise SchemaError((*path, key), _("a plan date needs a time and UTC offset, e.g. 2026-12-05T22:00:00+08:00"))
            dates[key] = value
        return cls(dates, _take(data, "old_mx_ttl", int, path, 0),
                   _extra(data, set(PLAN_KEYS) | {"old_mx_ttl"}))

    def to_dict(self) -> dict[str, Any]:
        return {**self.extra, **_drop_empty({**self.dates, "old_mx_ttl": self.old_mx_ttl or None})}


def subtable(data: dict[str, Any], key: str) -> dict[str, Any]:
    """data[key] when it is a table, else {} (a record edited by hand into another shape)."""
    value = data.get(key)
    return value if isinstance(value, dict) else {}


@dataclass
class Project:
    domain: str
    old: Provider = field(default_factory=Provider)
    new: Provider = field(default_factory=Provider)
    users: list[User] = field(default_factory=list)
    checklist: list[ChecklistItem] = field(default_factory=list)
    plan: Plan = field(default_factory=Plan)
    phases: dict[Phase, PhaseStatus] = field(default_factory=lambda: {p: PhaseStatus.NOT_STARTED for p in Phase})
    events: list[Event] = field(default_factory=list)
    language: str = ""
    notices: dict[str, str] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION
    # Whole sections owned by later phases' engines (backup summary, DNS resolvers…) and keys we do
    # not know: kept as plain TOML data so a save never drops them.
    sections: dict[str, Any] = field(default_factory=dict)

    KNOWN = {"schema_version", "domain", "language", "old_provider", "new_provider", "users", "checklist",
             "plan", "phases", "events", "notices"}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Project:
        path: Path_ = ()
        version = _take(data, "schema_version", int, path, 0)
        if version < 1:
            raise SchemaError(("schema_version",), _("missing or invalid schema_version (this file was not written by mailmig?)"))
        if version > SCHEMA_VERSION:
            raise SchemaError(("schema_version",), _("this file is schema {version}; this mailmig reads up to {supported}: upgrade mailmig").format(version=version, supported=SCHEMA_VERSION))
        domain = _take(data, "domain", str, path, "")
        if not domain or "." not in domain:
            raise SchemaError(("domain",), _("expected a domain such as corp.example, found {value!r}").format(value=domain))
        phases_raw = _table(data, "phases", path)
        phases = {p: PhaseStatus.NOT_STARTED for p in Phase}
        for key, value in phases_raw.items():
            try:
                phase = Phase(key)
            except ValueError:
                raise SchemaError(("phases", key), _("unknown phase {value!r}").format(value=key)) from None
            try:
                phases[phase] = PhaseStatus(value)
            except ValueError:
                raise SchemaError(("phases", key), _("must be one of {choices}, found {value!r}").format(choices=", ".join(s.value for s in PhaseStatus), value=value)) from None
        notices = _table(data, "notices", path)
        for key, value in notices.items():
            if not isinstance(value, str):
                raise SchemaError(("notices", key), _("expected a template string, found {value!r}").format(value=value))
        users = [User.from_dict(u, ("users", i)) for i, u in enumerate(_tables(data, "users", path))]
        seen: dict[str, int] = {}
        for i, u in enumerate(users):
            key = u.email.lower()
            if key in seen:
                raise SchemaError(("users", i, "email"), _("{email} is listed twice (also users[{index}])").format(email=u.email, index=seen[key]))
            seen[key] = i
        items = [ChecklistItem.from_dict(c, ("checklist", i)) for i, c in enumerate(_tables(data, "checklist", path))]
        ids: set[str] = set()
        for i, item in enumerate(items):
            if item.id in ids:
                raise SchemaError(("checklist", i, "id"), _("checklist id {value!r} is used twice").format(value=item.id))
            ids.add(item.id)
        return cls(
            domain=domain,
            old=Provider.from_dict(_table(data, "old_provider", path), ("old_provider",)),
            new=Provider.from_dict(_table(data, "new_provider", path), ("new_provider",)),
            users=users,
            checklist=items,
            plan=Plan.from_dict(_table(data, "plan", path), ("plan",)),
            phases=phases,
            events=[Event.from_dict(e, ("events", i)) for i, e in enumerate(_tables(data, "events", path))],
            language=_take(data, "language", str, path, ""),
            notices=dict(notices),
            schema_version=SCHEMA_VERSION,
            sections=_extra(data, cls.KNOWN),
        )

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "domain": self.domain}
        if self.language:
            data["language"] = self.language
        data["old_provider"] = self.old.to_dict()
        data["new_provider"] = self.new.to_dict()
        data["plan"] = self.plan.to_dict()
        data["phases"] = {p.value: s.value for p, s in self.phases.items()}
        if self.notices:
            data["notices"] = dict(self.notices)
        for key, value in self.sections.items():
            data[key] = copy.deepcopy(value)
        data["users"] = [u.to_dict() for u in self.users]
        data["checklist"] = [c.to_dict() for c in self.checklist]
        data["events"] = [e.to_dict() for e in self.events[-MAX_EVENTS:]]
        return data

    # --- small, commonly needed views and edits -------------------------------------------------

    def items_for(self, phase: Phase) -> list[ChecklistItem]:
        return [c for c in self.checklist if c.phase == phase]

    def item(self, item_id: str) -> ChecklistItem:
        for c in self.checklist:
            if c.id == item_id:
                return c
        raise KeyError(item_id)

    def section(self, name: str) -> dict[str, Any]:
        """An engine's own table of the file (`[backup]`, `[copy]` …); {} when absent or, edited by hand,
        not a table."""
        value = self.sections.get(name)
        return value if isinstance(value, dict) else {}

    def log(self, what: str, who: str | None = None) -> None:
        self.events.append(Event(now(), who or current_operator(), what))
        del self.events[:-MAX_EVENTS]

    def user(self, email: str) -> User:
        for u in self.users:
            if u.email.lower() == email.lower():
                return u
        raise KeyError(email)
