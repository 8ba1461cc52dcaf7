"""Marking go-live done, or the old provider switched off: only through the gate, or with an override
that records who, when and which conditions were failing."""

from __future__ import annotations

from mailmig_tui.core.errors import MailmigError
from mailmig_tui.core.golive.gate import gate_passed
from mailmig_tui.core.i18n import _
from mailmig_tui.core.model import Project, current_operator, now
from mailmig_tui.core.phases import Phase, PhaseStatus


class GateFailing(MailmigError):
    exit_code = 1


def mark_done(project: Project, *, what: str = "go_live", override: bool = False, reason: str = "") -> list[str]:
    """Set the Go-live phase done (`what="go_live"`) or record the old provider as switched off
    (`what="old_provider_off"`). With a failing gate this needs `override` and a reason, and the override
    (who, when, why, the failing conditions) is kept in `[golive.overrides]` and the activity log.
    Returns the failing conditions that were overridden (empty when the gate passed)."""
    passed, failing = gate_passed(project)
    if not passed and not override:
        raise GateFailing(_("the go-live gate is not passing ({n} conditions fail); check it with `mailmig golive "
                            "check`, or override with --override --reason \"…\"").format(n=len(failing)))
    if not passed and not reason.strip():
        raise GateFailing(_("an override needs a reason (--reason \"…\")"))
    at = now()
    who = current_operator()
    section = project.sections.get("golive")
    section = dict(section) if isinstance(section, dict) else {}
    if not passed:
        overrides = list(section.get("overrides") or [])
        overrides.append({"at": at, "who": who, "what": what, "reason": reason.strip(), "failing": failing})
        section["overrides"] = overrides
        project.log(_("overrode the failing go-live gate to mark {what}: {reason} (failing: {failing})").format(
            what=what, reason=reason.strip(), failing="; ".join(f.split(":", 1)[0] for f in failing)), who)
    if what == "go_live":
        project.phases[Phase.GO_LIVE] = PhaseStatus.DONE
        section["done_at"] = at
    else:
        section["old_provider_off_at"] = at
    project.sections["golive"] = section
    return failing if not passed else []
