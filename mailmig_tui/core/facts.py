"""Phase status from the facts: what the engines recorded, read back as each phase's evidence.

The status a user sets (the `s` key, `mailmig phase`) is a claim; the facts are what the engines wrote
through the project store and into their SQLite files. `derive()` reads them (no network) and gives
each phase a `Fact`: a derived status and one line of evidence with its time.

    not started   nothing has run for this phase
    in progress   something ran, but not yet all of what "done" needs
    done          every condition below was seen, in the right order
    failed        a run or check saw something broken
    unknown       the evidence is missing, unreadable or stale (never counted as done)

What "done" needs, per phase:

    Preparation   every checklist item of the phase ticked, and every plan date set, in an order that works
    Backup        the last `[backup.last_run]` covered every user with none failed or stopped, and a
                  `[backup.last_verify]` AFTER it found every user complete; the archive's index.sqlite
                  exists and knows every user
    Account sync  every user's copy verified after their last copy (`[copy.users]`) and every user's
                  old and new logins checked ok (`[accounts.check]`, `[accounts.last_check]`)
    DNS           `[dns.last_watch]` saw every resolver answer the new MX (none left out), for the MX
                  the project names now
    Testing       `[matrix.last_run]` covered every user, nothing failed or not run, not cancelled, and
                  the matrix's SQLite results agree
    Go-live       the last `[golive.last_check]` passed and `golive done` was recorded after it
    After-care    the monitor's history (SQLite beside the project) has a run less than a day old with
                  no failing or unknown check, clean for `[monitor] dmarc_clean_days` days since
                  go-live, and the after-care checklist ticked

A user-set status "agrees" with the facts unless it claims more than they show (done without the facts
done) or denies what happened (not started when something ran). Setting one that does not agree needs a
confirmation and is logged with the facts it overrode (`set_status`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from mailmig_tui.core import clock
from mailmig_tui.core.errors import UsageError
from mailmig_tui.core.i18n import N_, _
from mailmig_tui.core.model import PLAN_KEYS, Event, Project, current_operator, subtable
from mailmig_tui.core.phases import Phase, PhaseStatus

MONITOR_STALE = timedelta(days=1)


class FactStatus(StrEnum):
    NOT_STARTED = "not_started"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    FAILED = "failed"
    UNKNOWN = "unknown"

    @property
    def label(self) -> str:
        return _(FACT_LABELS[self])

    @property
    def symbol(self) -> str:
        return {"not_started": "·", "in_progress": "▶", "done": "✓", "failed": "✗", "unknown": "?"}[self.value]


FACT_LABELS = {
    FactStatus.NOT_STARTED: N_("not started"),
    FactStatus.IN_PROGRESS: N_("in progress"),
    FactStatus.DONE: N_("done"),
    FactStatus.FAILED: N_("failed"),
    FactStatus.UNKNOWN: N_("unknown"),
}


@dataclass(frozen=True)
class Fact:
    phase: Phase
    status: FactStatus
    evidence: str  # one line, with the time of the evidence where there is one
    at: datetime | None = None

    def describe(self) -> str:
        return f"{self.status.symbol} {self.status.label}: {self.evidence}"


def agrees(status: PhaseStatus, fact: Fact) -> bool:
    """Whether a user-set status is in line with the facts (no confirmation needed to set it)."""
    if status == PhaseStatus.DONE:
        return fact.status == FactStatus.DONE
    if status == PhaseStatus.NOT_STARTED:
        return fact.status in (FactStatus.NOT_STARTED, FactStatus.UNKNOWN)
    # in progress / blocked: anything but done (a phase the facts show done is not "still going")
    return fact.status != FactStatus.DONE


# --- helpers ----------------------------------------------------------------------------------------


def when(value: Any) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M") if isinstance(value, datetime) else "?"




def _int(data: dict[str, Any], key: str) -> int:
    value = data.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(key)
    return value


def _record(run: Any, time_key: str, *counts: str) -> tuple[datetime, list[int]]:
    """A `last_run` record's time and counts; ValueError when it is not of that shape (edited by hand)."""
    if not isinstance(run, dict) or not isinstance(run.get(time_key), datetime):
        raise ValueError(time_key)
    return run[time_key], [_int(run, key) for key in counts]


def _names(names: list[str], limit: int = 2) -> str:
    return ", ".join(names[:limit]) + (" …" if len(names) > limit else "")


_CACHE: dict[tuple[str, str], tuple[tuple[int, ...], list[tuple[Any, ...]] | None]] = {}
_CACHE_MAX = 64


def _stamp(path: Path) -> tuple[int, ...]:
    """What changes when a SQLite file (or its WAL) is written: sizes and modification times."""
    out: list[int] = []
    for p in (path, path.with_name(path.name + "-wal")):
        try:
            st = p.stat()
            out += [st.st_mtime_ns, st.st_size]
        except OSError:
            out += [0, -1]
    return tuple(out)


def _sqlite_rows(path: Path, query: str) -> list[tuple[Any, ...]] | None:
    """Rows from a SQLite file opened read-only; None if it is missing or unreadable. Kept until the file
    changes: the dashboard asks on every refresh, and a 5,000-user matrix takes a while to read."""
    if not path.is_file():
        return None
    key = (str(path.absolute()), query)
    cached = _CACHE.get(key)
    if cached is not None and cached[0] == _stamp(path):
        return cached[1]
    try:
        db = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=2)
        try:
            rows: list[tuple[Any, ...]] | None = db.execute(query).fetchall()
        finally:
            db.close()
    except sqlite3.Error:
        rows = None
    if len(_CACHE) >= _CACHE_MAX:
        _CACHE.clear()
    # Opening a WAL database can itself touch its files: remember them as they are after the read (a
    # write racing this read changes them again, and the next read sees it).
    _CACHE[key] = (_stamp(path), rows)
    return rows


# --- the seven phases ---------------------------------------------------------------------------------


def preparation(project: Project, path: Path | None, now: datetime) -> Fact:
    from mailmig_tui.core.plan import validate

    phase = Phase.PREPARATION
    items = project.items_for(phase)
    done = [c for c in items if c.done]
    dates = sum(1 for k in PLAN_KEYS if project.plan.dates.get(k) is not None)
    problems = [p for p in validate(project.plan) if p.severity == "error"]  # warnings do not hold it up
    last = max((c.done_at for c in done if c.done_at is not None), default=None)
    evidence = _("{done}/{total} items ticked; plan: {dates}/{all} dates").format(
        done=len(done), total=len(items), dates=dates, all=len(PLAN_KEYS))
    if last is not None:
        evidence += " " + _("(last tick {when})").format(when=when(last))
    if problems:
        evidence += "; " + _("{n} plan problems").format(n=len(problems))
    if not done and not dates:
        return Fact(phase, FactStatus.NOT_STARTED, evidence)
    if len(done) == len(items) and dates == len(PLAN_KEYS) and not problems:
        return Fact(phase, FactStatus.DONE, evidence, last)
    return Fact(phase, FactStatus.IN_PROGRESS, evidence, last)


def backup(project: Project, path: Path | None, now: datetime) -> Fact:
    phase = Phase.BACKUP
    section = project.section("backup")
    run, check = section.get("last_run"), section.get("last_verify")
    if run is None:
        return Fact(phase, FactStatus.NOT_STARTED, _("no backup has run (`mailmig backup`)"))
    try:
        finished, (users, failed, stopped) = _record(run, "finished", "users", "users_failed", "users_cancelled")
    except ValueError:
        return Fact(phase, FactStatus.UNKNOWN, _("[backup.last_run] is unreadable"))
    everyone = len(project.users)
    ran = _("backup {when}").format(when=when(finished))
    if failed:
        return Fact(phase, FactStatus.FAILED, _("{ran}: {n} of {users} users failed").format(
            ran=ran, n=failed, users=users), finished)
    if stopped:
        return Fact(phase, FactStatus.IN_PROGRESS, _("{ran}: stopped for {n} users").format(ran=ran, n=stopped), finished)
    if users < everyone:
        return Fact(phase, FactStatus.IN_PROGRESS, _("{ran} covered {n} of {total} users").format(
            ran=ran, n=users, total=everyone), finished)
    at = check.get("at") if isinstance(check, dict) else None
    if not isinstance(check, dict) or not isinstance(at, datetime) or at < finished:
        return Fact(phase, FactStatus.IN_PROGRESS, _("{ran}, not verified since (`mailmig verify`)").format(ran=ran), finished)
    try:
        checked, ok = _int(check, "users"), _int(check, "users_ok")
    except ValueError:
        return Fact(phase, FactStatus.UNKNOWN, _("[backup.last_verify] is unreadable"))
    if ok < checked:
        return Fact(phase, FactStatus.FAILED, _("verify {when}: {n} of {users} users differ").format(
            when=when(at), n=checked - ok, users=checked), at)
    if checked < everyone:
        return Fact(phase, FactStatus.IN_PROGRESS, _("verify {when} covered {n} of {total} users").format(
            when=when(at), n=checked, total=everyone), at)
    verdicts = check.get("results")  # each user's verdict, where the verify recorded them
    if isinstance(verdicts, dict):
        unverified = [u.email for u in project.users if verdicts.get(u.email) != "ok"]
        if unverified:
            return Fact(phase, FactStatus.IN_PROGRESS, _("verify {when} has no ok for {users}").format(
                when=when(at), users=_names(unverified)), at)
    if path is not None:  # the archive itself must still be there and know every user
        from mailmig_tui.core.backup.engine import INDEX_NAME

        dest = Path(str(section.get("dest") or "")).expanduser()
        if not section.get("dest"):
            return Fact(phase, FactStatus.UNKNOWN, _("[backup] names no archive folder (dest)"), at)
        dest = dest if dest.is_absolute() else path.absolute().parent / dest
        rows = _sqlite_rows(dest / INDEX_NAME, "SELECT DISTINCT user FROM folders")
        if rows is None:
            return Fact(phase, FactStatus.UNKNOWN, _("the archive index {path} is missing or unreadable").format(
                path=dest / INDEX_NAME), at)
        known = {str(r[0]).lower() for r in rows}
        absent = [u.email for u in project.users if u.email.lower() not in known
                  and u.effective_old_login.lower() not in known]
        if absent:
            return Fact(phase, FactStatus.UNKNOWN, _("the archive index has no folders of {users}").format(
                users=_names(absent)), at)
    return Fact(phase, FactStatus.DONE, _("{n} users verified {when}, after the backup of {run}").format(
        n=checked, when=when(at), run=when(finished)), at)


def accounts(project: Project, path: Path | None, now: datetime) -> Fact:
    from mailmig_tui.core.accounts.check import FAILING

    phase = Phase.ACCOUNTS
    copies = subtable(project.section("copy"), "users")
    account_section = project.section("accounts")
    checks = subtable(account_section, "check")
    last = account_section.get("last_check")
    if not copies and not checks and last is None:
        return Fact(phase, FactStatus.NOT_STARTED, _("no login check or copy has run"))
    uncopied, unverified, different, failed_copy, unchecked, bad_login = [], [], [], [], [], []
    newest: datetime | None = None
    for user in project.users:
        entry = copies.get(user.email)
        entry = entry if isinstance(entry, dict) else {}
        copied, verified = entry.get("copied_at"), entry.get("verified_at")
        if entry.get("state") == "failed" or entry.get("error"):
            failed_copy.append(user.email)
        elif not isinstance(copied, datetime):
            uncopied.append(user.email)
        elif not isinstance(verified, datetime) or verified < copied:
            unverified.append(user.email)
        elif entry.get("verify") != "ok":
            different.append(user.email)
        else:
            newest = verified if newest is None or verified > newest else newest
        login = checks.get(user.email)
        if not isinstance(login, dict):
            unchecked.append(user.email)
        elif login.get("old") in FAILING or login.get("new") in FAILING or login.get("smtp") in FAILING:
            bad_login.append(user.email)
        elif login.get("old") != "ok" or login.get("new") != "ok":
            unchecked.append(user.email)
    everyone = len(project.users)
    if different or failed_copy or bad_login:
        parts = []
        if different:
            parts.append(_("verify found differences for {users}").format(users=_names(different)))
        if failed_copy:
            parts.append(_("copy failed for {users}").format(users=_names(failed_copy)))
        if bad_login:
            parts.append(_("login check failed for {users}").format(users=_names(bad_login)))
        return Fact(phase, FactStatus.FAILED, "; ".join(parts), newest)
    if uncopied or unverified or unchecked:
        verified = everyone - len(uncopied) - len(unverified)
        text = _("{n}/{total} users copied and verified").format(n=verified, total=everyone)
        if unverified:
            text += "; " + _("not verified since the last copy: {users}").format(users=_names(unverified))
        if unchecked:
            text += "; " + _("logins not checked ok: {users}").format(users=_names(unchecked))
        return Fact(phase, FactStatus.IN_PROGRESS, text, newest)
    at = last.get("at") if isinstance(last, dict) else None
    return Fact(phase, FactStatus.DONE, _("{n} users copied and verified (last verify {when}); logins ok ({check})").format(
        n=everyone, when=when(newest), check=when(at)), newest)


def dns(project: Project, path: Path | None, now: datetime) -> Fact:
    from mailmig_tui.core.dns.lastwatch import PROPAGATED, WATCHING, mx_values

    phase = Phase.DNS
    record = project.section("dns").get("last_watch")
    if record is None:
        return Fact(phase, FactStatus.NOT_STARTED, _("no propagation watch recorded (`mailmig dns watch`)"))
    if not isinstance(record, dict) or not isinstance(record.get("started"), datetime):
        return Fact(phase, FactStatus.UNKNOWN, _("[dns.last_watch] is unreadable"))
    started = record["started"]
    watched = record.get("mx")
    if isinstance(watched, list) and sorted(map(str, watched)) != mx_values(project):
        return Fact(phase, FactStatus.UNKNOWN, _("the watch of {when} was of another MX than the project's now").format(
            when=when(started)), started)
    outcome = record.get("outcome")
    on_new, counted = record.get("on_new", 0), record.get("resolvers", 0)
    left_out = [str(n) for n in record.get("left_out") or []]
    propagated_at = record.get("propagated_at")
    if outcome == PROPAGATED and isinstance(propagated_at, datetime):
        if left_out:
            return Fact(phase, FactStatus.IN_PROGRESS, _("new MX on {n} of {total} resolvers at {when}; left out, never "
                                                         "answered: {names}").format(
                n=on_new, total=on_new + len(left_out), when=when(propagated_at), names=_names(left_out)), propagated_at)
        return Fact(phase, FactStatus.DONE, _("every resolver ({n}) answered the new MX at {when} (watch from {start})").format(
            n=counted, when=when(propagated_at), start=when(started)), propagated_at)
    if outcome == WATCHING:
        seen = record.get("updated")
        return Fact(phase, FactStatus.IN_PROGRESS, _("watching since {start}: new MX on {n} of {total} ({seen})").format(
            start=when(started), n=on_new, total=counted, seen=when(seen)), seen if isinstance(seen, datetime) else started)
    ended = record.get("ended")
    return Fact(phase, FactStatus.IN_PROGRESS, _("the watch from {start} ended {end} without full propagation "
                                                 "(new MX on {n} of {total})").format(
        start=when(started), end=when(ended), n=on_new, total=counted), ended if isinstance(ended, datetime) else started)


def testing(project: Project, path: Path | None, now: datetime) -> Fact:
    phase = Phase.TESTING
    run = project.section("matrix").get("last_run")
    if run is None:
        return Fact(phase, FactStatus.NOT_STARTED, _("the test matrix has not run (`mailmig test`)"))
    try:
        at, (users, failed, not_run, passed_users) = _record(run, "at", "users", "failed", "not_run", "users_passed")
    except ValueError:
        return Fact(phase, FactStatus.UNKNOWN, _("[matrix.last_run] is unreadable"))
    everyone = len(project.users)
    ran = _("matrix {when}").format(when=when(at))
    if failed:
        return Fact(phase, FactStatus.FAILED, _("{ran}: {n} cells failed").format(ran=ran, n=failed), at)
    if run.get("cancelled"):
        return Fact(phase, FactStatus.IN_PROGRESS, _("{ran} was stopped before the end").format(ran=ran), at)
    if users < everyone or passed_users < everyone:
        return Fact(phase, FactStatus.IN_PROGRESS, _("{ran} covered {n} of {total} users ({ok} pass)").format(
            ran=ran, n=users, total=everyone, ok=passed_users), at)
    if not_run:
        return Fact(phase, FactStatus.IN_PROGRESS, _("{ran}: {n} cells not run").format(ran=ran, n=not_run), at)
    if path is not None:
        from mailmig_tui.core.matrix.checks import CHECK_IDS
        from mailmig_tui.core.matrix.config import db_path, parse_matrix_section

        try:
            db_file = db_path(path, parse_matrix_section(project.sections.get("matrix")))
        except ValueError:
            return Fact(phase, FactStatus.UNKNOWN, _("the [matrix] section is unreadable"), at)
        if not db_file.is_file():
            return Fact(phase, FactStatus.UNKNOWN, _("the matrix results {path} are missing").format(path=db_file), at)
        # Each (user, check)'s newest real result (a "not run" never hides an earlier one), as the
        # matrix's own ResultsDb.latest() reads them, in one pass.
        rows = _sqlite_rows(db_file, "SELECT c.user, c.check_id, c.status FROM cells c JOIN (SELECT user, check_id, "
                                     "MAX(run) AS run FROM cells WHERE status != 'not_run' GROUP BY user, check_id) m "
                                     "ON c.user = m.user AND c.check_id = m.check_id AND c.run = m.run")
        if rows is None:
            return Fact(phase, FactStatus.UNKNOWN, _("the matrix results {path} are unreadable").format(path=db_file), at)
        good: dict[str, set[str]] = {}
        for user, check, status in rows:
            if status in ("passed", "warning"):
                good.setdefault(str(user), set()).add(str(check))
        failing = [u.email for u in project.users if not set(CHECK_IDS) <= good.get(u.email.lower(), set())]
        if failing:
            return Fact(phase, FactStatus.UNKNOWN, _("the matrix results do not show a pass for {users}").format(
                users=_names(failing)), at)
    return Fact(phase, FactStatus.DONE, _("{ran}: all {n} users pass every check").format(ran=ran, n=everyone), at)


def go_live(project: Project, path: Path | None, now: datetime) -> Fact:
    phase = Phase.GO_LIVE
    section = project.section("golive")
    last, done_at = section.get("last_check"), section.get("done_at")
    overridden = [o for o in section.get("overrides") or [] if isinstance(o, dict) and o.get("what") == "go_live"]
    if last is None and done_at is None:
        return Fact(phase, FactStatus.NOT_STARTED, _("the gate has not been checked (`mailmig golive check`)"))
    if not isinstance(last, dict) or not isinstance(last.get("at"), datetime):
        if isinstance(done_at, datetime):
            return Fact(phase, FactStatus.UNKNOWN, _("go-live recorded {when} without a gate check").format(
                when=when(done_at)), done_at)
        return Fact(phase, FactStatus.UNKNOWN, _("[golive.last_check] is unreadable"))
    at: datetime = last["at"]
    failing = last.get("failing") or []
    if last.get("passed") is not True or failing:  # a hand-edited "false" is not a pass
        text = _("gate {when}: {n} conditions fail").format(when=when(at), n=len(failing))
        if isinstance(done_at, datetime):
            how = _(" (overridden by {who})").format(who=overridden[-1].get("who", "?")) if overridden else ""
            return Fact(phase, FactStatus.FAILED, text + "; " + _("go-live marked done {when}{how}").format(
                when=when(done_at), how=how), at)
        return Fact(phase, FactStatus.IN_PROGRESS, text, at)
    if not isinstance(done_at, datetime):
        return Fact(phase, FactStatus.IN_PROGRESS, _("gate passed {when}; go-live not recorded (`mailmig golive done`)").format(
            when=when(at)), at)
    if done_at < at - timedelta(seconds=1) and overridden:
        return Fact(phase, FactStatus.IN_PROGRESS, _("go-live marked done {done} by override, before the gate passed {when}").format(
            done=when(done_at), when=when(at)), at)
    return Fact(phase, FactStatus.DONE, _("gate passed {when}; go-live recorded {done}").format(
        when=when(at), done=when(done_at)), done_at)


def aftercare(project: Project, path: Path | None, now: datetime) -> Fact:
    from mailmig_tui.core.monitor.checks import parse_monitor_section
    from mailmig_tui.core.monitor.history import history_path

    phase = Phase.AFTERCARE
    if path is None:
        return Fact(phase, FactStatus.UNKNOWN, _("the monitor's history was not read"))
    history = history_path(path)
    runs = _sqlite_rows(history, "SELECT run, SUM(status = 'fail'), SUM(status = 'unknown'), COUNT(*) FROM results "
                                 "GROUP BY run ORDER BY run DESC")
    if runs is None and not history.exists():
        return Fact(phase, FactStatus.NOT_STARTED, _("the health monitor has not run (`mailmig monitor`)"))
    if not runs:
        return Fact(phase, FactStatus.UNKNOWN, _("the monitor history {path} is unreadable or empty").format(path=history))
    try:
        last_run = datetime.fromisoformat(runs[0][0])
    except (TypeError, ValueError):
        return Fact(phase, FactStatus.UNKNOWN, _("the monitor history {path} is unreadable").format(path=history))
    fails, unknown = int(runs[0][1] or 0), int(runs[0][2] or 0)
    ran = _("monitor {when}").format(when=when(last_run))
    if fails:
        return Fact(phase, FactStatus.FAILED, _("{ran}: {n} checks failing").format(ran=ran, n=fails), last_run)
    if unknown:
        return Fact(phase, FactStatus.UNKNOWN, _("{ran}: {n} checks could not run").format(ran=ran, n=unknown), last_run)
    if now - last_run > MONITOR_STALE:
        return Fact(phase, FactStatus.UNKNOWN, _("{ran} is more than a day old").format(ran=ran), last_run)
    clean_since = last_run
    for run, bad_fail, bad_unknown, _count in runs:
        if bad_fail or bad_unknown:
            break
        clean_since = datetime.fromisoformat(run)
    go_live_at = project.section("golive").get("done_at") or project.plan.dates.get("go_live")
    if isinstance(go_live_at, datetime):
        clean_since = max(clean_since, go_live_at)
    try:
        need = parse_monitor_section(project.sections.get("monitor")).dmarc_clean_days
    except ValueError:
        need = 14
    days = max(0, (now - clean_since).days)
    items = project.items_for(phase)
    ticked = sum(1 for c in items if c.done)
    text = _("{ran}: healthy; clean for {days} of {need} days; checklist {done}/{total}").format(
        ran=ran, days=days, need=need, done=ticked, total=len(items))
    if days >= need and ticked == len(items):
        return Fact(phase, FactStatus.DONE, text, last_run)
    return Fact(phase, FactStatus.IN_PROGRESS, text, last_run)


DERIVE: dict[Phase, Callable[[Project, Path | None, datetime], Fact]] = {
    Phase.PREPARATION: preparation,
    Phase.BACKUP: backup,
    Phase.DNS: dns,
    Phase.ACCOUNTS: accounts,
    Phase.TESTING: testing,
    Phase.GO_LIVE: go_live,
    Phase.AFTERCARE: aftercare,
}


def derive(project: Project, path: Path | None = None, now: datetime | None = None) -> dict[Phase, Fact]:
    """Every phase's facts. `path` is the project file: the SQLite files beside it (and the archive's
    index) are read only when it is given; without it those phases say what they can from the file."""
    now = now or clock.now()
    return {phase: derive_one(project, phase, path, now) for phase in Phase}


def derive_one(project: Project, phase: Phase, path: Path | None = None, now: datetime | None = None) -> Fact:
    try:
        return DERIVE[phase](project, path, now or clock.now())
    except (ValueError, TypeError, KeyError, OSError) as exc:  # a hand-edited record of an odd shape
        return Fact(phase, FactStatus.UNKNOWN, _("the records could not be read: {error}").format(error=exc))


# --- setting a status ---------------------------------------------------------------------------------


class AgainstFacts(UsageError):
    """A status that does not agree with the facts, set without --force (exit 2)."""


def overriding_text(phase: Phase, status: PhaseStatus, fact: Fact) -> str:
    return _("set {phase} to {status} against the facts ({facts})").format(
        phase=phase.label, status=status.label, facts=fact.describe())


def set_status(project: Project, phase: Phase, status: PhaseStatus, fact: Fact, *, confirmed: bool = False,
               who: str | None = None) -> bool:
    """Set `phase` to `status` (pass this to ProjectStore.update or app.mutate). In line with the facts it
    is logged like any change; against them it needs `confirmed` (else AgainstFacts) and the log entry
    names the facts it overrode (also kept as data in the event: `overrode`). Returns whether it went
    against the facts."""
    if agrees(status, fact):
        project.phases[phase] = status
        project.log(_("set {phase} to {status}").format(phase=phase.label, status=status.label), who)
        return False
    if not confirmed:
        raise AgainstFacts(_("{phase}: the facts say {facts}; setting it to {status} needs --force").format(
            phase=phase.label, facts=fact.describe(), status=status.label))
    project.phases[phase] = status
    project.events.append(Event(clock.now(), who or current_operator(), overriding_text(phase, status, fact), {
        "overrode": {"phase": phase.value, "status": status.value, "facts": fact.status.value,
                     "evidence": fact.evidence}}))
    return True
