"""The results of copy and verify runs as the project file keeps them, and the dashboard's one line.

    [copy.last_run]      what the last `mailmig copy` did (totals, phase, source, errors)
    [copy.last_verify]   what the last `mailmig verify --copy` found
    [copy.users."a@corp.example"]   per user: last copy (when, state, phase, messages) and last verify

The CLI and the TUI's Copy tab both pass these functions to the project store (`ProjectStore.update`,
`MailmigApp.mutate`), so the file looks the same whoever ran the copy.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mailmig_tui.core.backup.summary import human_bytes
from mailmig_tui.core.copy.verify import CopyCheck
from mailmig_tui.core.i18n import _
from mailmig_tui.core.model import Project
from mailmig_tui.core.runs import RunSummary, UserDone


def _section(project: Project) -> dict[str, Any]:
    section = project.sections.get("copy")
    if not isinstance(section, dict):
        section = {}
        project.sections["copy"] = section
    return section


def _users(section: dict[str, Any]) -> dict[str, Any]:
    users = section.get("users")
    if not isinstance(users, dict):
        users = {}
        section["users"] = users
    return users


def record_copy_run(project: Project, summary: RunSummary, users: list[UserDone], started: datetime, finished: datetime,
                    phase: str, source: str, dry_run: bool = False) -> None:
    """Store one copy run as `[copy.last_run]` and each user's line under `[copy.users]`. A dry run
    stores nothing (it copied nothing)."""
    if dry_run:
        return
    section = _section(project)
    section["last_run"] = {
        "started": started, "finished": finished, "phase": phase, "source": source,
        "users": summary.users_ok + summary.users_failed + summary.users_cancelled,
        "users_ok": summary.users_ok, "users_failed": summary.users_failed, "users_cancelled": summary.users_cancelled,
        "messages": summary.messages, "bytes": summary.bytes, "seconds": round(summary.seconds, 1),
        "messages_per_second": round(summary.messages_per_second, 1),
        "errors": [f"{u}: {r}" for u, r in summary.errors][:50],
    }
    table = _users(section)
    for done in users:
        entry = table.get(done.user) if isinstance(table.get(done.user), dict) else {}
        assert isinstance(entry, dict)
        entry.update({"copied_at": finished, "state": done.state, "phase": phase, "messages": done.messages,
                      "bytes": done.bytes})
        if done.error:
            entry["error"] = done.error[:300]
        else:
            entry.pop("error", None)
        table[done.user] = entry


def record_copy_verify(project: Project, checks: list[CopyCheck], at: datetime) -> None:
    section = _section(project)
    bad = [c for c in checks if not c.ok]
    section["last_verify"] = {
        "at": at, "users": len(checks), "users_ok": len(checks) - len(bad),
        "differences": [f"{c.user}: {c.error or (c.details[0] if c.details else '')}" for c in bad][:50],
    }
    table = _users(section)
    for c in checks:
        entry = table.get(c.user) if isinstance(table.get(c.user), dict) else {}
        assert isinstance(entry, dict)
        entry.update({"verified_at": at, "verify": "ok" if c.ok else ("error" if c.error else "different"),
                      "verify_missing": c.missing, "verify_extra": c.extra, "verify_different": c.different})
        table[c.user] = entry


def _when(value: Any) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M") if isinstance(value, datetime) else str(value or "?")


def phase_label(phase: str) -> str:
    return {"prestage": _("pre-stage"), "delta": _("delta")}.get(phase, phase)


def last_copy_line(project: Project) -> str | None:
    """"Last copy (pre-stage): 10 users, 10,000 msgs, 208.0 MB, 0 errors, 2026-11-28 10:42 · verified ✓", or
    None before the first copy. The verify mark counts only when the verify came after that copy."""
    section = project.sections.get("copy")
    run = section.get("last_run") if isinstance(section, dict) else None
    if not isinstance(run, dict):
        return None
    try:
        line = _("Last copy ({phase}): {users} users, {messages} msgs, {size}, {errors} errors, {when}").format(
            phase=phase_label(str(run.get("phase", ""))), users=int(run.get("users", 0)),
            messages=f"{int(run.get('messages', 0)):,}", size=human_bytes(int(run.get("bytes", 0))),
            errors=int(run.get("users_failed", 0)), when=_when(run.get("finished")))
        if int(run.get("users_cancelled", 0)):
            line += " · " + _("{n} stopped").format(n=int(run["users_cancelled"]))
    except (TypeError, ValueError):
        return None
    check = section.get("last_verify") if isinstance(section, dict) else None
    finished = run.get("finished")
    at = check.get("at") if isinstance(check, dict) else None
    if not (isinstance(check, dict) and isinstance(finished, datetime) and isinstance(at, datetime) and at >= finished):
        return line + " · " + _("not verified")
    users, ok = int(check.get("users", 0)), int(check.get("users_ok", 0))
    if ok == users:
        return line + " · " + _("verified ✓")
    return line + " · " + _("verify: {n} users differ ✗").format(n=users - ok)


def user_copy_state(project: Project, email: str) -> dict[str, Any]:
    """The per-user record (empty before the first copy): for the Copy tab's table."""
    section = project.sections.get("copy")
    users = section.get("users") if isinstance(section, dict) else None
    entry = users.get(email) if isinstance(users, dict) else None
    return dict(entry) if isinstance(entry, dict) else {}
