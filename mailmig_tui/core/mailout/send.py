"""Send a staff notice to each recipient through a provider's SMTP submission, exactly once each.

Per recipient: the row goes into the send log as `sending` with the message's Message-ID (synced), then
the message is submitted, then the row says what the server answered. A re-run skips whoever was sent
(or refused); retries whoever was deferred; and for a row left `sending`/`uncertain` by a crash or a
dropped connection, looks for that Message-ID in the recipient's new INBOX (when their password is
stored): found → sent; not found → still uncertain, resent only when asked (`resend_uncertain`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, formataddr, make_msgid
from pathlib import Path
from typing import Any

from mailmig_tui.core import notices
from mailmig_tui.core.credentials import Credentials
from mailmig_tui.core.errors import MailmigError, UsageError
from mailmig_tui.core.i18n import _
from mailmig_tui.core.imap.session import TRANSIENT_ERRORS, FatalUserError, LoginSpec, close_quietly, connect
from mailmig_tui.core.mailout.log import DEFERRED, REFUSED, SENDING, SENT, UNCERTAIN, SendLog, sendlog_path
from mailmig_tui.core.model import Project, SchemaError, User, now
from mailmig_tui.core.smtp import session as smtp

SIDES = ("old", "new")
# The announcement and the cutover reminder go out while staff still read the old system.
DEFAULT_VIA = {"announcement": "old", "cutover_reminder": "old", "go_live": "new"}
_LOOKUP_ERRORS: tuple[type[BaseException], ...] = (FatalUserError, *TRANSIENT_ERRORS)
DEFAULT_RATE = 30.0  # per minute, when neither the project nor the provider's limits say


class SenderError(MailmigError):
    """The notice could not be sent at all (no sender, its login refused, the server unreachable)."""

    exit_code = 1


@dataclass
class MailoutConfig:
    sender: str = ""  # the address notices come from; its password is in the credential store for `via`
    sender_name: str = ""
    via: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_VIA))
    rate_per_minute: float = 0.0  # 0: the provider's limits.messages_per_minute, else 30

    KNOWN = ("sender", "sender_name", "via", "rate_per_minute")


def parse_mailout_section(data: Any) -> MailoutConfig:
    cfg = MailoutConfig()
    if data is None:
        return cfg
    if not isinstance(data, dict):
        raise SchemaError(("mailout",), _("must be a table"))
    for key, value in data.items():
        if key not in MailoutConfig.KNOWN:
            raise SchemaError(("mailout", key), _("unknown key; expected one of {keys}").format(
                keys=", ".join(MailoutConfig.KNOWN)))
        if key in ("sender", "sender_name"):
            if not isinstance(value, str):
                raise SchemaError(("mailout", key), _("must be text"))
            if key == "sender" and value and "@" not in value:
                raise SchemaError(("mailout", key), _("must be an email address, found {value!r}").format(value=value))
            setattr(cfg, key, value)
        elif key == "via":
            if not isinstance(value, dict):
                raise SchemaError(("mailout", key), _("must be a table: notice = \"old\" or \"new\""))
            for kind, side in value.items():
                if kind not in notices.NOTICE_KINDS:
                    raise SchemaError(("mailout", key, kind), _("unknown notice; expected one of {kinds}").format(
                        kinds=", ".join(notices.NOTICE_KINDS)))
                if side not in SIDES:
                    raise SchemaError(("mailout", key, kind), _("must be \"old\" or \"new\", found {value!r}").format(
                        value=side))
                cfg.via[kind] = side
        elif key == "rate_per_minute":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise SchemaError(("mailout", key), _("must be a positive number, found {value!r}").format(value=value))
            cfg.rate_per_minute = float(value)
    return cfg


@dataclass
class SendOptions:
    notice: str
    to: str = "all"  # all | pilots | a@x,b@y
    via: str = ""  # old | new; default: [mailout] via for this notice
    dry_run: bool = False
    resend_uncertain: bool = False
    timeout: float = 30.0


@dataclass(frozen=True)
class Recipient:
    user: User
    subject: str
    body: str


@dataclass
class SendPlan:
    notice: str
    via: str
    sender: str
    rate_per_minute: float
    recipients: list[Recipient]


@dataclass(frozen=True)
class Outcome:
    """What happened to one recipient in this run (an event, and a line of the report)."""

    recipient: str
    state: str  # sent | already | refused | deferred | uncertain | planned (dry run)
    detail: str = ""


@dataclass
class SendSummary:
    notice: str
    via: str
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, state: str) -> int:
        return sum(1 for o in self.outcomes if o.state == state)

    @property
    def complete(self) -> bool:
        """Everyone has the notice: sent now or before."""
        return all(o.state in ("sent", "already") for o in self.outcomes)


def choose_recipients(project: Project, to: str) -> list[User]:
    if to in ("", "all"):
        return list(project.users)
    if to == "pilots":
        return [u for u in project.users if u.role == "pilot"]
    chosen = []
    for email in (e.strip() for e in to.split(",") if e.strip()):
        try:
            chosen.append(project.user(email))
        except KeyError:
            raise UsageError(_("{email} is not a user of this project").format(email=email)) from None
    return chosen


def plan_sending(project: Project, config: MailoutConfig, options: SendOptions) -> SendPlan:
    if options.notice not in notices.NOTICE_KINDS:
        raise UsageError(_("unknown notice {name!r}; choose one of: {kinds}").format(
            name=options.notice, kinds=", ".join(notices.NOTICE_KINDS)))
    via = options.via or config.via.get(options.notice, "new")
    if via not in SIDES:
        raise UsageError(_("--via must be old or new"))
    if not config.sender:
        raise UsageError(_("no sender: set [mailout] sender = \"it@{domain}\" in the project (its password goes in the "
                           "credential store: `mailmig credentials set PROJECT --user it@{domain} --side {via}`)").format(
                               domain=project.domain, via=via))
    provider = project.old if via == "old" else project.new
    rate = config.rate_per_minute or float(provider.limits.messages_per_minute) or DEFAULT_RATE
    template = notices.template_for(project, options.notice)
    recipients = []
    for user in choose_recipients(project, options.to):
        notice = notices.render(project, options.notice, template, user=user)
        recipients.append(Recipient(user, notice.subject, notice.body))
    return SendPlan(options.notice, via, config.sender, rate, recipients)


def build_message(project: Project, plan: SendPlan, config: MailoutConfig, recipient: Recipient,
                  message_id: str) -> bytes:
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["From"] = formataddr((config.sender_name or _("IT department"), plan.sender))
    msg["To"] = formataddr((recipient.user.display_name, recipient.user.email))
    msg["Subject"] = recipient.subject
    msg["Date"] = format_datetime(now())
    msg["Message-ID"] = message_id
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies to a staff notice
    msg["X-Mailmig-Notice"] = plan.notice
    msg.set_content(recipient.body, charset="utf-8")
    return msg.as_bytes()


def found_in_inbox(project: Project, credentials: Credentials, user: User, message_id: str, timeout: float) -> bool | None:
    """Is a message with this Message-ID in the user's new INBOX? None when it cannot be looked at."""
    try:
        secret = credentials.get(project.domain, "new", user.effective_new_login)
    except MailmigError:
        return None
    if secret is None or project.new.auth.method != "user":
        return None
    client = None
    try:
        client = connect(project.new.imap, LoginSpec(user.effective_new_login, secret, project.new.auth), timeout=timeout)
        client.select_folder("INBOX", readonly=True)
        return bool(client.search(["HEADER", "Message-ID", message_id]))
    except _LOOKUP_ERRORS:
        return None
    finally:
        close_quietly(client)


def send_notice(project: Project, project_path: Path, credentials: Credentials, config: MailoutConfig,
                options: SendOptions, on_event: Callable[[Any], None] | None = None,
                cancel: threading.Event | None = None) -> SendSummary:
    """Send (or with dry_run, list) the notice; every recipient ends in the summary with its outcome."""
    emit = on_event or (lambda _e: None)
    plan = plan_sending(project, config, options)
    summary = SendSummary(plan.notice, plan.via)
    started = time.monotonic()
    provider = project.old if plan.via == "old" else project.new
    with SendLog(sendlog_path(project_path)) as log:
        todo: list[Recipient] = []
        for r in plan.recipients:
            entry = log.get(plan.notice, r.user.email)
            if entry is None or entry.state == DEFERRED:
                todo.append(r)
            elif entry.state in (SENT, REFUSED):
                summary.outcomes.append(Outcome(r.user.email, "already" if entry.state == SENT else REFUSED,
                                                entry.detail))
                emit(summary.outcomes[-1])
            else:  # sending / uncertain: did it arrive?
                seen = None if options.dry_run else found_in_inbox(project, credentials, r.user, entry.message_id,
                                                                   options.timeout)
                if seen:
                    log.record(plan.notice, r.user.email, SENT, entry.message_id, entry.via, now(),
                               _("found in the recipient's INBOX after an interrupted run"))
                    summary.outcomes.append(Outcome(r.user.email, "already", _("found in the INBOX")))
                    emit(summary.outcomes[-1])
                elif options.resend_uncertain:
                    todo.append(r)
                else:
                    why = (_("an earlier run was interrupted while sending; not in the INBOX (yet); --resend-uncertain "
                             "sends it again") if seen is False else
                           _("an earlier run was interrupted while sending and the INBOX cannot be checked; "
                             "--resend-uncertain sends it again"))
                    summary.outcomes.append(Outcome(r.user.email, UNCERTAIN, why))
                    emit(summary.outcomes[-1])
        if options.dry_run:
            for r in todo:
                summary.outcomes.append(Outcome(r.user.email, "planned", r.subject))
                emit(summary.outcomes[-1])
            summary.seconds = time.monotonic() - started
            return summary
        if todo:
            _send_all(project, credentials, config, plan, provider.smtp, todo, log, summary, emit, options, cancel)
    summary.seconds = time.monotonic() - started
    return summary


def _send_all(project: Project, credentials: Credentials, config: MailoutConfig, plan: SendPlan, endpoint: Any,
              todo: list[Recipient], log: SendLog, summary: SendSummary, emit: Callable[[Any], None],
              options: SendOptions, cancel: threading.Event | None) -> None:
    secret = credentials.get(project.domain, plan.via, plan.sender)
    if secret is None:
        raise SenderError(_("no password stored for the sender {sender} on the {via} provider (store it with "
                            "`mailmig credentials set PROJECT --user {sender} --side {via}`)").format(
                                sender=plan.sender, via=plan.via))
    gap = 60.0 / plan.rate_per_minute
    client = None
    last = 0.0
    try:
        for r in todo:
            if cancel is not None and cancel.is_set():
                break
            if client is None:
                try:
                    client = smtp.connect(endpoint, options.timeout)
                    smtp.login(client, plan.sender, secret)
                except smtp.SmtpError as exc:
                    smtp.close_quietly(client)
                    client = None
                    if not summary.outcomes or all(o.state in ("already", REFUSED, UNCERTAIN) for o in summary.outcomes):
                        raise SenderError(_("cannot send as {sender} through the {via} provider: {reason}").format(
                            sender=plan.sender, via=plan.via, reason=exc.reason)) from None
                    summary.outcomes.append(Outcome(r.user.email, DEFERRED, exc.reason))
                    emit(summary.outcomes[-1])
                    continue
            wait = last + gap - time.monotonic()
            if wait > 0:
                if cancel is not None:
                    if cancel.wait(wait):
                        break
                else:
                    time.sleep(wait)
            message_id = make_msgid(domain=project.domain)
            log.record(plan.notice, r.user.email, SENDING, message_id, plan.via, now())
            last = time.monotonic()
            try:
                reply = smtp.send(client, plan.sender, [r.user.email], build_message(project, plan, config, r, message_id))
            except smtp.SmtpError as exc:
                if exc.fatal:
                    state = REFUSED
                elif exc.code is not None:
                    state = DEFERRED  # the server said "not now": it did not take the message
                else:
                    state = UNCERTAIN  # the connection broke mid-way: it may have gone
                    smtp.close_quietly(client)
                    client = None
                log.record(plan.notice, r.user.email, state, message_id, plan.via, now(), exc.reason)
                summary.outcomes.append(Outcome(r.user.email, state, exc.reason))
                emit(summary.outcomes[-1])
                continue
            log.record(plan.notice, r.user.email, SENT, message_id, plan.via, now(), reply)
            summary.outcomes.append(Outcome(r.user.email, SENT, reply))
            emit(summary.outcomes[-1])
    finally:
        smtp.close_quietly(client)
    done = {o.recipient for o in summary.outcomes}
    for r in todo:
        if r.user.email not in done:
            summary.outcomes.append(Outcome(r.user.email, "cancelled", _("not sent: the run was cancelled")))
            emit(summary.outcomes[-1])
