"""The plan's key dates and the rules between them, with messages that say what is wrong."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from mailmig_tui.core import clock
from mailmig_tui.core.i18n import N_, _
from mailmig_tui.core.model import PLAN_KEYS, Plan

PLAN_LABELS = {
    "ttl_lowered": N_("MX TTL lowered"),
    "backup_start": N_("Backup starts"),
    "prestage_copy": N_("Pre-stage copy"),
    "mx_cutover": N_("MX cutover"),
    "go_live": N_("Go-live"),
    "old_provider_off": N_("Old provider off"),
}

# (earlier, later): `later` must not come before `earlier`.
ORDER_RULES = [
    ("ttl_lowered", "mx_cutover"),
    ("backup_start", "prestage_copy"),
    ("backup_start", "mx_cutover"),
    ("prestage_copy", "mx_cutover"),
    ("mx_cutover", "go_live"),
    ("go_live", "old_provider_off"),
    ("mx_cutover", "old_provider_off"),
]


def label(key: str) -> str:
    return _(PLAN_LABELS[key])


@dataclass(frozen=True)
class PlanProblem:
    key: str
    message: str
    severity: str = "error"  # or "warning"


def validate(plan: Plan) -> list[PlanProblem]:
    problems: list[PlanProblem] = []
    dates = plan.dates
    for earlier, later in ORDER_RULES:
        a, b = dates.get(earlier), dates.get(later)
        if a and b and b < a:
            problems.append(PlanProblem(later, _("{later} ({b}) is before {earlier} ({a})").format(
                later=label(later), b=fmt(b), earlier=label(earlier), a=fmt(a))))
    lowered, cutover = dates.get("ttl_lowered"), dates.get("mx_cutover")
    if lowered and cutover and cutover >= lowered and plan.old_mx_ttl:
        safe = lowered + timedelta(seconds=plan.old_mx_ttl)
        if cutover < safe:
            problems.append(PlanProblem("mx_cutover", _(
                "cutover is less than one old MX TTL ({ttl} s) after the TTL was lowered; earliest safe time {safe}"
            ).format(ttl=plan.old_mx_ttl, safe=fmt(safe))))
    if cutover and not lowered:
        problems.append(PlanProblem("ttl_lowered", _("plan when the MX TTL is lowered: it must happen before the cutover"), "warning"))
    off = dates.get("old_provider_off")
    if cutover and off and off - cutover < timedelta(days=7):
        problems.append(PlanProblem("old_provider_off", _(
            "the old provider goes off less than 7 days after the cutover; keep it until no resolver serves the old MX"
        ), "warning"))
    return problems


def fmt(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M %z")


def parse_datetime(text: str, default_tz: datetime | None = None) -> datetime | None:
    """Parse what a user types: '2026-12-05 22:00', '2026-12-05T22:00+08:00', '2026-12-05'; '' is None."""
    text = text.strip()
    if not text:
        return None
    for candidate in (text, text.replace(" ", "T", 1)):
        try:
            value = datetime.fromisoformat(candidate)
            break
        except ValueError:
            continue
    else:
        raise ValueError(_("“{text}” is not a date and time like 2026-12-05 22:00").format(text=text))
    if value.tzinfo is None:
        value = value.replace(tzinfo=(default_tz or clock.now()).tzinfo)
    return value.replace(second=0, microsecond=0)


def next_milestone(plan: Plan, now: datetime) -> tuple[str, datetime] | None:
    upcoming = [(k, plan.dates[k]) for k in PLAN_KEYS if plan.dates.get(k) and plan.dates[k] > now]  # type: ignore[operator]
    if not upcoming:
        return None
    key, when = min(upcoming, key=lambda kv: kv[1])  # type: ignore[arg-type,return-value]
    assert when is not None
    return key, when


def countdown(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    days, rest = divmod(max(seconds, 0), 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return _("{d} d {h} h").format(d=days, h=hours)
    if hours:
        return _("{h} h {m} min").format(h=hours, m=minutes)
    return _("{m} min").format(m=minutes)
