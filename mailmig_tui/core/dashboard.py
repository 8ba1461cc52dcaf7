"""What the dashboard shows, computed once for the TUI and for `mailmig status`."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from mailmig_tui.core import clock
from mailmig_tui.core.checklist import Progress, progress
from mailmig_tui.core.facts import Fact, agrees, derive
from mailmig_tui.core.i18n import _
from mailmig_tui.core.model import ChecklistItem, Project
from mailmig_tui.core.phases import Phase, PhaseStatus
from mailmig_tui.core.plan import countdown, label, next_milestone, validate


@dataclass(frozen=True)
class PhaseRow:
    phase: Phase
    status: PhaseStatus
    progress: Progress
    next_items: list[ChecklistItem]
    overdue: int
    fact: Fact  # what the engines' records show (core/facts.py)

    @property
    def agrees(self) -> bool:
        """Whether the status set by hand is in line with the facts."""
        return agrees(self.status, self.fact)


@dataclass(frozen=True)
class Dashboard:
    domain: str
    old_name: str
    new_name: str
    users: int
    rows: list[PhaseRow]
    overall: Progress
    next_milestone: str
    plan_problems: list[str]
    results: list[str]  # the last backup, login check, copy, test matrix and go-live gate, one line each (those that ran)


def result_lines(project: Project) -> list[str]:
    """One line per engine that has run: the last backup, the last login check, the last copy."""
    from mailmig_tui.core.accounts.check import last_check_line
    from mailmig_tui.core.backup.summary import last_run_line
    from mailmig_tui.core.copy.summary import last_copy_line
    from mailmig_tui.core.golive.gate import last_check_line as gate_line
    from mailmig_tui.core.matrix.results import dashboard_line as matrix_line

    lines = (last_run_line(project), last_check_line(project), last_copy_line(project), matrix_line(project),
             gate_line(project))
    return [line for line in lines if line]


def build(project: Project, now: datetime | None = None, next_count: int = 2, path: Path | None = None) -> Dashboard:
    """`path` (the project file) lets the facts read the engines' SQLite files beside it."""
    now = now or clock.now()
    today = now.date()
    facts = derive(project, path, now)
    rows = []
    for phase in Phase:
        items = project.items_for(phase)
        # overdue items first: they are what the lead must chase today
        undone = sorted((c for c in items if not c.done), key=lambda c: not c.is_overdue(today))
        rows.append(PhaseRow(
            phase,
            project.phases[phase],
            progress(project, phase),
            undone[:next_count],
            sum(1 for c in undone if c.is_overdue(today)),
            facts[phase],
        ))
    upcoming = next_milestone(project.plan, now)
    milestone = (
        _("{what} in {when} ({at})").format(what=label(upcoming[0]), when=countdown(upcoming[1] - now),
                                          at=upcoming[1].strftime("%Y-%m-%d %H:%M"))
        if upcoming else _("no upcoming date in the plan")
    )
    return Dashboard(
        project.domain,
        project.old.name or project.old.preset,
        project.new.name or project.new.preset,
        len(project.users),
        rows,
        progress(project),
        milestone,
        [p.message for p in validate(project.plan)],
        result_lines(project),
    )


def display_width(text: str) -> int:
    """Terminal cells: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def pad(text: str, width: int) -> str:
    return text + " " * max(0, width - display_width(text))


def cut(text: str, width: int) -> str:
    """At most `width` terminal cells, with an ellipsis when something was cut."""
    if display_width(text) <= width:
        return text
    out = ""
    for ch in text:
        if display_width(out + ch) > width - 1:
            break
        out += ch
    return out + "…"


def facts_text(row: PhaseRow) -> str:
    """The facts' status, with ≠ in front when the status set by hand disagrees."""
    return ("" if row.agrees else "≠ ") + f"{row.fact.status.symbol} {row.fact.status.label}"


def disagreement_text(row: PhaseRow) -> str:
    """"≠ set to ✓ done by hand; the facts say ✗ failed" (empty when they agree)."""
    if row.agrees:
        return ""
    return _("≠ set to {set} by hand; the facts say {facts}").format(
        set=f"{row.status.symbol} {row.status.label}", facts=f"{row.fact.status.symbol} {row.fact.status.label}")


def render_text(board: Dashboard) -> str:
    """The dashboard as plain text for `mailmig status` (no colour, fits 80 columns)."""
    lines = [
        f"{board.domain}: {board.old_name} → {board.new_name}   " + _("{n} users").format(n=board.users),
        _("Next: {milestone}").format(milestone=board.next_milestone),
        "",
    ]
    for row in board.rows:
        flag = _("  ({n} overdue)").format(n=row.overdue) if row.overdue else ""
        lines.append(f"{row.status.symbol} {row.phase.number}. {pad(row.phase.label, 14)} {pad(row.status.label, 12)} "
                     f"{row.progress.done:>3}/{row.progress.total:<3}{flag}")
        lines.append(cut("      " + _("facts: {facts} · {evidence}").format(facts=facts_text(row), evidence=row.fact.evidence), 80))
        if not row.agrees:
            lines.append(cut("      " + disagreement_text(row), 80))
        for item in row.next_items:
            lines.append(f"      - {item.title}")
    lines.append("")
    lines.append(_("Overall: {done}/{total} checklist items done").format(done=board.overall.done, total=board.overall.total))
    lines.extend(board.results)
    for problem in board.plan_problems:
        lines.append(_("Plan: {problem}").format(problem=problem))
    return "\n".join(lines)
