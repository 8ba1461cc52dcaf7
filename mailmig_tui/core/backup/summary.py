"""The results of a backup or verify run as the project file keeps them (`[backup.last_run]`,
`[backup.last_verify]`), and the one-line summary the dashboard shows.

The CLI (`mailmig backup` / `mailmig verify`) and the TUI's Backup tab both build these records and save
them with `record_result` through the project store, so the file looks the same whoever ran the backup.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from mailmig_tui.core.backup.engine import RunSummary
from mailmig_tui.core.backup.verify import UserCheck
from mailmig_tui.core.i18n import _
from mailmig_tui.core.model import Project


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def run_record(summary: RunSummary, started: datetime, finished: datetime) -> dict[str, Any]:
    """`[backup.last_run]`: what one backup run did."""
    return {
        "started": started, "finished": finished,
        "users": summary.users_ok + summary.users_failed + summary.users_cancelled,
        "users_ok": summary.users_ok, "users_failed": summary.users_failed,
        "users_cancelled": summary.users_cancelled, "messages": summary.messages, "bytes": summary.bytes,
        "seconds": round(summary.seconds, 1), "messages_per_second": round(summary.messages_per_second, 1),
        "errors": [f"{u}: {r}" for u, r in summary.errors][:50],
    }


def verify_record(results: list[UserCheck], at: datetime) -> dict[str, Any]:
    """`[backup.last_verify]`: what one verify run found."""
    bad = [r for r in results if not r.ok]
    return {
        "at": at, "users": len(results), "users_ok": len(results) - len(bad),
        "differences": [f"{r.user}: {r.error or (r.details[0] if r.details else '')}" for r in bad][:50],
        # Each user's verdict (ok / different / error), so a report can say per user what this verify found.
        "results": {r.user: "ok" if r.ok else ("error" if r.error else "different") for r in results},
    }


def record_result(project: Project, key: str, value: dict[str, Any], dest: Path) -> None:
    """Store `value` as `[backup.<key>]` (and the archive's folder as `[backup] dest`). Pass it to
    `ProjectStore.update` (the CLI) or `MailmigApp.mutate` (the TUI)."""
    section = project.sections.get("backup")
    if not isinstance(section, dict):
        section = {}
    section["dest"] = str(dest)
    section[key] = value
    project.sections["backup"] = section


def _section(project: Project, key: str) -> dict[str, Any] | None:
    section = project.sections.get("backup")
    value = section.get(key) if isinstance(section, dict) else None
    return value if isinstance(value, dict) else None


def _when(value: Any) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M") if isinstance(value, datetime) else str(value or "?")


def last_run_line(project: Project) -> str | None:
    """"Last backup: 10 users, 10,000 msgs, 208.0 MB, 0 errors, 2026-11-28 10:42 · verified ✓", or None
    before the first run. The verify mark counts only when the verify came after that run."""
    run = _section(project, "last_run")
    if run is None:
        return None
    try:
        line = _("Last backup: {users} users, {messages} msgs, {size}, {errors} errors, {when}").format(
            users=int(run.get("users", 0)), messages=f"{int(run.get('messages', 0)):,}",
            size=human_bytes(int(run.get("bytes", 0))), errors=int(run.get("users_failed", 0)),
            when=_when(run.get("finished")))
        if int(run.get("users_cancelled", 0)):
            line += " · " + _("{n} stopped").format(n=int(run["users_cancelled"]))
    except (TypeError, ValueError):
        return None
    check = _section(project, "last_verify")
    finished, at = run.get("finished"), check.get("at") if check else None
    if check is None or not (isinstance(finished, datetime) and isinstance(at, datetime) and at >= finished):
        return line + " · " + _("not verified")
    users, ok = int(check.get("users", 0)), int(check.get("users_ok", 0))
    if ok == users:
        return line + " · " + _("verified ✓")
    return line + " · " + _("verify: {n} users differ ✗").format(n=users - ok)
