"""The default checklist (all seven phases of the seed article) and checklist edits."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from mailmig_tui.core.i18n import N_, _
from mailmig_tui.core.model import ChecklistItem, Project, current_operator, now
from mailmig_tui.core.phases import Phase, PhaseStatus

# (id, phase, title). Titles are marked for translation and written in the project's language when
# the project is created, so the file reads naturally to the people who use it.
DEFAULT_ITEMS: list[tuple[str, Phase, str]] = [
    ("prep-vet-provider", Phase.PREPARATION, N_("Confirm the new provider's security, SLA, data location and support contacts")),
    ("prep-admin-access", Phase.PREPARATION, N_("Obtain admin access to both the old and the new provider")),
    ("prep-imap-enabled", Phase.PREPARATION, N_("Make sure IMAP is enabled for every mailbox on the old provider")),
    ("prep-contract", Phase.PREPARATION, N_("Check the old contract's end date and notice period")),
    ("prep-inventory", Phase.PREPARATION, N_("List every mailbox, alias, group and shared mailbox to migrate")),
    ("prep-plan-dates", Phase.PREPARATION, N_("Write the plan with dates: TTL lowering, backup, copy, cutover, go-live")),
    ("prep-ttl", Phase.PREPARATION, N_("Lower the MX TTL (e.g. to 300 s) at least one old TTL before the cutover")),
    ("prep-freeze", Phase.PREPARATION, N_("Freeze mailbox moves, renames and new accounts during the copy")),
    ("prep-announce", Phase.PREPARATION, N_("Announce the change and its dates to staff")),
    ("backup-credentials", Phase.BACKUP, N_("Collect credentials (or an admin/master login) for every mailbox")),
    ("backup-disk", Phase.BACKUP, N_("Check there is disk space for the whole backup, with margin")),
    ("backup-run", Phase.BACKUP, N_("Back up every mailbox from the old provider")),
    ("backup-verify", Phase.BACKUP, N_("Verify the backup: counts and checksums match the server")),
    ("backup-offsite", Phase.BACKUP, N_("Keep a second copy of the backup somewhere safe")),
    ("dns-inventory", Phase.DNS, N_("Record the current MX, SPF, DKIM, DMARC and autodiscover records")),
    ("dns-dkim", Phase.DNS, N_("Publish the new provider's DKIM key before the cutover")),
    ("dns-spf", Phase.DNS, N_("Add the new provider to SPF, keeping the old one during the transition")),
    ("dns-mx", Phase.DNS, N_("Switch the MX records to the new provider at the planned time")),
    ("dns-watch", Phase.DNS, N_("Watch propagation until every resolver serves the new MX")),
    ("dns-autodiscover", Phase.DNS, N_("Point autodiscover/autoconfig and SRV records at the new provider")),
    ("acct-create", Phase.ACCOUNTS, N_("Create every user on the new platform with the same address")),
    ("acct-aliases", Phase.ACCOUNTS, N_("Recreate aliases, groups and shared mailboxes")),
    ("acct-passwords", Phase.ACCOUNTS, N_("Hand out new passwords privately (never in bulk mail or chat)")),
    ("acct-prestage", Phase.ACCOUNTS, N_("Pre-stage copy old → new while MX still points at the old provider")),
    ("acct-delta", Phase.ACCOUNTS, N_("Run the delta copy after the cutover for mail that still reached the old side")),
    ("test-pilots", Phase.TESTING, N_("Choose pilot users from several departments")),
    ("test-send-receive", Phase.TESTING, N_("Pilots send and receive internal and external mail")),
    ("test-clients", Phase.TESTING, N_("Test webmail, desktop clients and phones with the new settings")),
    ("test-spam", Phase.TESTING, N_("Check mail to big providers is not marked as spam (SPF/DKIM/DMARC pass)")),
    ("test-widen", Phase.TESTING, N_("Fix what the pilots found, then widen to everyone")),
    ("live-trial", Phase.GO_LIVE, N_("Run the trial period and collect feedback")),
    ("live-drain", Phase.GO_LIVE, N_("Keep the old provider running until no resolver serves the old MX")),
    ("live-final-delta", Phase.GO_LIVE, N_("Run the final delta copy and verify every user")),
    ("live-remind", Phase.GO_LIVE, N_("Remind staff of the new settings and the switch-off date")),
    ("live-close-old", Phase.GO_LIVE, N_("Close the old system and end its contract")),
    ("after-newcomers", Phase.AFTERCARE, N_("Help newcomers and stragglers set up their clients")),
    ("after-health", Phase.AFTERCARE, N_("Watch deliverability, quotas and the new system's performance")),
    ("after-dmarc", Phase.AFTERCARE, N_("Tighten SPF (drop the old include) and DMARC once reports are clean")),
    ("after-archive", Phase.AFTERCARE, N_("Archive the backup according to the retention policy")),
]


def default_checklist() -> list[ChecklistItem]:
    return [ChecklistItem(id=i, phase=p, title=_(t)) for i, p, t in DEFAULT_ITEMS]


def new_item_id(project: Project, phase: Phase, title: str) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:24] or "item"
    stem = f"{phase.value}-{base}"
    taken = {c.id for c in project.checklist}
    candidate, n = stem, 2
    while candidate in taken:
        candidate, n = f"{stem}-{n}", n + 1
    return candidate


def check_title(project: Project, title: str, item_id: str | None = None) -> str:
    """`title`, stripped; ValueError if it is empty or another item already has it (two items that read
    the same cannot be told apart when one is ticked)."""
    title = title.strip()
    if not title:
        raise ValueError(_("a checklist item needs a title"))
    key = " ".join(title.casefold().split())
    for other in project.checklist:
        if other.id != item_id and " ".join(other.title.casefold().split()) == key:
            raise ValueError(_("there is already a checklist item “{title}” ({phase}); give this one another title")
                             .format(title=other.title, phase=other.phase.label))
    return title


def duplicate_titles(project: Project) -> list[str]:
    """Titles used by more than one item (a hand-edited file may have them): for a warning."""
    seen: dict[str, str] = {}
    dupes: list[str] = []
    for item in project.checklist:
        key = " ".join(item.title.casefold().split())
        if key in seen and item.title not in dupes:
            dupes.append(item.title)
        seen[key] = item.title
    return dupes


def add_item(project: Project, phase: Phase, title: str, *, owner: str = "", due: date | None = None,
             note: str = "", after: str | None = None) -> ChecklistItem:
    title = check_title(project, title)
    item = ChecklistItem(new_item_id(project, phase, title), phase, title, owner=owner, due=due, note=note)
    position = len(project.checklist)
    if after is not None:
        position = next((i + 1 for i, c in enumerate(project.checklist) if c.id == after), position)
    else:
        # keep the phase's items together: insert after the phase's last item
        for i, c in enumerate(project.checklist):
            if c.phase.number <= phase.number:
                position = i + 1
    project.checklist.insert(position, item)
    project.log(_("added checklist item “{title}”").format(title=title))
    touch_phase(project, phase)
    return item


def set_done(project: Project, item_id: str, done: bool) -> ChecklistItem:
    item = project.item(item_id)
    item.done = done
    if done:
        item.done_by, item.done_at = current_operator(), now()
        project.log(_("ticked “{title}”").format(title=item.title))
    else:
        item.done_by, item.done_at = "", None
        project.log(_("unticked “{title}”").format(title=item.title))
    touch_phase(project, item.phase)
    return item


def toggle(project: Project, item_id: str) -> ChecklistItem:
    return set_done(project, item_id, not project.item(item_id).done)


def edit_item(project: Project, item_id: str, *, title: str, owner: str, due: date | None, note: str) -> ChecklistItem:
    title = check_title(project, title, item_id)
    item = project.item(item_id)
    item.title, item.owner, item.due, item.note = title, owner.strip(), due, note
    project.log(_("edited “{title}”").format(title=item.title))
    return item


def delete_item(project: Project, item_id: str) -> ChecklistItem:
    item = project.item(item_id)
    project.checklist.remove(item)
    project.log(_("deleted “{title}”").format(title=item.title))
    return item


def move_item(project: Project, item_id: str, offset: int) -> bool:
    """Move an item up (-1) or down (+1) among its phase's items; False if it is already at the end."""
    item = project.item(item_id)
    same_phase = [i for i, c in enumerate(project.checklist) if c.phase == item.phase]
    here = same_phase.index(project.checklist.index(item))
    there = here + offset
    if not 0 <= there < len(same_phase):
        return False
    a, b = same_phase[here], same_phase[there]
    project.checklist[a], project.checklist[b] = project.checklist[b], project.checklist[a]
    return True


def touch_phase(project: Project, phase: Phase) -> None:
    """Derive a phase's status from its checklist unless the user has marked it blocked. A ticked
    checklist makes the phase done only when its facts (core/facts.py, from the project file) say done
    too: ticking boxes is not evidence that a backup was verified."""
    from mailmig_tui.core.facts import FactStatus, derive_one

    if project.phases[phase] == PhaseStatus.BLOCKED:
        return
    items = project.items_for(phase)
    done = sum(1 for c in items if c.done)
    if items and done == len(items) and derive_one(project, phase).status == FactStatus.DONE:
        project.phases[phase] = PhaseStatus.DONE
    elif done or project.phases[phase] == PhaseStatus.DONE:
        project.phases[phase] = PhaseStatus.IN_PROGRESS


@dataclass(frozen=True)
class Progress:
    done: int
    total: int

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0


def progress(project: Project, phase: Phase | None = None) -> Progress:
    items = project.checklist if phase is None else project.items_for(phase)
    return Progress(sum(1 for c in items if c.done), len(items))


FILTERS = ("all", "undone", "overdue")


def filtered(items: list[ChecklistItem], mode: str, today: date) -> list[ChecklistItem]:
    if mode == "undone":
        return [c for c in items if not c.done]
    if mode == "overdue":
        return [c for c in items if c.is_overdue(today)]
    return list(items)
