"""A streaming APPEND: message bodies go from a file to the socket in 1 MiB pieces.

imapclient's append() wants the whole message in memory. Here each message is a literal written in
pieces from an open file, several messages go in one command where the server has MULTIAPPEND
(RFC 3502, atomic: all or none), with LITERAL+ (RFC 7888) no round trip is spent waiting for the
continuation, and the APPENDUID response code (UIDPLUS, RFC 4315) gives the new UIDs. The session stays
imapclient's: we write on its socket and read its buffered reader up to the tagged reply.
"""

from __future__ import annotations

import imaplib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from imapclient import IMAPClient

from mailmig_tui.core.imap.fetch import MAX_LINE, PIECE

_APPENDUID = re.compile(rb"\[APPENDUID (\d+) ([0-9:,]+)\]", re.IGNORECASE)
_ATOM_BAD = re.compile(r"[\x00-\x20(){%*\"\]\x7f]")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass
class Outgoing:
    size: int
    flags: tuple[str, ...]
    internaldate: datetime | None
    open: Callable[[], IO[bytes]]  # a file positioned at the message's first byte
    close_after: bool = True  # close what open() returned once sent (False: the caller owns it)
    date_text: bytes = b""  # INTERNALDATE exactly as the source server sent it (used before `internaldate`)


class AppendFailed(Exception):
    """The server answered NO or BAD (the session is still usable); `text` is its reply."""


@dataclass
class Capabilities:
    multiappend: bool
    literal_plus: bool
    literal_minus: bool
    uidplus: bool

    @classmethod
    def of(cls, client: IMAPClient) -> Capabilities:
        caps = {c.upper() for c in client.capabilities()}
        return cls(b"MULTIAPPEND" in caps, b"LITERAL+" in caps, b"LITERAL-" in caps, b"UIDPLUS" in caps)

    def non_sync(self, size: int) -> bool:
        return self.literal_plus or (self.literal_minus and size <= 4096)


def imap_date(when: datetime) -> str:
    offset = when.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "-" if minutes < 0 else "+"
    minutes = abs(minutes)
    return (f"{when.day:02d}-{MONTHS[when.month - 1]}-{when.year:04d} {when.hour:02d}:{when.minute:02d}:{when.second:02d} "
            f"{sign}{minutes // 60:02d}{minutes % 60:02d}")


def valid_flag(flag: str) -> bool:
    body = flag[1:] if flag.startswith("\\") else flag
    return bool(body) and not _ATOM_BAD.search(body) and "\\" not in body and flag.isascii()


def quote(raw: bytes) -> bytes:
    return b'"' + raw.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def parse_uid_set(text: bytes) -> list[int]:
    out: list[int] = []
    for part in text.split(b","):
        if b":" in part:
            a, b = (int(x) for x in part.split(b":"))
            out.extend(range(min(a, b), max(a, b) + 1))
        elif part:
            out.append(int(part))
    return out


def append_messages(client: IMAPClient, mailbox: bytes, messages: list[Outgoing], caps: Capabilities
                    ) -> tuple[int, list[int]] | None:
    """APPEND `messages` (all in one command when MULTIAPPEND is there, else one command each).

    Returns (uidvalidity, uids in order) when the server said APPENDUID for all of them, else None.
    Raises AppendFailed on NO/BAD (with MULTIAPPEND nothing of that command was stored)."""
    if not messages:
        return None
    groups = [messages] if caps.multiappend else [[m] for m in messages]
    uidvalidity = 0
    uids: list[int] = []
    known = True
    for group in groups:
        result = _append_one_command(client, mailbox, group, caps)
        if result is None or len(result[1]) != len(group):
            known = False
            continue
        uidvalidity = result[0]
        uids.extend(result[1])
    return (uidvalidity, uids) if known and caps.uidplus else None


def _append_one_command(client: IMAPClient, mailbox: bytes, group: list[Outgoing], caps: Capabilities
                        ) -> tuple[int, list[int]] | None:
    imap = client._imap
    tag: bytes = imap._new_tag()
    sock_send = imap.send
    line = tag + b" APPEND " + quote(mailbox)
    for msg in group:
        flags = " ".join(f for f in msg.flags if valid_flag(f))
        line += b" (" + flags.encode() + b")"
        if msg.date_text:
            line += b' "' + msg.date_text + b'"'
        elif msg.internaldate is not None:
            line += b' "' + imap_date(msg.internaldate).encode() + b'"'
        sync = not caps.non_sync(msg.size)
        line += b" {" + str(msg.size).encode() + (b"}" if sync else b"+}") + b"\r\n"
        sock_send(line)
        if sync:
            _wait_continuation(imap, tag)
        _send_body(imap, msg)
        line = b""
    sock_send(b"\r\n")
    while True:
        reply = _readline(imap)
        if reply.startswith(tag + b" "):
            status = reply[len(tag) + 1:].split(b" ", 1)[0].upper()
            if status != b"OK":
                raise AppendFailed(reply.decode("utf-8", "replace").strip())
            m = _APPENDUID.search(reply)
            return (int(m.group(1)), parse_uid_set(m.group(2))) if m else None
        _skip_literal(imap, reply)


def _send_body(imap: imaplib.IMAP4, msg: Outgoing) -> None:
    sent = 0
    handle = msg.open()
    try:
        while sent < msg.size:
            piece = handle.read(min(PIECE, msg.size - sent))
            if not piece:
                raise OSError("the message file ended before its size")  # a transient error: retried
            imap.send(piece)
            sent += len(piece)
    finally:
        if msg.close_after:
            handle.close()


def _wait_continuation(imap: imaplib.IMAP4, tag: bytes) -> None:
    while True:
        reply = _readline(imap)
        if reply.startswith(b"+"):
            return
        if reply.startswith(tag + b" "):
            raise AppendFailed(reply.decode("utf-8", "replace").strip())
        _skip_literal(imap, reply)


def _skip_literal(imap: imaplib.IMAP4, line: bytes) -> None:
    m = re.search(rb"\{(\d+)\}\r\n$", line)
    if m:
        remaining = int(m.group(1))
        while remaining:
            piece = imap.file.read(min(remaining, PIECE))
            if not piece:
                raise imaplib.IMAP4.abort("the server closed the connection")
            remaining -= len(piece)


def _readline(imap: imaplib.IMAP4) -> bytes:
    reader: Any = imap.file
    line: bytes = reader.readline(MAX_LINE + 1)
    if not line:
        raise imaplib.IMAP4.abort("the server closed the connection")
    return line
