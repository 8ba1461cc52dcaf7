"""The seven phases every migration goes through (from the seed article), in order."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from mailmig_tui.core.i18n import N_, _


class Phase(StrEnum):
    PREPARATION = "preparation"
    BACKUP = "backup"
    DNS = "dns"
    ACCOUNTS = "accounts"
    TESTING = "testing"
    GO_LIVE = "go_live"
    AFTERCARE = "aftercare"

    @property
    def number(self) -> int:
        return list(Phase).index(self) + 1

    @property
    def label(self) -> str:
        return _(PHASE_INFO[self].title)

    @property
    def short(self) -> str:
        return _(PHASE_INFO[self].short)

    @property
    def summary(self) -> str:
        return _(PHASE_INFO[self].summary)


class PhaseStatus(StrEnum):
    NOT_STARTED = "not_started"
    IN_PROGRESS = "in_progress"
    BLOCKED = "blocked"
    DONE = "done"

    @property
    def label(self) -> str:
        return _(STATUS_LABELS[self])

    @property
    def symbol(self) -> str:
        # Status is never told by colour alone: each has its own symbol for NO_COLOR terminals.
        return {"not_started": "·", "in_progress": "▶", "blocked": "✗", "done": "✓"}[self.value]


STATUS_LABELS = {
    PhaseStatus.NOT_STARTED: N_("not started"),
    PhaseStatus.IN_PROGRESS: N_("in progress"),
    PhaseStatus.BLOCKED: N_("blocked"),
    PhaseStatus.DONE: N_("done"),
}


@dataclass(frozen=True)
class PhaseInfo:
    title: str
    short: str
    summary: str


PHASE_INFO = {
    Phase.PREPARATION: PhaseInfo(
        N_("Preparation"),
        N_("Prep"),
        N_("Vet the new provider, get admin access to both sides, write the plan, tell staff."),
    ),
    Phase.BACKUP: PhaseInfo(
        N_("Backup"),
        N_("Backup"),
        N_("Back up every mailbox before anything changes, and prove the backup is complete."),
    ),
    Phase.DNS: PhaseInfo(
        N_("DNS"),
        N_("DNS"),
        N_("Point MX, SPF, DKIM, DMARC and autodiscover at the new provider; watch propagation."),
    ),
    Phase.ACCOUNTS: PhaseInfo(
        N_("Account sync"),
        N_("Accounts"),
        N_("Create the same users on the new platform and copy mail across, privately."),
    ),
    Phase.TESTING: PhaseInfo(
        N_("Testing"),
        N_("Test"),
        N_("Pilot users send and receive; fix what breaks; then widen to everyone."),
    ),
    Phase.GO_LIVE: PhaseInfo(
        N_("Go-live"),
        N_("Go-live"),
        N_("Switch for good after the trial, close the old system, remind staff."),
    ),
    Phase.AFTERCARE: PhaseInfo(
        N_("After-care"),
        N_("After"),
        N_("Help newcomers, watch the new system's health and performance."),
    ),
}
