"""Run every health check once: DNS (the audit's own rules), the new IMAP and SMTP with a canary user,
TLS certificates, mail still arriving at the old provider, and advice that follows the calendar."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime

from mailmig_tui.core.credentials import Credentials
from mailmig_tui.core.dns.audit import FAIL as AUDIT_FAIL
from mailmig_tui.core.dns.audit import WARN as AUDIT_WARN
from mailmig_tui.core.dns.audit import audit
from mailmig_tui.core.dns.config import DnsConfig
from mailmig_tui.core.dns.records import ERROR, NEW
from mailmig_tui.core.errors import CredentialError
from mailmig_tui.core.i18n import _
from mailmig_tui.core.imap.logins import login_for, login_spec
from mailmig_tui.core.imap.session import TRANSIENT_ERRORS, FatalUserError, LoginSpec
from mailmig_tui.core.model import Project
from mailmig_tui.core.monitor.checks import (
    FAIL,
    INFO,
    OK,
    UNKNOWN,
    WARN,
    Health,
    MonitorConfig,
    canary_user,
    count_new_messages,
    imap_check,
    smtp_check,
    tls_check,
)

CHECK_GROUPS = ("dns", "imap", "smtp", "tls", "stragglers", "advice")


def dns_checks(project: Project, dns_config: DnsConfig, now: datetime) -> list[Health]:
    """The audit run as a monitor: every record the new provider needs must still be published."""
    try:
        report = asyncio.run(audit(project, dns_config, now=now))
    except Exception as exc:  # a DNS library failure is "could not check", never "ok"
        return [Health("dns", UNKNOWN, _("DNS records"), _("the audit could not run: {error}").format(error=exc))]
    out: list[Health] = []
    for row in report.rows:
        t = row.target
        title = _("DNS {type} {name}").format(type=t.rdtype, name=t.name)
        current = ", ".join(row.current.values) if row.current and row.current.values else _("nothing")
        if row.state == NEW:
            out.append(Health(f"dns:{t.key}", OK, title, _("published as it should be: {value}").format(value=current)))
        elif row.state == ERROR or (row.current is not None and row.current.failed):
            detail = row.current.detail if row.current and row.current.detail else _("no authoritative server answered")
            out.append(Health(f"dns:{t.key}", UNKNOWN, title, _("could not be read: {reason}").format(reason=detail)))
        else:
            out.append(Health(f"dns:{t.key}", FAIL, title,
                              _("differs from what the new provider needs: now {current}").format(current=current),
                              _("set it back to: {value}").format(value=" / ".join(t.values))))
    for check in report.checks:
        if check.key.startswith(("mx_ttl", "mx-ttl")):
            continue  # the TTL lowering matters before the cutover, not after
        status = FAIL if check.status == AUDIT_FAIL else WARN if check.status == AUDIT_WARN else OK
        out.append(Health(f"dns-check:{check.key}", status, check.title, check.explanation))
    return out


def _provider_specs(project: Project, credentials: Credentials, side: str) -> dict[str, LoginSpec | str]:
    return {u.email: login_spec(project, credentials, u, side) for u in project.users}


def straggler_check(project: Project, credentials: Credentials, config: MonitorConfig, now: datetime,
                    cancel: threading.Event | None = None) -> Health | None:
    """New messages at the old provider since the cutover; None once the old provider is switched off."""
    off = project.plan.dates.get("old_provider_off")
    if off and off <= now:
        return None
    title = _("Mail still arriving at the old provider")
    since = project.plan.dates.get("mx_cutover")
    if since is None:
        return Health("stragglers", UNKNOWN, title, _("the plan has no MX cutover date to count from"),
                      _("set the MX cutover date on the Plan tab"))
    if since > now:
        return Health("stragglers", INFO, title, _("the MX cutover is planned for {when}: nothing to count yet").format(
            when=since.strftime("%Y-%m-%d %H:%M")))
    try:
        specs = _provider_specs(project, credentials, "old")
    except CredentialError as exc:
        return Health("stragglers", UNKNOWN, title, str(exc))
    counts: dict[str, int] = {}
    problems: dict[str, str] = {}

    def one(email: str, spec: LoginSpec | str) -> None:
        if cancel is not None and cancel.is_set():
            return
        if isinstance(spec, str):
            problems[email] = spec
            return
        try:
            counts[email] = count_new_messages(project.old.imap, spec, since, config.timeout)
        except FatalUserError as exc:
            problems[email] = str(exc)
        except TRANSIENT_ERRORS as exc:
            problems[email] = _("unreachable: {error}").format(error=exc)

    with ThreadPoolExecutor(max(1, min(project.old.limits.max_connections, len(specs) or 1))) as pool:
        list(pool.map(lambda kv: one(*kv), specs.items()))
    total = sum(counts.values())
    when = since.strftime("%Y-%m-%d %H:%M")
    users = sorted(e for e, n in counts.items() if n)
    if total:
        shown = ", ".join(f"{e} ({counts[e]})" for e in users[:5]) + (" …" if len(users) > 5 else "")
        return Health("stragglers", WARN, title,
                      _("{n} new messages for {users} users since {when}: {list}").format(
                          n=total, users=len(users), when=when, list=shown),
                      _("copy them across with the copy engine's delta (`mailmig copy PROJECT`); look for senders "
                        "with stale DNS and for forwarding rules at the old provider"), float(total))
    if problems:
        first = next(iter(sorted(problems.items())))
        return Health("stragglers", UNKNOWN, title,
                      _("{n} of {total} users could not be checked (first: {user}: {reason})").format(
                          n=len(problems), total=len(specs), user=first[0], reason=first[1]))
    return Health("stragglers", OK, title, _("no new mail at the old provider since {when} ({n} users checked)").format(
        when=when, n=len(counts)), value=0.0)


def advice(project: Project, results: list[Health], dns_config: DnsConfig, config: MonitorConfig,
           clean_since: datetime | None, now: datetime) -> list[Health]:
    """What the calendar says can be tightened now."""
    out: list[Health] = []
    go_live = project.plan.dates.get("go_live")
    spf = next((r for r in results if r.key == "dns:spf"), None)
    old_include = project.old.spf_include
    if go_live and go_live <= now and old_include and spf is not None and f"include:{old_include}" in spf.detail:
        out.append(Health("advice:spf", INFO, _("SPF still includes the old provider"),
                          _("go-live was on {date}; the old provider no longer sends for the domain").format(
                              date=go_live.strftime("%Y-%m-%d")),
                          _("drop include:{include} from the SPF record").format(include=old_include)))
    dmarc = next((r for r in results if r.key == "dns:dmarc"), None)
    if go_live and go_live <= now and dmarc is not None and "p=none" in dmarc.detail.replace(" ", ""):
        days_clean = (now - clean_since).days if clean_since else 0
        if days_clean >= config.dmarc_clean_days:
            out.append(Health("advice:dmarc", INFO, _("DMARC can be tightened"),
                              _("{days} days without a failing check since go-live").format(days=days_clean),
                              _("move DMARC from p=none to p=quarantine (and later p=reject)")))
    return out


def run_checks(project: Project, credentials: Credentials, config: MonitorConfig, dns_config: DnsConfig, *,
               groups: tuple[str, ...] = CHECK_GROUPS, now: datetime | None = None,
               clean_since: datetime | None = None, cancel: threading.Event | None = None) -> list[Health]:
    """Every check once, DNS and the servers side by side; results in a stable order."""
    now = now or datetime.now(UTC)
    canary = canary_user(project, config)
    user = next((u for u in project.users if u.email == canary), None)
    jobs: dict[str, Future[list[Health]] | Future[Health] | Future[Health | None] | list[Health]] = {}
    with ThreadPoolExecutor(4) as pool:
        if "dns" in groups:
            jobs["dns"] = pool.submit(dns_checks, project, dns_config, now)
        if "imap" in groups or "smtp" in groups:
            if user is None:
                reason = _("no canary user: set [monitor] canary or add a user") if not canary else _(
                    "the canary {email} is not a user of this project").format(email=canary)
                jobs["logins"] = [Health(k, UNKNOWN, k.upper(), reason) for k in ("imap", "smtp") if k in groups]
            else:
                try:
                    spec = login_spec(project, credentials, user, "new")
                except CredentialError as exc:
                    spec = str(exc)
                if "imap" in groups:
                    jobs["imap"] = pool.submit(imap_check, project.new.imap, spec, config.timeout)
                if "smtp" in groups:
                    secret = spec.secret if isinstance(spec, LoginSpec) and spec.auth.method == "user" else None
                    jobs["smtp"] = pool.submit(smtp_check, project.new.smtp, login_for(user, "new"), secret,
                                               config.timeout)
        if "tls" in groups:
            jobs["tls:imap"] = pool.submit(tls_check, "imap", project.new.imap, config.cert_warn_days, config.timeout, now)
            jobs["tls:smtp"] = pool.submit(tls_check, "smtp", project.new.smtp, config.cert_warn_days, config.timeout, now)
        if "stragglers" in groups:
            jobs["stragglers"] = pool.submit(straggler_check, project, credentials, config, now, cancel)
        results: list[Health] = []
        for value in jobs.values():
            got = value if isinstance(value, list) else value.result()
            if isinstance(got, list):
                results.extend(got)
            elif got is not None:
                results.append(got)
    if "advice" in groups:
        results.extend(advice(project, results, dns_config, config, clean_since, now))
    return results


def summary_counts(results: list[Health]) -> dict[str, int]:
    out = {OK: 0, WARN: 0, FAIL: 0, UNKNOWN: 0, INFO: 0}
    for r in results:
        out[r.status] = out.get(r.status, 0) + 1
    return out


def clean_window_start(first_failure_free: datetime | None, go_live: datetime | None) -> datetime | None:
    """The start of the current stretch without failures, no earlier than go-live."""
    if first_failure_free is None:
        return None
    if go_live is not None:
        return max(first_failure_free, go_live)
    return first_failure_free

