"""The final delta (old → new, after the old MX drained) and the rollback (DNS to restore, new → old).

Both drive the copy engine: the final delta is its delta pass for every user, recorded in
`[golive.final_delta]` for the gate; the rollback copies, with the providers swapped, what arrived at
the new side since the MX cutover back to the old one, with its own identity map
(`<project>.rollback-copy/`) so it never mixes with the forward copy's and re-runs copy nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from mailmig_tui.core.copy.config import CopyConfig, default_copy_dir, project_copy_config
from mailmig_tui.core.copy.engine import IDMAP_NAME, CopyEngine, CopyOptions
from mailmig_tui.core.copy.idmap import IdentityMap
from mailmig_tui.core.copy.summary import record_copy_run
from mailmig_tui.core.credentials import Credentials
from mailmig_tui.core.dns.config import DnsConfig
from mailmig_tui.core.dns.records import Target, derive_targets, zone_line
from mailmig_tui.core.errors import MailmigError
from mailmig_tui.core.i18n import _
from mailmig_tui.core.model import Project, now
from mailmig_tui.core.runs import Controls, RunSummary, UserDone


class NotDrained(MailmigError):
    exit_code = 1


def drained_at(project: Project) -> datetime | None:
    section = project.sections.get("golive")
    observed = section.get("observed") if isinstance(section, dict) else None
    value = observed.get("drained_at") if isinstance(observed, dict) else None
    return value if isinstance(value, datetime) else None


@dataclass
class DeltaResult:
    started: datetime
    finished: datetime
    summary: RunSummary
    users: list[UserDone]


def _run_copy(project: Project, credentials: Credentials, options: CopyOptions, controls: Controls | None,
              on_event: Callable[[Any], None] | None) -> tuple[datetime, datetime, RunSummary, list[UserDone]]:
    users: list[UserDone] = []

    def forward(event: Any) -> None:
        if isinstance(event, UserDone):
            users.append(event)
        if on_event is not None:
            on_event(event)

    started = now()
    summary = CopyEngine(project, credentials, options, controls, forward).run()
    return started, now(), summary, users


def final_delta(project: Project, project_path: Path, credentials: Credentials, *, force: bool = False,
                controls: Controls | None = None, on_event: Callable[[Any], None] | None = None) -> DeltaResult:
    """The copy engine's delta for every user, once the gate has seen the old MX drain (or `force`)."""
    drained = drained_at(project)
    at = now()
    if not force and (drained is None or at < drained):
        raise NotDrained(
            _("the old MX has not drained yet (until {when}): the final delta runs after that; check the gate with "
              "`mailmig golive check`, or run it anyway with --force").format(when=drained.strftime("%Y-%m-%d %H:%M:%S"))
            if drained else _("the gate has not seen every authoritative server on the new MX yet (`mailmig golive "
                              "check`); run it anyway with --force"))
    options = CopyOptions(phase="delta", project_path=project_path, config=project_copy_config(project, project_path))
    started, finished, summary, users = _run_copy(project, credentials, options, controls, on_event)
    return DeltaResult(started, finished, summary, users)


def record_final_delta(project: Project, result: DeltaResult) -> None:
    """`[golive.final_delta]` for the gate, and the copy's own per-user records."""
    record_copy_run(project, result.summary, result.users, result.started, result.finished, "delta", "old")
    section = project.sections.get("golive")
    section = dict(section) if isinstance(section, dict) else {}
    s = result.summary
    section["final_delta"] = {"started": result.started, "finished": result.finished, "messages": s.messages,
                              "bytes": s.bytes, "users_ok": s.users_ok, "users_failed": s.users_failed,
                              "users_cancelled": s.users_cancelled,
                              "errors": [f"{u}: {r}" for u, r in s.errors][:20]}
    if s.users_cancelled:
        section["final_delta"]["users_failed"] = s.users_failed + s.users_cancelled
    project.sections["golive"] = section


# --- rollback ----------------------------------------------------------------------------------------


class SwappedCredentials(Credentials):
    """The same store with the sides swapped: the rollback's "old" (source) is the real new provider."""

    def __init__(self, inner: Credentials) -> None:
        super().__init__(inner.backend)

    @staticmethod
    def _other(side: str) -> str:
        return {"old": "new", "new": "old"}.get(side, side)

    def get(self, domain: str, side: str, login: str) -> str | None:
        return super().get(domain, self._other(side), login)

    def set(self, domain: str, side: str, login: str, secret: str) -> None:
        super().set(domain, self._other(side), login, secret)


def swapped(project: Project) -> Project:
    """A copy of the project with the old and new providers (and each user's logins) swapped."""
    copy = Project.from_dict(project.to_dict())
    copy.old, copy.new = copy.new, copy.old
    for user in copy.users:
        old, new = user.effective_old_login, user.effective_new_login
        user.old_login, user.new_login = new, old
    return copy


@dataclass
class RollbackPlan:
    records: list[tuple[Target, str]]  # what to set at the DNS host to point the domain back at the old provider
    since: datetime | None  # mail that arrived at the new side since then goes back (the MX cutover)
    users: list[str]
    copy_dir: Path


def rollback_plan(project: Project, project_path: Path, dns_config: DnsConfig, current_spf: tuple[str, ...] = ()) -> RollbackPlan:
    back = swapped(project)
    targets = [t for t in derive_targets(back, dns_config, current_spf) if not t.placeholder]
    lines = [(t, zone_line(t, v)) for t in targets for v in t.values]
    since = project.plan.dates.get("mx_cutover")
    return RollbackPlan(lines, since if isinstance(since, datetime) else None, [u.email for u in project.users],
                        rollback_copy_dir(project_path, project))


def rollback_copy_dir(project_path: Path, project: Project) -> Path:
    forward = default_copy_dir(project_path, project_copy_config(project, project_path))
    return forward.parent / (forward.name.removesuffix(".copy") + ".rollback-copy")


def forward_hashes(project: Project, project_path: Path) -> frozenset[str]:
    """The content of every message the forward copy put on the new side (its identity map)."""
    path = default_copy_dir(project_path, project_copy_config(project, project_path)) / IDMAP_NAME
    if not path.exists():
        return frozenset()
    idmap = IdentityMap(path)
    try:
        return frozenset(r.sha256 for u in project.users for r in idmap.user_rows(u.email) if r.sha256)
    finally:
        idmap.close()


def reverse_copy(project: Project, project_path: Path, credentials: Credentials, *, controls: Controls | None = None,
                 on_event: Callable[[Any], None] | None = None) -> DeltaResult:
    """Copy what arrived at the new provider since the MX cutover back to the old one (new → old)."""
    plan_since = project.plan.dates.get("mx_cutover")
    back = swapped(project)
    options = CopyOptions(phase="delta", project_path=project_path, copy_dir=rollback_copy_dir(project_path, project),
                          since=plan_since.date() if isinstance(plan_since, datetime) else None,
                          config=CopyConfig())  # the forward copy's folder overrides do not apply backwards
    options = replace(options, skip_sha256=forward_hashes(project, project_path))
    started, finished, summary, users = _run_copy(back, SwappedCredentials(credentials), options, controls, on_event)
    return DeltaResult(started, finished, summary, users)
