"""Every folder with its STATUS in one round trip: LIST … RETURN (STATUS …) (RFC 5819, LIST-STATUS).

An incremental run needs to know, per folder, whether anything changed since the last one: UIDVALIDITY
(renumbered?), UIDNEXT (new mail?), MESSAGES (expunges?) and, with CONDSTORE (RFC 7162), HIGHESTMODSEQ
(any flag change at all). Servers without LIST-STATUS get a LIST and one STATUS per folder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from imapclient import IMAPClient
from imapclient.response_parser import parse_response
from imapclient.util import to_bytes

STATUS_ITEMS = ("MESSAGES", "UIDNEXT", "UIDVALIDITY")


@dataclass(slots=True)
class FolderStatus:
    flags: tuple[bytes, ...]
    delimiter: str
    raw: bytes  # the name exactly as listed (modified UTF-7)
    messages: int = -1
    uidnext: int = 0
    uidvalidity: int = 0
    highestmodseq: int = 0  # 0: the server has no CONDSTORE

    @property
    def selectable(self) -> bool:
        lowered = {f.lower() for f in self.flags}
        return b"\\noselect" not in lowered and b"\\nonexistent" not in lowered


def capabilities(client: IMAPClient) -> set[bytes]:
    return {c.upper() for c in client.capabilities()}


def list_status(client: IMAPClient) -> list[FolderStatus]:
    caps = capabilities(client)
    items = STATUS_ITEMS + (("HIGHESTMODSEQ",) if b"CONDSTORE" in caps else ())
    what = "(" + " ".join(items) + ")"
    if b"LIST-STATUS" in caps:
        imap = client._imap
        typ, data = imap._simple_command("LIST", '""', '"*"', "RETURN", f"(STATUS {what})")
        client._checkok("list", typ, data)
        _typ, listed = imap._untagged_response(typ, data, "LIST")
        _typ, statuses = imap._untagged_response(typ, data, "STATUS")
        folders = _folders(listed)
        by_name = _statuses(statuses)
        for f in folders:
            _apply(f, by_name.get(f.raw))
        return folders
    folders = _folders(client._imap._untagged_response(*_list(client), "LIST")[1])
    for f in folders:
        if f.selectable:
            typ, data = client._imap._simple_command("STATUS", _quote(f.raw), what)
            client._checkok("status", typ, data)
            _typ, statuses = client._imap._untagged_response(typ, data, "STATUS")
            _apply(f, _statuses(statuses).get(f.raw))
    return folders


def _list(client: IMAPClient) -> tuple[str, list[bytes]]:
    typ, data = client._imap._simple_command("LIST", '""', '"*"')
    client._checkok("list", typ, data)
    return typ, data


def _quote(raw: bytes) -> bytes:
    return b'"' + raw.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


# The common shape of a LIST and a STATUS line is read with one regular expression: imapclient's general
# parser costs ~50 µs a line in pure Python, and a re-run reads two such lines per folder per user on
# both sides. A response the patterns do not fit (a literal, extended LIST data) goes to the general
# parser, alone: a bare numeric name (`007`, which Dovecot sends unquoted) would come back from it as
# the number 7.
_QUOTED = rb'"((?:[^"\\]|\\.)*)"'
_ATOM = rb"([^(){ \x00-\x1f\x7f%*\"\\]+)"  # astring characters (RFC 3501): Dovecot sends `INBOX`, `123` bare
_NAME = rb"(?:" + _QUOTED + rb"|" + _ATOM + rb")"
_LIST_LINE = re.compile(rb"\(([^()]*)\) (?:NIL|" + _QUOTED + rb") " + _NAME + rb"\Z", re.DOTALL)
_STATUS_LINE = re.compile(_NAME + rb" \(([A-Za-z0-9 ]*)\)\Z", re.DOTALL)
_UNESCAPE = re.compile(rb"\\(.)", re.DOTALL)

Untagged = list[bytes | tuple[bytes, bytes] | None]


def _unquote(text: bytes) -> bytes:
    return _UNESCAPE.sub(rb"\1", text) if b"\\" in text else text


def _name(quoted: bytes | None, atom: bytes | None) -> bytes | None:
    if quoted is not None:
        return _unquote(quoted)
    return None if atom is None or atom.upper() == b"NIL" else atom


def _responses(data: Untagged) -> list[list[bytes | tuple[bytes, bytes]]]:
    """imaplib's untagged data split into responses: a line, or (text, literal) pairs ended by the
    rest of the line after the last literal."""
    out: list[list[bytes | tuple[bytes, bytes]]] = []
    group: list[bytes | tuple[bytes, bytes]] = []
    for item in data:
        if item is None:
            continue
        group.append(item)
        if isinstance(item, bytes):
            if group != [b""]:
                out.append(group)
            group = []
    if group:
        out.append(group)
    return out


def _general(group: list[bytes | tuple[bytes, bytes]]) -> tuple[Any, ...]:
    return tuple(parse_response([item for item in group if item != b""]))


def _folders(data: Untagged) -> list[FolderStatus]:
    out = []
    for group in _responses(data):
        m = _LIST_LINE.match(group[0]) if len(group) == 1 and isinstance(group[0], bytes) else None
        name = _name(*m.groups()[2:]) if m else None
        if m and name is not None:
            flags, delim = m.group(1), m.group(2)
            out.append(FolderStatus(tuple(flags.split()), _unquote(delim).decode() if delim is not None else "", name))
            continue
        parsed = _general(group)
        for i in range(0, len(parsed) - 2, 3):
            pflags, pdelim, pname = parsed[i], parsed[i + 1], parsed[i + 2]
            raw = to_bytes(str(pname)) if isinstance(pname, int) else bytes(pname)
            delimiter = pdelim.decode() if isinstance(pdelim, bytes) else (pdelim or "")
            out.append(FolderStatus(tuple(pflags), delimiter, raw))
    return out


def _statuses(data: Untagged) -> dict[bytes, dict[bytes, int]]:
    out: dict[bytes, dict[bytes, int]] = {}
    for group in _responses(data):
        m = _STATUS_LINE.match(group[0]) if len(group) == 1 and isinstance(group[0], bytes) else None
        name = _name(m.group(1), m.group(2)) if m else None
        words = m.group(3).split() if m else []
        if m and name is not None and not len(words) % 2 and all(w.isdigit() for w in words[1::2]):
            out[name] = {words[j].upper(): int(words[j + 1]) for j in range(0, len(words), 2)}
            continue
        parsed = _general(group)
        for i in range(0, len(parsed) - 1, 2):
            pname, values = parsed[i], parsed[i + 1]
            raw = to_bytes(str(pname)) if isinstance(pname, int) else bytes(pname)
            pairs = list(values)
            out[raw] = {bytes(pairs[j]).upper(): int(pairs[j + 1]) for j in range(0, len(pairs) - 1, 2)}
    return out


def _apply(f: FolderStatus, status: dict[bytes, int] | None) -> None:
    if not status:
        return
    f.messages = status.get(b"MESSAGES", -1)
    f.uidnext = status.get(b"UIDNEXT", 0)
    f.uidvalidity = status.get(b"UIDVALIDITY", 0)
    f.highestmodseq = status.get(b"HIGHESTMODSEQ", 0)
