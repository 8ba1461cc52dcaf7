"""The columns of the matrix and the states of a cell."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from mailmig_tui.core.i18n import N_, _

# (id, short column title, what it means) in column order.
CHECKS: tuple[tuple[str, str, str], ...] = (
    ("old_login", N_("Old"), N_("IMAP login on the old provider still works (until switch-off)")),
    ("new_login", N_("New"), N_("IMAP login on the new provider")),
    ("send", N_("Send"), N_("SMTP AUTH on the new provider's submission port and a probe accepted")),
    ("receive", N_("Recv"), N_("the probe arrives in the user's new INBOX, found by IMAP; delivery time measured")),
    ("mx", N_("MX"), N_("a probe delivered to the domain's MX on port 25, as an outside sender would, is found in "
                        "the new INBOX (or reported landed at the old provider, or nowhere)")),
    ("present", N_("Mail"), N_("folders and message counts on the new side match the source, and the newest "
                               "source messages are there")),
    ("client", N_("Client"), N_("what a mail client discovers (autoconfig, autodiscover, SRV) points at the new "
                                "provider's hosts")),
    ("dkim", N_("DKIM"), N_("the probe sent through the new provider carries a DKIM signature that verifies "
                            "against the key in DNS, and SPF passes for the sending IP")),
)
CHECK_IDS: tuple[str, ...] = tuple(c[0] for c in CHECKS)
TITLES = {c[0]: c[1] for c in CHECKS}
MEANINGS = {c[0]: c[2] for c in CHECKS}

PASSED, FAILED, WARNING, NOT_RUN = "passed", "failed", "warning", "not_run"
SYMBOLS = {PASSED: "✓", FAILED: "✗", WARNING: "!", NOT_RUN: "—"}
WORDS = {PASSED: N_("pass"), FAILED: N_("FAIL"), WARNING: N_("warn"), NOT_RUN: N_("not run")}


def title(check: str) -> str:
    return _(TITLES[check])


def parse_checks(text: str) -> list[str]:
    """`--checks send,receive` (ids or column titles, any case) → ids in column order."""
    wanted = [t.strip().lower() for t in text.split(",") if t.strip()]
    by_name = {c.lower(): c for c in CHECK_IDS} | {TITLES[c].lower(): c for c in CHECK_IDS}
    out: set[str] = set()
    for w in wanted:
        if w not in by_name:
            raise ValueError(_("unknown check {name!r}; the checks are {choices}").format(
                name=w, choices=", ".join(CHECK_IDS)))
        out.add(by_name[w])
    return [c for c in CHECK_IDS if c in out]


@dataclass(frozen=True)
class Cell:
    """One check for one user: what happened, when, how long it took."""

    user: str
    check: str
    status: str
    reason: str = ""
    started: datetime | None = None
    seconds: float = 0.0
    details: dict[str, str] = field(default_factory=dict)

    @property
    def symbol(self) -> str:
        return SYMBOLS[self.status]

    @property
    def word(self) -> str:
        return _(WORDS[self.status])

    @property
    def ok(self) -> bool:
        return self.status in (PASSED, WARNING)
