"""Do the users' logins work? Each user is logged in on the old IMAP, the new IMAP and (when the
project names one) the new SMTP server with AUTH, and each side gets one of a few plain answers.

What a server says decides the answer; nothing is inferred. Most servers (Dovecot, and the big
providers) answer a wrong password and an unknown account alike, on purpose: that is reported as
`refused` ("wrong password or no such account"), not guessed. Only when the server's reply itself says
which (RFC 5530 response codes, or words such as "unknown user") is it `wrong_password` or
`no_account`. A side that could not be checked (no host set, no password stored, server unreachable)
is never `ok`.

`check_accounts` is the one function the CLI (`mailmig accounts check`) and the TUI's Users tab call;
`record_check` stores the results in the project's `[accounts]` section through the store.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mailmig_tui.core import clock
from mailmig_tui.core.credentials import Credentials
from mailmig_tui.core.errors import CredentialError, UsageError
from mailmig_tui.core.i18n import N_, _
from mailmig_tui.core.imap import session as imap_session
from mailmig_tui.core.imap.session import FatalUserError, LoginRefused, LoginSpec
from mailmig_tui.core.model import Auth, Endpoint, Project, User
from mailmig_tui.core.smtp import session as smtp_session

SIDES = ("old", "new", "smtp")

# status -> (symbol, short word, what it means); the symbol and word carry the meaning, never colour.
STATUSES: dict[str, tuple[str, str, str]] = {
    "ok": ("✓", N_("ok"), N_("logged in")),
    "refused": ("✗", N_("refused"), N_("login refused: wrong password or no such account (the server does not say which)")),
    "wrong_password": ("✗", N_("password"), N_("wrong password")),
    "no_account": ("✗", N_("no account"), N_("no such account")),
    "unreachable": ("?", N_("unreachable"), N_("server unreachable")),
    "no_password": ("?", N_("no password"), N_("no password stored")),
    "not_configured": ("–", N_("not set"), N_("not configured in the project: not checked")),
    "error": ("✗", N_("error"), N_("error")),
    "checking": ("…", N_("checking"), N_("checking")),
}
FAILING = {"refused", "wrong_password", "no_account", "unreachable", "no_password", "error"}

_NO_ACCOUNT = re.compile(r"no such (user|account|mailbox)|unknown (user|account)|user (not found|unknown|doesn't exist|does not exist)"
                         r"|account (not found|does not exist)|mailbox unavailable|用户不存在|帐号不存在|账号不存在", re.I)
_WRONG_PASSWORD = re.compile(r"(invalid|incorrect|wrong|bad) password|password (incorrect|invalid|mismatch)|密码错误|密码不正确", re.I)


@dataclass(frozen=True, slots=True)
class SideResult:
    status: str
    detail: str = ""  # the server's words, or why it could not be checked

    @property
    def failed(self) -> bool:
        return self.status in FAILING

    def describe(self) -> str:
        symbol, _word, meaning = STATUSES.get(self.status, STATUSES["error"])
        text = f"{symbol} {_(meaning)}"
        return f"{text}: {self.detail}" if self.detail and self.status != "ok" else text


@dataclass(frozen=True, slots=True)
class AccountCheck:
    """One user's check: each side's result, and when."""

    user: str
    old_login: str
    new_login: str
    old: SideResult
    new: SideResult
    smtp: SideResult
    at: datetime

    @property
    def ok(self) -> bool:
        """Every side that could be checked logged in, and the IMAP sides were checked."""
        return not any(s.failed for s in (self.old, self.new, self.smtp)) and self.old.status == self.new.status == "ok"

    def side(self, name: str) -> SideResult:
        return {"old": self.old, "new": self.new, "smtp": self.smtp}[name]

    def to_record(self) -> dict[str, Any]:
        return {"at": self.at, "old": self.old.status, "new": self.new.status, "smtp": self.smtp.status,
                **({"old_detail": self.old.detail[:200]} if self.old.detail else {}),
                **({"new_detail": self.new.detail[:200]} if self.new.detail else {}),
                **({"smtp_detail": self.smtp.detail[:200]} if self.smtp.detail else {})}


@dataclass(frozen=True, slots=True)
class CheckStarted:
    users: tuple[str, ...]
    smtp: bool  # whether the new side's SMTP is configured (else that column is "not set")


@dataclass(frozen=True, slots=True)
class CheckSummary:
    users: int
    users_ok: int
    seconds: float


def classify(text: str) -> str:
    """A login refusal's words → refused | wrong_password | no_account."""
    if _NO_ACCOUNT.search(text):
        return "no_account"
    if _WRONG_PASSWORD.search(text):
        return "wrong_password"
    return "refused"


def _imap_text(exc: BaseException) -> str:
    text = str(exc)
    if text.startswith(("b'", 'b"')):
        text = text[2:-1]
    return text


@dataclass
class _Plan:
    user: User
    old: LoginSpec | SideResult
    new: LoginSpec | SideResult
    smtp: tuple[str, str] | SideResult  # (login, password)


def _spec(secrets_: dict[tuple[str, str], str | None], side: str, login: str, endpoint: Endpoint,
          auth: Auth) -> LoginSpec | SideResult:
    """How to log this user in on `side`: the user's own password when stored (that is what the check is
    for), else the admin login of a master/authzid setup (which proves less: that the mailbox opens)."""
    if not endpoint.host:
        return SideResult("not_configured")
    secret = secrets_.get((side, login))
    if secret is not None:
        return LoginSpec(login, secret, Auth())
    if auth.method != "user":
        admin = secrets_.get((side, auth.master_user))
        if admin is not None:
            return LoginSpec(login, admin, auth)
    return SideResult("no_password", _("nothing stored for {login}").format(login=login))


def plan_checks(project: Project, credentials: Credentials, users: list[User]) -> list[_Plan]:
    """Read every secret on the calling thread, at once (keyring backends are not all thread-safe, and
    the encrypted file is decrypted once rather than per user)."""
    wanted = [pair for u in users for pair in (("old", u.effective_old_login), ("new", u.effective_new_login))]
    wanted += [(side, p.auth.master_user) for side, p in (("old", project.old), ("new", project.new))
               if p.auth.method != "user"]
    try:
        secrets_ = credentials.get_many(project.domain, wanted)
    except CredentialError as exc:
        failed = SideResult("error", str(exc))
        return [_Plan(u, failed, failed, failed) for u in users]
    plans = []
    smtp_endpoint = project.new.smtp
    for user in users:
        old = _spec(secrets_, "old", user.effective_old_login, project.old.imap, project.old.auth)
        new = _spec(secrets_, "new", user.effective_new_login, project.new.imap, project.new.auth)
        smtp: tuple[str, str] | SideResult
        secret = secrets_.get(("new", user.effective_new_login))
        if not smtp_endpoint.host:
            smtp = SideResult("not_configured")
        elif secret is None:
            smtp = SideResult("no_password", _("nothing stored for {login}").format(login=user.effective_new_login))
        else:
            smtp = (user.effective_new_login, secret)
        plans.append(_Plan(user, old, new, smtp))
    return plans


def check_imap(endpoint: Endpoint, spec: LoginSpec, timeout: float = 20.0) -> SideResult:
    """Log in once and out again; what happened, in one word and the server's own words."""
    try:
        client = imap_session.connect(endpoint, spec, timeout=timeout)
    except LoginRefused as exc:
        return SideResult(classify(exc.reply), str(exc))
    except FatalUserError as exc:
        return SideResult("error", str(exc))
    except imap_session.TRANSIENT_ERRORS as exc:
        return SideResult("unreachable", _("{host}:{port}: {error}").format(
            host=endpoint.host, port=endpoint.port, error=_imap_text(exc) or type(exc).__name__))
    except Exception as exc:  # a server answering nonsense: say so, never "ok"
        return SideResult("error", f"{type(exc).__name__}: {_imap_text(exc)}")
    imap_session.close_quietly(client)
    return SideResult("ok", _("via the admin login {admin}").format(admin=spec.auth.master_user) if spec.auth.method != "user" else "")


def check_smtp(endpoint: Endpoint, login: str, password: str, timeout: float = 20.0) -> SideResult:
    """SMTP AUTH once (core/smtp/session.py); a refused or dropped connection is unreachable, a refused
    login is sorted by the server's words, anything else fatal is an error with its reason."""
    client = None
    try:
        client = smtp_session.connect(endpoint, timeout=timeout)
        smtp_session.login(client, login, password)
    except smtp_session.SmtpError as exc:
        if exc.stage == "auth" and exc.code is not None:
            # 5xx: the server refused these credentials; 4xx (e.g. 454): it could not check them now
            return SideResult(classify(exc.reason) if exc.code >= 500 else "error", exc.reason)
        if not exc.fatal and exc.stage in ("connect", "auth", "starttls"):
            return SideResult("unreachable", exc.reason)
        return SideResult("error", exc.reason)
    except Exception as exc:  # a server answering nonsense: say so, never "ok"
        return SideResult("error", f"{type(exc).__name__}: {exc}")
    finally:
        smtp_session.close_quietly(client)
    return SideResult("ok")


def check_accounts(project: Project, credentials: Credentials, users: list[User] | None = None,
                   on_event: Callable[[Any], None] | None = None, cancel: threading.Event | None = None,
                   timeout: float = 20.0) -> list[AccountCheck]:
    """Check every (or the given) user on each side, in parallel within each provider's
    `limits.max_connections`; results in the users' order. `on_event` gets CheckStarted, each
    AccountCheck as it finishes (from worker threads) and CheckSummary. A set `cancel` stops starting new
    checks (the ones running finish, the others are left out of the result)."""
    chosen = list(project.users) if users is None else users
    emit = on_event or (lambda _e: None)
    plans = plan_checks(project, credentials, chosen)
    started = time.monotonic()
    emit(CheckStarted(tuple(u.email for u in chosen), bool(project.new.smtp.host)))
    old_slots = threading.BoundedSemaphore(max(1, project.old.limits.max_connections))
    new_slots = threading.BoundedSemaphore(max(1, project.new.limits.max_connections))
    smtp_slots = threading.BoundedSemaphore(max(1, project.new.limits.max_connections))
    results: dict[str, AccountCheck] = {}

    def run(plan: _Plan) -> None:
        if cancel is not None and cancel.is_set():
            return

        def side(spec: LoginSpec | SideResult, endpoint: Endpoint, slots: threading.BoundedSemaphore) -> SideResult:
            if isinstance(spec, SideResult):
                return spec
            with slots:
                return check_imap(endpoint, spec, timeout)

        old = side(plan.old, project.old.imap, old_slots)
        new = side(plan.new, project.new.imap, new_slots)
        if isinstance(plan.smtp, SideResult):
            smtp = plan.smtp
        else:
            with smtp_slots:
                smtp = check_smtp(project.new.smtp, *plan.smtp, timeout=timeout)
        result = AccountCheck(plan.user.email, plan.user.effective_old_login, plan.user.effective_new_login,
                              old, new, smtp, clock.now())
        results[plan.user.email] = result
        emit(result)

    workers = max(1, min(len(plans), max(project.old.limits.max_connections, project.new.limits.max_connections)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="accounts-check") as pool:
        for future in [pool.submit(run, p) for p in plans]:
            future.result()
    out = [results[u.email] for u in chosen if u.email in results]
    emit(CheckSummary(len(out), sum(r.ok for r in out), time.monotonic() - started))
    return out


# --- what the project file keeps -----------------------------------------------------------------


def record_check(project: Project, results: list[AccountCheck], at: datetime) -> None:
    """Store each user's latest result in `[accounts.check."<email>"]` and the run in
    `[accounts.last_check]`. Pass it to `ProjectStore.update` (CLI) or `MailmigApp.mutate` (TUI). A check
    of some users keeps the others' earlier results."""
    section = project.sections.get("accounts")
    if not isinstance(section, dict):
        section = {}
    known = {u.email for u in project.users}
    checks = section.get("check")
    checks = {k: v for k, v in checks.items() if k in known} if isinstance(checks, dict) else {}
    for result in results:
        checks[result.user] = result.to_record()
    bad = [r for r in results if not r.ok]
    section["check"] = checks
    section["last_check"] = {
        "at": at, "users": len(results), "users_ok": len(results) - len(bad),
        "failures": [f"{r.user}: " + ", ".join(f"{s} {r.side(s).status}" for s in SIDES if r.side(s).failed)
                     for r in bad][:50],
    }
    project.sections["accounts"] = section


def saved_results(project: Project) -> dict[str, dict[str, Any]]:
    """email -> the saved record of its last check (what the Users tab shows after a restart)."""
    section = project.sections.get("accounts")
    checks = section.get("check") if isinstance(section, dict) else None
    if not isinstance(checks, dict):
        return {}
    return {k: v for k, v in checks.items() if isinstance(v, dict)}


def saved_side(record: dict[str, Any], side: str) -> SideResult:
    status = record.get(side)
    if not isinstance(status, str) or status not in STATUSES:
        return SideResult("error", _("unreadable saved result"))
    detail = record.get(f"{side}_detail")
    return SideResult(status, detail if isinstance(detail, str) else "")


def last_check_line(project: Project) -> str | None:
    """One line for the dashboard and the Users tab: when the logins were last checked, and how it went."""
    section = project.sections.get("accounts")
    last = section.get("last_check") if isinstance(section, dict) else None
    if not isinstance(last, dict):
        return None
    at = last.get("at")
    when = at.strftime("%Y-%m-%d %H:%M") if isinstance(at, datetime) else "?"
    users, ok = last.get("users", 0), last.get("users_ok", 0)
    if not isinstance(users, int) or not isinstance(ok, int):
        return None
    mark = "✓" if ok == users else "✗"
    return _("Last login check {when}: {ok}/{users} users ok {mark}").format(when=when, ok=ok, users=users, mark=mark)


def select(project: Project, wanted: list[str] | None) -> list[User]:
    if not wanted:
        return list(project.users)
    out = []
    for email in wanted:
        try:
            out.append(project.user(email))
        except KeyError:
            raise UsageError(_("{email} is not a user of this project").format(email=email)) from None
    return out
