"""Staff notices (announcement, cutover reminder, go-live notice) from editable templates.

A template is a subject line, a blank line and a body, with `$placeholders` filled from the project
(string.Template, so a stray `{` or `%` a user types is harmless). A project may override any template in
its [notices] table. Notices can be exported as .eml files for any mail client to send.
"""

from __future__ import annotations

import email.policy
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from string import Template

from mailmig_tui.core.i18n import N_, _
from mailmig_tui.core.model import PLAN_KEYS, Project, User, now
from mailmig_tui.core.plan import fmt

NOTICE_KINDS = ("announcement", "cutover_reminder", "go_live")
NOTICE_LABELS = {
    "announcement": N_("Announcement"),
    "cutover_reminder": N_("Cutover reminder"),
    "go_live": N_("Go-live notice"),
}

DEFAULT_TEMPLATES = {
    "announcement": N_(
        "Subject: Our email is moving to $new_provider\n"
        "\n"
        "Dear colleagues,\n"
        "\n"
        "Our company email ($domain) is moving from $old_provider to $new_provider.\n"
        "Your address stays the same. Key dates:\n"
        "\n"
        "  - Mail switches to the new system: $mx_cutover\n"
        "  - The new system becomes official: $go_live\n"
        "  - The old system is switched off: $old_provider_off\n"
        "\n"
        "Please do not move, rename or delete folders between $backup_start and $mx_cutover.\n"
        "You will receive your new password privately; never share it by email or chat.\n"
        "\n"
        "IT department\n"
    ),
    "cutover_reminder": N_(
        "Subject: Reminder: email switches to $new_provider on $mx_cutover\n"
        "\n"
        "Dear colleagues,\n"
        "\n"
        "At $mx_cutover our email ($domain) switches to $new_provider.\n"
        "For a few hours some mail may still arrive in the old mailbox; it will be copied over.\n"
        "\n"
        "New settings:\n"
        "  Webmail: $new_webmail\n"
        "  IMAP:    $new_imap\n"
        "  SMTP:    $new_smtp\n"
        "\n"
        "IT department\n"
    ),
    "go_live": N_(
        "Subject: Our new email system is live\n"
        "\n"
        "Dear colleagues,\n"
        "\n"
        "Since $go_live all mail for $domain is handled by $new_provider.\n"
        "Sign in at $new_webmail. Phone and desktop clients use:\n"
        "  IMAP: $new_imap\n"
        "  SMTP: $new_smtp\n"
        "\n"
        "The old system will be switched off on $old_provider_off.\n"
        "If something does not work, reply to this message.\n"
        "\n"
        "IT department\n"
    ),
}


@dataclass(frozen=True)
class Notice:
    kind: str
    subject: str
    body: str


def template_for(project: Project, kind: str) -> str:
    return project.notices.get(kind) or _(DEFAULT_TEMPLATES[kind])


def placeholders(project: Project) -> dict[str, str]:
    values = {
        "domain": project.domain,
        "old_provider": project.old.name or project.old.preset,
        "new_provider": project.new.name or project.new.preset,
        "new_webmail": project.new.webmail or "—",
        "new_imap": project.new.imap.describe(),
        "new_smtp": project.new.smtp.describe(),
        "user_count": str(len(project.users)),
    }
    for key, when in project.plan.dates.items():
        values[key] = fmt(when) if when else _("(date to be announced)")
    return values


# Filled per recipient when a notice is sent by mail (`mailmig notices send`); in an exported .eml or
# the preview they stay as they are, for the sender to fill.
USER_PLACEHOLDERS = ("name", "email", "new_login", "old_login", "department")


def user_placeholders(user: User) -> dict[str, str]:
    return {"name": user.display_name or user.email.split("@")[0], "email": user.email,
            "new_login": user.effective_new_login, "old_login": user.effective_old_login,
            "department": user.department}


PLACEHOLDER_NAMES = ("domain", "old_provider", "new_provider", "new_webmail", "new_imap", "new_smtp", "user_count",
                     *PLAN_KEYS, *USER_PLACEHOLDERS)


def template_problems(template: str) -> list[str]:
    """What is wrong with a notice template: no `Subject:` first line, or `$names` nobody fills in (they
    would reach staff as a literal `$mx_cutovr`)."""
    problems: list[str] = []
    first = template.lstrip("\n").partition("\n")[0]
    if not first.lower().startswith("subject:") or not first.split(":", 1)[1].strip():
        problems.append(_("the first line must be the subject: “Subject: …”"))
    unknown: list[str] = []
    for match in Template.pattern.finditer(template):
        name = match.group("named") or match.group("braced")
        if name and name not in PLACEHOLDER_NAMES and name not in unknown:
            unknown.append(name)
    if unknown:
        problems.append(_("unknown placeholder(s) {names} (known: {known}; write $$ for a dollar sign)").format(
            names=", ".join("$" + n for n in unknown), known=" ".join("$" + n for n in PLACEHOLDER_NAMES)))
    return problems


def check_template(kind: str, template: str) -> str:
    """`template`, or ValueError naming the notice and every problem."""
    problems = template_problems(template)
    if problems:
        raise ValueError(_("the {notice} template is not saved: {problems}").format(
            notice=_(NOTICE_LABELS[kind]), problems="; ".join(problems)))
    return template


def render(project: Project, kind: str, template: str | None = None, user: User | None = None) -> Notice:
    values = placeholders(project)
    if user is not None:
        values.update(user_placeholders(user))
    text = Template(template if template is not None else template_for(project, kind)).safe_substitute(values)
    subject, body = "", text
    first, _sep, rest = text.partition("\n")
    if first.lower().startswith("subject:"):
        subject, body = first.split(":", 1)[1].strip(), rest.lstrip("\n")
    return Notice(kind, subject or _(NOTICE_LABELS[kind]), body)


def to_eml(project: Project, notice: Notice) -> bytes:
    message = EmailMessage(policy=email.policy.SMTP)
    message["Subject"] = notice.subject
    message["From"] = f"it@{project.domain}"
    message["To"] = f"all-staff@{project.domain}"
    message["Date"] = format_datetime(now())
    message["Message-ID"] = make_msgid(domain=project.domain)
    message["X-Unsent"] = "1"  # Outlook and Thunderbird open it as a draft ready to send
    message.set_content(notice.body, charset="utf-8")
    return message.as_bytes()


def default_folder(project_path: Path) -> Path:
    """Where notices are exported unless told otherwise: `notices/` beside the project file."""
    return project_path.absolute().parent / "notices"


def project_template_problems(project: Project) -> dict[str, list[str]]:
    """The project's own templates (from the file, maybe hand-edited) that have problems."""
    out = {}
    for kind, text in project.notices.items():
        if kind in NOTICE_LABELS and (problems := template_problems(text)):
            out[kind] = problems
    return out


def export_all(project: Project, folder: Path) -> list[Path]:
    """Write every notice; ValueError (nothing written) if one of the project's templates has problems."""
    for kind, text in project.notices.items():
        if kind in NOTICE_LABELS:
            check_template(kind, text)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for kind in NOTICE_KINDS:
        target = folder / f"{project.domain}-{kind}.eml"
        target.write_bytes(to_eml(project, render(project, kind)))
        written.append(target)
    return written
