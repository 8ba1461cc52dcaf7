"""The mail-present check: the user's folders and message counts on the new side against the source, and
the newest source messages (the delta) found on the new side by Message-ID.

Folders are mapped exactly as the copy engine maps them (core/copy/folders.py `plan_folders`: special-use
roles, namespace prefix and separator, `[copy]` excludes and overrides, reversible renames), so "present"
means present where `mailmig copy` put it.
"""

from __future__ import annotations

from imapclient import IMAPClient

from mailmig_tui.core.copy.config import CopyConfig
from mailmig_tui.core.copy.engine import list_target
from mailmig_tui.core.copy.folders import plan_folders
from mailmig_tui.core.copy.sources import list_source_folders
from mailmig_tui.core.i18n import _
from mailmig_tui.core.matrix.checks import FAILED, PASSED
from mailmig_tui.core.matrix.probes import HEADER


def _count(client: IMAPClient, raw: bytes | str) -> int:
    status = client.folder_status(raw, ["MESSAGES"])
    return int(status.get(b"MESSAGES", 0))


def compare(source: IMAPClient, target: IMAPClient, newest: int,
            config: CopyConfig | None = None) -> tuple[str, str, dict[str, str]]:
    """(status, reason, details) comparing the source mailbox with the target's."""
    plan = plan_folders(list_source_folders(source), list_target(target), config)
    existing = {f.raw for f in list_target(target).folders}
    problems: list[str] = []
    compared = 0
    inbox_target: bytes | None = None
    for mapping in plan:
        if mapping.action != "copy":
            continue
        want = _count(source, mapping.source_raw)
        if mapping.target_raw not in existing:
            if want:
                problems.append(_("{folder}: missing on the new side ({n} messages)").format(
                    folder=mapping.source_name, n=want))
            continue
        if mapping.source_name.upper() == "INBOX":
            inbox_target = mapping.target_raw
        have = _count(target, mapping.target_raw)
        compared += 1
        if have < want:
            problems.append(_("{folder}: {have} of {want} messages").format(folder=mapping.source_name, have=have,
                                                                            want=want))
    details = {"folders": str(sum(m.action == "copy" for m in plan)), "compared": str(compared)}
    if problems:
        more = _(" (and {n} more problems)").format(n=len(problems) - 1) if len(problems) > 1 else ""
        return FAILED, problems[0] + more, details
    missing = _newest_missing(source, target, inbox_target, newest)
    if missing:
        return FAILED, _("the newest source message {msgid} is not in the new INBOX (did the final delta run?)").format(
            msgid=missing), details
    return PASSED, _("{n} folders match; the newest {k} messages are there").format(n=compared, k=newest), details


def _newest_missing(source: IMAPClient, target: IMAPClient, inbox: bytes | str | None, newest: int) -> str:
    if newest <= 0:
        return ""
    source.select_folder("INBOX", readonly=True)
    uids = sorted(source.search(["NOT", "HEADER", HEADER, ""]))[-newest:]
    if not uids:
        return ""
    if inbox is None:
        return "INBOX"
    headers = source.fetch(uids, ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
    target.select_folder(inbox, readonly=True)
    for uid in reversed(uids):
        entry = headers.get(uid, {})
        raw = next((v for k, v in entry.items() if k.startswith(b"BODY[HEADER")), b"")
        msgid = raw.decode("utf-8", "replace").partition(":")[2].strip()
        if msgid and not target.search(["HEADER", "Message-ID", msgid]):
            return msgid
    return ""
