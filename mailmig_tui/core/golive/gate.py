"""The go-live gate: every condition for switching the old provider off, each with its evidence.

A condition passes only on evidence seen: a verify that ran after the run it verifies, a test matrix
that passed, DNS answers from every authoritative server and every resolver, a count of new mail at the
old provider that could be taken, a send log that names every member of staff. Anything that could not
be checked fails with the reason; nothing is assumed.

The DNS clock: the gate remembers (in `[golive.observed]`) since when it has seen every authoritative
server serve only the new MX. Any later check that finds an authoritative server back on the old MX (a
rollback) restarts that clock; the old MX has drained once its TTL has run out since then.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from mailmig_tui.core.credentials import Credentials
from mailmig_tui.core.dns.config import DnsConfig, Server
from mailmig_tui.core.dns.query import ask
from mailmig_tui.core.errors import CredentialError
from mailmig_tui.core.i18n import N_, _
from mailmig_tui.core.imap.logins import login_spec
from mailmig_tui.core.imap.session import TRANSIENT_ERRORS, FatalUserError
from mailmig_tui.core.mailout.log import SENT, SendLog, sendlog_path
from mailmig_tui.core.model import Project, now
from mailmig_tui.core.monitor.checks import count_new_messages

PASS, FAIL, WARN = "ok", "fail", "warn"
SYMBOLS = {PASS: "✓", FAIL: "✗", WARN: "!"}
DEFAULT_OLD_MX_TTL = 86400  # when the plan does not say: a day, the longest TTL providers commonly use

KEYS = ("backup", "copy", "matrix", "dns-authoritative", "dns-resolvers", "dns-drained", "final-delta",
        "stragglers", "reminder")
TITLES = {
    "backup": N_("Backup verified after the last backup run"),
    "copy": N_("Copy verified for every user"),
    "matrix": N_("Test matrix passed"),
    "dns-authoritative": N_("Every authoritative server serves the new MX"),
    "dns-resolvers": N_("Every resolver answers with the new MX"),
    "dns-drained": N_("The old MX's TTL has run out since the last authoritative change"),
    "final-delta": N_("Final delta ran after the old MX drained"),
    "stragglers": N_("No new mail at the old provider since the final delta"),
    "reminder": N_("Go-live reminder sent to everyone"),
}


@dataclass(frozen=True)
class Condition:
    key: str
    status: str  # ok | fail | warn
    evidence: str
    at: datetime | None = None  # when the evidence was made (a run, a check), newest first where it matters

    @property
    def title(self) -> str:
        return _(TITLES[self.key])


@dataclass
class GateResult:
    at: datetime
    conditions: list[Condition]
    observed: dict[str, Any] = field(default_factory=dict)  # what to remember in [golive.observed]

    @property
    def passed(self) -> bool:
        return all(c.status == PASS for c in self.conditions)

    @property
    def failing(self) -> list[Condition]:
        return [c for c in self.conditions if c.status != PASS]


def _when(value: Any) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if isinstance(value, datetime) else "?"



# --- from what the project recorded -------------------------------------------------------------------


def backup_condition(project: Project) -> Condition:
    section = project.section("backup")
    run, check = section.get("last_run"), section.get("last_verify")
    if not isinstance(run, dict):
        return Condition("backup", FAIL, _("no backup has run (`mailmig backup`)"))
    finished = run.get("finished")
    if int(run.get("users_failed", 0) or 0) or int(run.get("users_cancelled", 0) or 0):
        return Condition("backup", FAIL, _("the last backup ({when}) did not finish for every user").format(
            when=_when(finished)), finished if isinstance(finished, datetime) else None)
    if not isinstance(check, dict) or not isinstance(check.get("at"), datetime) or not isinstance(finished, datetime) \
            or check["at"] < finished:
        return Condition("backup", FAIL, _("the last backup ({when}) has not been verified since (`mailmig verify`)").format(
            when=_when(finished)), finished if isinstance(finished, datetime) else None)
    users, ok = int(check.get("users", 0) or 0), int(check.get("users_ok", 0) or 0)
    if users < len(project.users) or ok < users:
        return Condition("backup", FAIL, _("verify on {when}: {bad} of {users} users differ").format(
            when=_when(check["at"]), bad=max(users - ok, len(project.users) - ok), users=len(project.users)), check["at"])
    return Condition("backup", PASS, _("{users} users verified on {when}, after the backup of {run}").format(
        users=users, when=_when(check["at"]), run=_when(finished)), check["at"])


def copy_condition(project: Project) -> Condition:
    table = project.section("copy").get("users")
    table = table if isinstance(table, dict) else {}
    missing, unverified, different = [], [], []
    newest: datetime | None = None
    for user in project.users:
        entry = table.get(user.email)
        if not isinstance(entry, dict) or not isinstance(entry.get("copied_at"), datetime):
            missing.append(user.email)
            continue
        verified = entry.get("verified_at")
        if not isinstance(verified, datetime) or verified < entry["copied_at"]:
            unverified.append(user.email)
        elif entry.get("verify") != "ok":
            different.append(user.email)
        else:
            newest = verified if newest is None or verified > newest else newest
    if missing or unverified or different:
        parts = []
        if missing:
            parts.append(_("not copied: {users}").format(users=", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")))
        if unverified:
            parts.append(_("not verified since the last copy: {users}").format(
                users=", ".join(unverified[:5]) + (" …" if len(unverified) > 5 else "")))
        if different:
            parts.append(_("verify found differences: {users}").format(
                users=", ".join(different[:5]) + (" …" if len(different) > 5 else "")))
        return Condition("copy", FAIL, "; ".join(parts))
    return Condition("copy", PASS, _("{n} users copied and verified (last verify {when})").format(
        n=len(project.users), when=_when(newest)), newest)


def matrix_condition(project: Project) -> Condition:
    run = project.section("matrix").get("last_run")
    if not isinstance(run, dict):
        return Condition("matrix", FAIL, _("the test matrix has not run (`mailmig test`)"))
    at = run.get("at") if isinstance(run.get("at"), datetime) else None
    pilots, pilots_ok = int(run.get("pilots", 0) or 0), int(run.get("pilots_passed", 0) or 0)
    users, users_ok = int(run.get("users", 0) or 0), int(run.get("users_passed", 0) or 0)
    if pilots == 0:
        return Condition("matrix", FAIL, _("no pilot users: mark a few with role = \"pilot\" and run `mailmig test`"), at)
    if pilots_ok < pilots:
        return Condition("matrix", FAIL, _("pilots: {ok}/{n} pass").format(ok=pilots_ok, n=pilots), at)
    widened = users_ok > pilots_ok
    if widened and users_ok < len(project.users):
        return Condition("matrix", FAIL, _("widened to everyone: {ok}/{n} pass").format(ok=users_ok, n=len(project.users)), at)
    text = _("pilots: {ok}/{n} pass").format(ok=pilots_ok, n=pilots)
    if widened:
        text += "; " + _("all: {ok}/{n} pass").format(ok=users_ok, n=users)
    return Condition("matrix", PASS, text + " (" + _when(at) + ")", at)


def reminder_condition(project: Project, project_path: Path) -> Condition:
    path = sendlog_path(project_path)
    if not path.exists():
        return Condition("reminder", FAIL, _("the go-live notice has not been sent (`mailmig notices send PROJECT "
                                             "--notice go_live`)"))
    with SendLog(path) as log:
        entries = {e.recipient: e for e in log.entries("go_live")}
    missing = [u.email for u in project.users if entries.get(u.email.lower()) is None
               or entries[u.email.lower()].state != SENT]
    if missing:
        return Condition("reminder", FAIL, _("not sent to {n} of {total}: {users}").format(
            n=len(missing), total=len(project.users), users=", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")))
    last = max((e.at for e in entries.values()), default=None)
    return Condition("reminder", PASS, _("sent to all {n} users (last on {when})").format(
        n=len(project.users), when=_when(last)), last)


# --- DNS, asked now ----------------------------------------------------------------------------------


def _mx_hosts(values: tuple[str, ...]) -> set[str]:
    hosts = set()
    for v in values:
        parts = v.split()
        if parts:
            hosts.add(parts[-1].rstrip(".").lower())
    return hosts


async def _ask_all(domain: str, servers: list[Server], resolvers: list[Server], timeout: float) -> tuple[list[Any], list[Any]]:
    auth = await asyncio.gather(*(ask(s, domain, "MX", timeout=timeout, recursion=False) for s in servers))
    rec = await asyncio.gather(*(ask(s, domain, "MX", timeout=timeout, recursion=True) for s in resolvers))
    return list(auth), list(rec)


def dns_conditions(project: Project, config: DnsConfig, observed: dict[str, Any], at: datetime) -> tuple[list[Condition], dict[str, Any]]:
    """The three DNS conditions, and the updated `[golive.observed]` (the drain clock)."""
    new_hosts = {m.host.rstrip(".").lower() for m in project.new.mx}
    old_hosts = {m.host.rstrip(".").lower() for m in project.old.mx}
    servers = list(config.authoritative)
    if not servers:
        from mailmig_tui.core.dns.audit import discover_authoritative

        try:
            servers = asyncio.run(discover_authoritative(project.domain, list(config.resolvers), config.timeout))
        except Exception as exc:
            servers = []
            reason = str(exc)
        else:
            reason = _("the zone's NS set is empty")
        if not servers:
            fail = Condition("dns-authoritative", FAIL, _("no authoritative server found: {reason}").format(reason=reason))
            return [fail, Condition("dns-resolvers", FAIL, _("not asked: the authoritative servers come first")),
                    Condition("dns-drained", FAIL, _("unknown until every authoritative server serves the new MX"))], observed
    if not new_hosts:
        c = Condition("dns-authoritative", FAIL, _("the new provider has no MX hosts in the project"))
        return [c, Condition("dns-resolvers", FAIL, _("nothing to compare with")),
                Condition("dns-drained", FAIL, _("nothing to compare with"))], observed
    auth, rec = asyncio.run(_ask_all(project.domain, servers, list(config.resolvers), config.timeout))
    observed = dict(observed)
    bad_auth = []
    for server, answer in zip(servers, auth, strict=True):
        hosts = _mx_hosts(answer.values)
        if answer.failed:
            bad_auth.append(_("{name} did not answer ({status})").format(name=server.name, status=answer.status))
        elif hosts & old_hosts or not hosts or not hosts <= new_hosts:
            bad_auth.append(_("{name} serves {hosts}").format(name=server.name, hosts=", ".join(sorted(hosts)) or _("no MX")))
    conditions = []
    if bad_auth:
        # Back on the old MX (or not answering): the drain clock starts again from the next all-new check.
        observed.pop("auth_new_since", None)
        conditions.append(Condition("dns-authoritative", FAIL, "; ".join(bad_auth), at))
    else:
        since = observed.get("auth_new_since")
        if not isinstance(since, datetime):
            since = at
            observed["auth_new_since"] = at
        conditions.append(Condition("dns-authoritative", PASS, _("all {n} serve {hosts}, seen since {when}").format(
            n=len(servers), hosts=", ".join(sorted(new_hosts)), when=_when(since)), since))
    bad_res = []
    for server, answer in zip(config.resolvers, rec, strict=True):
        hosts = _mx_hosts(answer.values)
        if answer.failed:
            bad_res.append(_("{name} did not answer ({status}): unknown, not new").format(name=server.name,
                                                                                        status=answer.status))
        elif hosts & old_hosts or not hosts <= new_hosts or not hosts:
            bad_res.append(_("{name} still hands out {hosts}").format(name=server.name,
                                                                       hosts=", ".join(sorted(hosts)) or _("no MX")))
    if not config.resolvers:
        conditions.append(Condition("dns-resolvers", FAIL, _("no resolvers to ask in [dns] resolvers")))
    elif bad_res:
        conditions.append(Condition("dns-resolvers", FAIL, "; ".join(bad_res), at))
    elif bad_auth:
        conditions.append(Condition("dns-resolvers", FAIL, _("all {n} answer the new MX, but not every authoritative "
                                                              "server does yet").format(n=len(rec)), at))
    else:
        conditions.append(Condition("dns-resolvers", PASS, _("all {n} answer {hosts}").format(
            n=len(rec), hosts=", ".join(sorted(new_hosts))), at))
    ttl = project.plan.old_mx_ttl or DEFAULT_OLD_MX_TTL
    since = observed.get("auth_new_since")
    if not isinstance(since, datetime):
        conditions.append(Condition("dns-drained", FAIL, _("pending: not every authoritative server serves the new MX")))
    else:
        drained = since + timedelta(seconds=ttl)
        observed["drained_at"] = drained
        if at >= drained:
            conditions.append(Condition("dns-drained", PASS, _("the old MX's TTL ({ttl} s) ran out at {when}").format(
                ttl=ttl, when=_when(drained)), drained))
        else:
            conditions.append(Condition("dns-drained", FAIL, _("pending until {when}: the old MX's TTL ({ttl} s) counted "
                                                               "from {since}").format(when=_when(drained), ttl=ttl,
                                                                                     since=_when(since)), drained))
    if not project.plan.old_mx_ttl:
        conditions[-1] = Condition(conditions[-1].key, conditions[-1].status, conditions[-1].evidence + " · " + _(
            "the plan has no old MX TTL: a day is assumed"), conditions[-1].at)
    return conditions, observed


# --- the old provider, asked now ---------------------------------------------------------------------


def straggler_conditions(project: Project, credentials: Credentials, observed: dict[str, Any], at: datetime,
                         timeout: float = 30.0) -> list[Condition]:
    delta = project.section("golive").get("final_delta")
    drained = observed.get("drained_at")
    if not isinstance(delta, dict) or not isinstance(delta.get("started"), datetime):
        return [Condition("final-delta", FAIL, _("the final delta has not run (`mailmig golive final-delta`)")),
                Condition("stragglers", FAIL, _("counted from the final delta, which has not run"))]
    started = delta["started"]
    failed = int(delta.get("users_failed", 0) or 0)
    if failed:
        first = Condition("final-delta", FAIL, _("ran on {when} but {n} users failed").format(when=_when(started), n=failed),
                          started)
    elif not isinstance(drained, datetime) or started < drained:
        first = Condition("final-delta", FAIL, _("ran on {when}, before the old MX drained ({drained}): run it again").format(
            when=_when(started), drained=_when(drained) if isinstance(drained, datetime) else _("not yet")), started)
    else:
        first = Condition("final-delta", PASS, _("ran on {when} ({messages} messages copied), after the drain at {drained}").format(
            when=_when(started), messages=int(delta.get("messages", 0) or 0), drained=_when(drained)), started)
    counts: dict[str, int] = {}
    problems: dict[str, str] = {}

    def one(user: Any) -> None:
        try:
            spec = login_spec(project, credentials, user, "old")
        except CredentialError as exc:
            problems[user.email] = str(exc)
            return
        if isinstance(spec, str):
            problems[user.email] = spec
            return
        try:
            counts[user.email] = count_new_messages(project.old.imap, spec, started, timeout)
        except FatalUserError as exc:
            problems[user.email] = str(exc)
        except TRANSIENT_ERRORS as exc:
            problems[user.email] = _("unreachable: {error}").format(error=exc)

    with ThreadPoolExecutor(max(1, min(project.old.limits.max_connections, len(project.users) or 1))) as pool:
        list(pool.map(one, project.users))
    arrived = {e: n for e, n in counts.items() if n}
    if problems:
        email, reason = sorted(problems.items())[0]
        second = Condition("stragglers", FAIL, _("{n} users could not be checked (first: {user}: {reason})").format(
            n=len(problems), user=email, reason=reason), at)
    elif arrived:
        second = Condition("stragglers", FAIL, _("{n} new messages since {when}: {users}; run the final delta again").format(
            n=sum(arrived.values()), when=_when(started),
            users=", ".join(f"{e} ({n})" for e, n in sorted(arrived.items())[:5])), at)
    else:
        second = Condition("stragglers", PASS, _("none for {n} users since {when}").format(n=len(counts), when=_when(started)),
                           at)
    return [first, second]


def check_gate(project: Project, project_path: Path, credentials: Credentials, dns_config: DnsConfig, *,
               at: datetime | None = None, on_condition: Callable[[Condition], None] | None = None,
               cancel: threading.Event | None = None) -> GateResult:
    """Every condition, asked now. `observed` in the result is what to store in [golive.observed]."""
    at = at or now()
    observed = dict(project.section("golive").get("observed") or {})
    conditions: list[Condition] = [backup_condition(project), copy_condition(project), matrix_condition(project)]
    dns, observed = dns_conditions(project, dns_config, observed, at)
    conditions += dns
    conditions += straggler_conditions(project, credentials, observed, at)
    conditions.append(reminder_condition(project, project_path))
    if on_condition is not None:
        for c in conditions:
            on_condition(c)
    return GateResult(at, conditions, observed)


def record_gate(project: Project, result: GateResult) -> None:
    """Store the drain clock and the last check's verdict in `[golive]` (through the project store)."""
    section = dict(project.section("golive"))
    section["observed"] = result.observed
    section["last_check"] = {"at": result.at, "passed": result.passed,
                             "failing": [f"{c.key}: {c.evidence}"[:200] for c in result.failing]}
    project.sections["golive"] = section


def gate_passed(project: Project) -> tuple[bool, list[str]]:
    """The last recorded check: did it pass, and which conditions failed (for the override record)."""
    last = project.section("golive").get("last_check")
    if not isinstance(last, dict):
        return False, [_("the gate has not been checked (`mailmig golive check`)")]
    failing = last.get("failing", [])
    failing = [str(f) for f in failing] if isinstance(failing, list) else [str(failing)]
    # Only a recorded `passed = true` with nothing failing is a pass: a hand-edited "false" string is not.
    return last.get("passed") is True and not failing, failing or ([] if last.get("passed") is True else
                                                                    [_("the last check did not pass")])


def last_check_line(project: Project) -> str | None:
    """"Go-live gate: ✗ 3 conditions fail (2026-12-14 10:02)", or None before the first check."""
    last = project.section("golive").get("last_check")
    if not isinstance(last, dict):
        return None
    failing = last.get("failing") or []
    when = _when(last.get("at"))
    if last.get("passed") is True and not failing:
        return _("Go-live gate: ✓ safe to switch the old provider off ({when})").format(when=when)
    return _("Go-live gate: ✗ {n} conditions fail ({when})").format(n=len(failing), when=when)
