"""The mail-present check: the user's folders and message counts on the new side against the source, and
the newest source messages (the delta) found on the new side by Message-ID.

Folders are mapped by name (levels re-joined with the target's separator) and special-use role
(\\Sent, \\Drafts, \\Trash, \\Junk, \\Archive by flag or common name).
"""

from __future__ import annotations

from imapclient import IMAPClient
from imapclient.imap_utf7 import decode as decode_utf7

from mailmig_tui.core.i18n import _
from mailmig_tui.core.matrix.checks import FAILED, PASSED
from mailmig_tui.core.matrix.probes import HEADER

ROLE_NAMES: dict[str, tuple[str, ...]] = {
    "\\sent": ("sent", "sent items", "sent messages", "sent mail", "已发送", "已发送邮件"),
    "\\drafts": ("drafts", "draft", "草稿箱", "草稿"),
    "\\trash": ("trash", "deleted items", "deleted messages", "已删除", "已删除邮件"),
    "\\junk": ("junk", "spam", "junk e-mail", "垃圾邮件"),
    "\\archive": ("archive", "archives", "归档"),
}


def _name(raw: bytes | str) -> str:
    if isinstance(raw, str):
        return raw
    try:
        return str(decode_utf7(raw))
    except Exception:
        return raw.decode("utf-8", "replace")


def _role(flags: tuple[bytes, ...], parts: list[str]) -> str:
    lowered = {f.decode("ascii", "replace").lower() if isinstance(f, bytes) else str(f).lower() for f in flags}
    for role in ROLE_NAMES:
        if role in lowered:
            return role
    if len(parts) == 1:
        for role, names in ROLE_NAMES.items():
            if parts[0].lower() in names:
                return role
    return ""


def _folders(client: IMAPClient) -> list[tuple[bytes | str, str, list[str], str, bool]]:
    """(raw, decoded, parts, role, selectable) per folder."""
    out = []
    for flags, delimiter, raw in client.list_folders():
        sep = delimiter.decode() if isinstance(delimiter, bytes) else (delimiter or "")
        name = _name(raw)
        parts = name.split(sep) if sep else [name]
        lowered = {f.lower() if isinstance(f, bytes) else str(f).lower().encode() for f in flags}
        selectable = not ({b"\\noselect", b"\\nonexistent"} & lowered)
        out.append((raw, name, parts, _role(flags, parts), selectable))
    return out


def _count(client: IMAPClient, raw: bytes | str) -> int:
    status = client.folder_status(raw, ["MESSAGES"])
    return int(status.get(b"MESSAGES", 0))


def compare(source: IMAPClient, target: IMAPClient, newest: int) -> tuple[str, str, dict[str, str]]:
    """(status, reason, details) comparing the source mailbox with the target's."""
    src = [f for f in _folders(source) if f[4]]
    dst = [f for f in _folders(target) if f[4]]
    by_parts = {tuple(p.upper() if i == 0 and p.upper() == "INBOX" else p for i, p in enumerate(f[2])): f for f in dst}
    by_role = {f[3]: f for f in dst if f[3]}
    problems: list[str] = []
    compared = 0
    inbox_target: bytes | str | None = None
    for raw, name, parts, role, _sel in src:
        key = tuple(p.upper() if i == 0 and p.upper() == "INBOX" else p for i, p in enumerate(parts))
        match = by_parts.get(key) or (by_role.get(role) if role else None)
        want = _count(source, raw)
        if match is None:
            if want:
                problems.append(_("{folder}: missing on the new side ({n} messages)").format(folder=name, n=want))
            continue
        if key == ("INBOX",):
            inbox_target = match[0]
        have = _count(target, match[0])
        compared += 1
        if have < want:
            problems.append(_("{folder}: {have} of {want} messages").format(folder=name, have=have, want=want))
    details = {"folders": str(len(src)), "compared": str(compared)}
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
