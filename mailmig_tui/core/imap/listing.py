"""Every folder with its STATUS in one round trip: LIST … RETURN (STATUS …) (RFC 5819, LIST-STATUS).

An incremental run needs to know, per folder, whether anything changed since the last one: UIDVALIDITY
(renumbered?), UIDNEXT (new mail?), MESSAGES (expunges?) and, with CONDSTORE (RFC 7162), HIGHESTMODSEQ
(any flag change at all). Servers without LIST-STATUS get a LIST and one STATUS per folder.
"""

from __future__ import annotations

from dataclasses import dataclass

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


def _folders(data: list[bytes | tuple[bytes, bytes] | None]) -> list[FolderStatus]:
    items = [d for d in data if d not in (b"", None)]
    parsed = parse_response(items)
    out = []
    for i in range(0, len(parsed) - 2, 3):
        flags, delim, name = parsed[i], parsed[i + 1], parsed[i + 2]
        raw = to_bytes(str(name)) if isinstance(name, int) else bytes(name)
        delimiter = delim.decode() if isinstance(delim, bytes) else (delim or "")
        out.append(FolderStatus(tuple(flags), delimiter, raw))
    return out


def _statuses(data: list[bytes | tuple[bytes, bytes] | None]) -> dict[bytes, dict[bytes, int]]:
    items = [d for d in data if d not in (b"", None)]
    parsed = parse_response(items)
    out: dict[bytes, dict[bytes, int]] = {}
    for i in range(0, len(parsed) - 1, 2):
        name, values = parsed[i], parsed[i + 1]
        raw = to_bytes(str(name)) if isinstance(name, int) else bytes(name)
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
