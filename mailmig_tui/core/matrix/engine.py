"""The matrix engine: every selected check for every selected user, against the real servers.

Plain Python for the CLI and the TUI alike: `MatrixEngine(...).run()` blocks and returns the cells;
`cancel` (a threading.Event) stops it between steps and while waiting for probes; `on_event` receives
small frozen events from worker threads. Users run in parallel, bounded by the providers'
`limits.max_connections` (each user holds at most one IMAP connection per provider and one SMTP session).

Per user, in this order so the probes travel while other checks run:
old login → new login → send (internal probe via submission) → MX probe (resolve MX with the project's
resolvers, port 25) → mail present → client settings → wait for the internal probe (receive, then DKIM
on what arrived) → wait for the MX probe at the new provider, and at the old one too.

A cell passes only when what it tests was seen: a probe that did not arrive in time fails with how long
it waited; a check that could not run is "not run" with the reason.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from imapclient import IMAPClient

from mailmig_tui.core import clock
from mailmig_tui.core.copy.config import CopyConfig
from mailmig_tui.core.credentials import Credentials
from mailmig_tui.core.dns.config import DnsConfig
from mailmig_tui.core.errors import CredentialError
from mailmig_tui.core.i18n import _
from mailmig_tui.core.imap.session import TRANSIENT_ERRORS, FatalUserError, LoginSpec, close_quietly, connect
from mailmig_tui.core.matrix import probes
from mailmig_tui.core.matrix.auth import dkim_cell
from mailmig_tui.core.matrix.checks import CHECK_IDS, FAILED, NOT_RUN, PASSED, WARNING, Cell
from mailmig_tui.core.matrix.client import check_client_settings
from mailmig_tui.core.matrix.config import MatrixConfig
from mailmig_tui.core.matrix.lookup import Lookup
from mailmig_tui.core.matrix.present import compare
from mailmig_tui.core.model import Project, User
from mailmig_tui.core.smtp.session import SmtpError, deliver, submit


@dataclass(frozen=True, slots=True)
class MatrixStarted:
    users: tuple[str, ...]
    checks: tuple[str, ...]
    workers: int


@dataclass(frozen=True, slots=True)
class CellStarted:
    user: str
    check: str


@dataclass(frozen=True, slots=True)
class CellDone:
    cell: Cell


@dataclass(frozen=True, slots=True)
class MatrixFinished:
    cells: int
    passed: int
    failed: int
    warnings: int
    not_run: int
    seconds: float
    cancelled: bool


MatrixEvent = MatrixStarted | CellStarted | CellDone | MatrixFinished


@dataclass
class Secrets:
    """What one user logs in with, read on the calling thread (keyring backends are not all thread-safe)."""

    old: LoginSpec | str  # the spec, or why there is none
    new: LoginSpec | str
    new_password: str | None  # the user's own new password, for SMTP AUTH
    new_password_problem: str = ""


def read_secrets(project: Project, credentials: Credentials, users: list[User]) -> dict[str, Secrets]:
    out: dict[str, Secrets] = {}
    admins: dict[str, str | None] = {}
    for side in ("old", "new"):
        auth = (project.old if side == "old" else project.new).auth
        if auth.method != "user":
            try:
                admins[side] = credentials.get(project.domain, side, auth.master_user)
            except CredentialError:
                admins[side] = None

    oauth: dict[str, dict[str, LoginSpec | str]] = {}
    for side in ("old", "new"):
        if (project.old if side == "old" else project.new).auth.method == "oauth2":
            from mailmig_tui.core.oauth.logins import oauth_login_specs

            oauth[side] = oauth_login_specs(project, side, credentials, {
                u.email: u.effective_old_login if side == "old" else u.effective_new_login for u in users})

    def spec(side: str, user: User) -> LoginSpec | str:
        provider = project.old if side == "old" else project.new
        login = user.effective_old_login if side == "old" else user.effective_new_login
        if side in oauth:
            return oauth[side][user.email]
        if provider.auth.method != "user":
            secret = admins.get(side)
            return (LoginSpec(login, secret, provider.auth) if secret is not None else
                    _("no password stored for the admin login {login}").format(login=provider.auth.master_user))
        try:
            secret = credentials.get(project.domain, side, login)
        except CredentialError as exc:
            return str(exc)
        if secret is None:
            return _("no {side}-provider password stored for {login} (import it with `mailmig users import`)").format(
                side=side, login=login)
        return LoginSpec(login, secret, provider.auth)

    for user in users:
        new_pw: str | None = None
        problem = ""
        if "new" in oauth:  # SMTP AUTH with the same OAuth2 token source as IMAP (see _send)
            out[user.email] = Secrets(spec("old", user), spec("new", user), None, "")
            continue
        try:
            new_pw = credentials.get(project.domain, "new", user.effective_new_login)
        except CredentialError as exc:
            problem = str(exc)
        if new_pw is None and not problem:
            problem = _("no new-provider password stored for {login}: SMTP AUTH needs the user's own password").format(
                login=user.effective_new_login)
        out[user.email] = Secrets(spec("old", user), spec("new", user), new_pw, problem)
    return out


def _elapsed(start: float) -> float:
    return round(time.monotonic() - start, 3)


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, FatalUserError | SmtpError):
        return str(exc)
    detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
    return _("connection problem: {error}").format(error=detail)


class RateLimit:
    """At most `per_minute` submissions a minute across all workers (the provider's
    `limits.messages_per_minute`); 0 means no limit. Waiting stops early when the run is cancelled."""

    def __init__(self, per_minute: int, cancel: threading.Event) -> None:
        self.interval = 60.0 / per_minute if per_minute > 0 else 0.0
        self.cancel = cancel
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            self.cancel.wait(slot - now)


@dataclass
class _Row:
    """The state of one user's row while it runs."""

    user: User
    secrets: Secrets
    old: IMAPClient | None = None
    new: IMAPClient | None = None
    old_error: str = ""
    new_error: str = ""
    cells: dict[str, Cell] = field(default_factory=dict)


class MatrixEngine:
    def __init__(self, project: Project, credentials: Credentials, *, users: list[User], checks: list[str] | None = None,
                 config: MatrixConfig | None = None, dns: DnsConfig | None = None,
                 on_event: Callable[[MatrixEvent], None] | None = None, cancel: threading.Event | None = None,
                 copy_config: CopyConfig | None = None) -> None:
        self.project = project
        self.copy_config = copy_config
        self.users = users
        self.checks = [c for c in CHECK_IDS if checks is None or c in checks]
        self.config = config or MatrixConfig()
        self.lookup = Lookup(dns or DnsConfig())
        self.on_event = on_event or (lambda _event: None)
        self.cancel = cancel or threading.Event()
        self.secrets = read_secrets(project, credentials, users)
        self.rate = RateLimit(project.new.limits.messages_per_minute, self.cancel)
        self.active_tokens: set[str] = set()
        self._lock = threading.Lock()
        self._client_result: tuple[str, str] | None = None
        self._client_lock = threading.Lock()
        self._sending_ips: list[str] | None = None

    # --- the run ------------------------------------------------------------------------------

    @property
    def workers(self) -> int:
        if self.config.workers:
            return self.config.workers
        return max(1, min(self.project.old.limits.max_connections, self.project.new.limits.max_connections))

    def run(self) -> list[Cell]:
        started = time.monotonic()
        workers = min(self.workers, max(1, len(self.users)))
        self.on_event(MatrixStarted(tuple(u.email for u in self.users), tuple(self.checks), workers))
        cells: list[Cell] = []
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="matrix") as pool:
            for row_cells in pool.map(self._run_user, self.users):
                cells += row_cells
        counts = {s: sum(1 for c in cells if c.status == s) for s in (PASSED, FAILED, WARNING, NOT_RUN)}
        self.on_event(MatrixFinished(len(cells), counts[PASSED], counts[FAILED], counts[WARNING], counts[NOT_RUN],
                                     round(time.monotonic() - started, 2), self.cancel.is_set()))
        return cells

    def _emit(self, row: _Row, check: str, status: str, reason: str, started_at: datetime, started: float,
              seconds: float | None = None, **details: str) -> None:
        if check not in self.checks or check in row.cells:
            return
        cell = Cell(row.user.email, check, status, reason, started_at,
                    _elapsed(started) if seconds is None else round(seconds, 3), dict(details))
        row.cells[check] = cell
        self.on_event(CellDone(cell))

    def _begin(self, row: _Row, check: str) -> tuple[datetime, float]:
        if check in self.checks:
            self.on_event(CellStarted(row.user.email, check))
        return clock.now(), time.monotonic()

    def _not_run(self, row: _Row, reason: str) -> None:
        for check in self.checks:
            if check not in row.cells:
                self._emit(row, check, NOT_RUN, reason, clock.now(), time.monotonic(), seconds=0.0)

    def _run_user(self, user: User) -> list[Cell]:
        row = _Row(user, self.secrets[user.email])
        try:
            if self.cancel.is_set():
                self._not_run(row, _("cancelled before it started"))
                return list(row.cells.values())
            self._steps(row)
        except Exception as exc:  # a bug or an unexpected server answer: this row only, said plainly
            self._not_run(row, _("stopped by an unexpected error: {error}").format(error=_error_text(exc)))
        finally:
            close_quietly(row.old)
            close_quietly(row.new)
            if self.cancel.is_set():
                self._not_run(row, _("cancelled"))
        return [row.cells[c] for c in self.checks if c in row.cells]

    def _needs(self, *checks: str) -> bool:
        return any(c in self.checks for c in checks)

    def _steps(self, row: _Row) -> None:
        # 1-2: logins (kept open for the checks that read mailboxes).
        if self._needs("old_login", "present", "mx"):
            row.old, row.old_error = self._login(row, "old_login", row.secrets.old, self.project.old.imap)
        # The new mailbox is opened for every check that sends a probe, if only to delete it afterwards.
        if self._needs("new_login", "send", "receive", "mx", "present", "dkim"):
            row.new, row.new_error = self._login(row, "new_login", row.secrets.new, self.project.new.imap)
        if row.new is not None:
            probes.delete_stale(row.new, "INBOX", self.active_tokens)
        if row.old is not None and "mx" in self.checks:
            probes.delete_stale(row.old, "INBOX", self.active_tokens)
        if self.cancel.is_set():
            return
        # 3: the internal probe, through the new provider's submission port.
        internal: tuple[str, float] | None = None
        if self._needs("send", "receive", "dkim"):
            internal = self._send(row)
        # 4: the MX probe, the way an outside sender's MTA would deliver it.
        mx_probe: tuple[str, float, str, datetime] | None = None
        if "mx" in self.checks and not self.cancel.is_set():
            mx_probe = self._deliver_mx(row)
        # 5-6: while the probes travel.
        if "present" in self.checks and not self.cancel.is_set():
            self._present(row)
        if "client" in self.checks and not self.cancel.is_set():
            at, t0 = self._begin(row, "client")
            status, reason = self._client_settings()
            self._emit(row, "client", status, reason, at, t0)
        # 7-8: wait for the probes.
        if internal is not None:
            self._receive(row, *internal)
        elif self._needs("receive", "dkim"):
            why = row.cells["send"].reason if "send" in row.cells else _("the probe could not be sent")
            for check in ("receive", "dkim"):
                self._emit(row, check, NOT_RUN, _("not run: the probe was not sent ({why})").format(why=why),
                           clock.now(), time.monotonic(), seconds=0.0)
        if mx_probe is not None:
            self._receive_mx(row, *mx_probe)

    def _login(self, row: _Row, check: str, spec: LoginSpec | str, endpoint: object) -> tuple[IMAPClient | None, str]:
        at, t0 = self._begin(row, check)
        if isinstance(spec, str):
            self._emit(row, check, FAILED, spec, at, t0)
            return None, spec
        try:
            client = connect(endpoint, spec, timeout=30)  # type: ignore[arg-type]
        except (FatalUserError, *TRANSIENT_ERRORS) as exc:  # type: ignore[misc]
            reason = _error_text(exc)
            self._emit(row, check, FAILED, reason, at, t0)
            return None, reason
        host = getattr(endpoint, "host", "")
        self._emit(row, check, PASSED, _("logged in to {host} in {s:.1f} s").format(host=host, s=time.monotonic() - t0),
                   at, t0)
        return client, ""

    def _send(self, row: _Row) -> tuple[str, float] | None:
        self.rate.wait()  # the provider's sending limit, shared by every worker (not counted in the cell's time)
        if self.cancel.is_set():
            return None
        at, t0 = self._begin(row, "send")
        oauth_spec = row.secrets.new if isinstance(row.secrets.new, LoginSpec) and row.secrets.new.tokens else None
        if isinstance(row.secrets.new, str) and self.project.new.auth.method == "oauth2":
            self._emit(row, "send", FAILED, row.secrets.new, at, t0)
            return None
        if row.secrets.new_password is None and oauth_spec is None:
            self._emit(row, "send", FAILED, row.secrets.new_password_problem, at, t0)
            return None
        token = probes.new_token()
        email = row.user.email
        with self._lock:
            self.active_tokens.add(token)
        message = probes.make_probe(token, "internal", email, email)
        try:
            if oauth_spec is not None and oauth_spec.tokens is not None:
                from mailmig_tui.core.oauth.smtp import oauth2_submit

                accepted = oauth2_submit(self.project.new.smtp, oauth_spec.login, oauth_spec.tokens, email, [email],
                                         message, timeout=30)
            else:
                assert row.secrets.new_password is not None
                accepted = submit(self.project.new.smtp, row.user.effective_new_login, row.secrets.new_password, email,
                                  [email], message, timeout=30)
        except SmtpError as exc:
            self._emit(row, "send", FAILED, exc.reason, at, t0)
            return None
        self._emit(row, "send", PASSED, _("accepted by {host}:{port} ({reply})").format(
            host=accepted.host, port=accepted.port, reply=accepted.reply[:60]), at, t0)
        return token, time.monotonic()

    def _receive(self, row: _Row, token: str, sent: float) -> None:
        at, t0 = self._begin(row, "receive")
        if row.new is None:
            reason = _("not run: cannot look in the new INBOX ({why})").format(why=row.new_error)
            self._emit(row, "receive", NOT_RUN, reason, at, t0, seconds=0.0)
            self._emit(row, "dkim", NOT_RUN, reason, at, t0, seconds=0.0)
            return
        timeout = self.config.probe_timeout
        found = probes.wait_for({"new": (row.new, "INBOX")}, token, max(0.0, timeout - (time.monotonic() - sent)),
                                self.config.poll_interval, self.cancel)
        waited = time.monotonic() - sent
        if found is None:
            if self.cancel.is_set():
                return
            reason = _("the probe did not arrive in the new INBOX within {s:.0f} s").format(s=waited)
            self._emit(row, "receive", FAILED, reason, at, t0, seconds=waited)
            self._emit(row, "dkim", NOT_RUN, _("not run: the probe never arrived"), at, t0, seconds=0.0)
            return
        raw = probes.fetch(row.new, found[1])
        probes.delete(row.new, [found[1]])
        with self._lock:
            self.active_tokens.discard(token)
        self._emit(row, "receive", PASSED, _("arrived in the new INBOX after {s:.1f} s").format(s=waited), at, t0,
                   seconds=waited, delivery_seconds=f"{waited:.3f}")
        if "dkim" in self.checks:
            at, t0 = self._begin(row, "dkim")
            status, reason = dkim_cell(raw, self.project.domain, self.sending_ips(), self.lookup)
            self._emit(row, "dkim", status, reason, at, t0)

    def _deliver_mx(self, row: _Row) -> tuple[str, float, str, datetime] | None:
        at, t0 = self._begin(row, "mx")
        domain = self.project.domain
        answer = self.lookup.ask(domain, "MX")
        if answer.status != "ok" or not answer.values:
            self._emit(row, "mx", FAILED, _("the MX of {domain} could not be resolved ({status})").format(
                domain=domain, status=answer.status), at, t0)
            return None
        hosts = sorted((int(v.split()[0]), v.split()[1]) for v in answer.values)
        token = probes.new_token()
        with self._lock:
            self.active_tokens.add(token)
        sender = self.config.mx_sender
        message = probes.make_probe(token, "mx", sender or "probe@mailmig.invalid", row.user.email)
        errors: list[str] = []
        for _pref, host in hosts:  # as an MTA does: in preference order until one takes it
            for address in self.lookup.addresses(host) or []:
                try:
                    deliver(address, sender, [row.user.email], message, timeout=30, host_label=host)
                except SmtpError as exc:
                    errors.append(f"{host}: {exc.reason}")
                    if exc.fatal:
                        self._emit(row, "mx", FAILED, _("{host} refused the probe: {why}").format(host=host, why=exc.reason),
                                   at, t0)
                        return None
                    continue
                return token, time.monotonic(), host, at
            if not self.lookup.addresses(host):
                errors.append(_("{host} has no address").format(host=host))
        self._emit(row, "mx", FAILED, _("no MX host took the probe: {errors}").format(errors="; ".join(errors)), at, t0)
        return None

    def _receive_mx(self, row: _Row, token: str, sent: float, host: str, at: datetime) -> None:
        t0 = sent
        where: dict[str, tuple[IMAPClient, str]] = {}
        if row.new is not None:
            where["new"] = (row.new, "INBOX")
        if row.old is not None:
            where["old"] = (row.old, "INBOX")
        if not where:
            self._emit(row, "mx", NOT_RUN, _("not run: neither mailbox could be opened to look for the probe"), at, t0)
            return
        remaining = max(0.0, self.config.probe_timeout - (time.monotonic() - sent))
        found = probes.wait_for(where, token, remaining, self.config.poll_interval, self.cancel)
        waited = time.monotonic() - sent
        if found is None:
            if self.cancel.is_set():
                return
            looked = _("the new and the old INBOX") if len(where) == 2 else (
                _("the new INBOX (the old one could not be opened: {why})").format(why=row.old_error) if "new" in where
                else _("the old INBOX (the new one could not be opened: {why})").format(why=row.new_error))
            self._emit(row, "mx", FAILED, _("delivered to {host}, but not seen in {looked} within {s:.0f} s").format(
                host=host, looked=looked, s=waited), at, t0, seconds=waited)
            return
        side, uid = found
        client = where[side][0]
        probes.delete(client, [uid])
        with self._lock:
            self.active_tokens.discard(token)
        if side == "new":
            self._emit(row, "mx", PASSED, _("via {host}: in the new INBOX after {s:.1f} s").format(host=host, s=waited),
                       at, t0, seconds=waited, mx=host)
        else:
            self._emit(row, "mx", FAILED, _("landed at the old provider (MX {host}): the domain's MX still points "
                                            "there for this resolver").format(host=host), at, t0, seconds=waited, mx=host)

    def _present(self, row: _Row) -> None:
        at, t0 = self._begin(row, "present")
        if row.old is None or row.new is None:
            why = row.old_error if row.old is None else row.new_error
            side = _("old") if row.old is None else _("new")
            self._emit(row, "present", NOT_RUN, _("not run: the {side} mailbox could not be opened ({why})").format(
                side=side, why=why), at, t0)
            return
        try:
            status, reason, details = compare(row.old, row.new, self.config.newest, self.copy_config)
        except (*TRANSIENT_ERRORS,) as exc:
            self._emit(row, "present", FAILED, _error_text(exc), at, t0)
            return
        self._emit(row, "present", status, reason, at, t0, None, **details)

    def _client_settings(self) -> tuple[str, str]:
        with self._client_lock:  # one lookup per run: it is the domain's, the same for every row
            if self._client_result is None:
                self._client_result = check_client_settings(self.project, self.lookup, self.config.client_hosts,
                                                            self.config.old_client_hosts)
            return self._client_result

    def sending_ips(self) -> list[str]:
        with self._client_lock:
            if self._sending_ips is None:
                ips = list(self.config.sending_ips)
                if not ips and self.project.new.smtp.host:
                    with contextlib.suppress(Exception):
                        ips = self.lookup.addresses(self.project.new.smtp.host)
                self._sending_ips = ips
            return self._sending_ips
