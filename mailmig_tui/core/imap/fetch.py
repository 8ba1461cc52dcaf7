"""A streaming UID FETCH: message bodies go from the socket to disk in 1 MiB pieces as they arrive.

imaplib (under imapclient) reads every literal of a response into memory and only then returns, so a
batch holds whole messages and each batch costs a round trip. Here one FETCH command covers many
messages, each body is written while it arrives, and the metadata (UID, size, INTERNALDATE, FLAGS) is
read from the response text around it. Memory stays bounded whatever the size of messages or folders,
and the connection never idles between batches. The session stays imapclient's: we write the command
on its socket and read its buffered reader up to the tagged reply, so it is in sync afterwards.
"""

from __future__ import annotations

import calendar
import imaplib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from imapclient import IMAPClient
from imapclient.datetime_util import parse_to_datetime

PIECE = 1 << 20
MAX_LINE = 1 << 20
_LITERAL = re.compile(rb"\{(\d+)\+?\}\r?\n$")
_UID = re.compile(rb"[( ]UID (\d+)")
_SIZE = re.compile(rb"[( ]RFC822\.SIZE (\d+)")
_DATE = re.compile(rb'[( ]INTERNALDATE "([^"]*)"')
_FLAGS = re.compile(rb"[( ]FLAGS \(([^)]*)\)")
_SEQ = re.compile(rb"^\* (\d+) FETCH ", re.IGNORECASE)
_DATE_PARTS = re.compile(rb"^ ?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)$")
_MONTHS = {m.encode().lower(): i for i, m in enumerate(calendar.month_abbr) if m}


class Writer(Protocol):
    def write(self, data: bytes) -> None: ...


@dataclass(slots=True)
class Meta:
    seq: int
    uid: int
    size: int
    date_raw: bytes  # INTERNALDATE as sent, b"" if absent
    flags_raw: bytes  # the FLAGS list's inside, as sent

    @property
    def flags(self) -> tuple[str, ...]:
        return tuple(f.decode("utf-8", "replace") for f in self.flags_raw.split())

    @property
    def internaldate(self) -> datetime | None:
        if not self.date_raw:
            return None
        quick = parse_internaldate(self.date_raw)
        try:
            if quick is not None:
                return datetime.fromisoformat(quick[1])
            return parse_to_datetime(self.date_raw, normalise=False)
        except ValueError:
            return None

    @property
    def append_date(self) -> bytes:
        """INTERNALDATE as sent when it is in the RFC 3501 form, ready for an APPEND; else b""."""
        return self.date_raw if _DATE_PARTS.match(self.date_raw) else b""

    def date(self) -> tuple[int, str] | None:
        """INTERNALDATE as (epoch seconds, ISO 8601 with the server's offset), without datetime objects."""
        return parse_internaldate(self.date_raw)


def parse_internaldate(raw: bytes) -> tuple[int, str] | None:
    """b"17-Jul-1996 02:44:25 -0700" -> (837596665, "1996-07-17T02:44:25-07:00"), as datetime.isoformat()
    would write it; None if it is not in the RFC 3501 form."""
    m = _DATE_PARTS.match(raw)
    if m is None:
        return None
    day, mon, year, hh, mm, ss, sign, oh, om = m.groups()
    month = _MONTHS.get(mon.lower())
    if month is None:
        return None
    d, y, h, mi, s, zh, zm = int(day), int(year), int(hh), int(mm), int(ss), int(oh), int(om)
    offset = (zh * 3600 + zm * 60) * (1 if sign == b"+" else -1)
    try:
        epoch = calendar.timegm((y, month, d, h, mi, s)) - offset
    except (ValueError, OverflowError):
        return None
    if not (1 <= d <= 31 and h < 24 and mi < 60 and s < 61):
        return None
    return epoch, f"{y:04d}-{month:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}{sign.decode()}{zh:02d}:{zm:02d}"


class FetchFailed(Exception):
    """The server answered NO or BAD to the FETCH (the session is still usable)."""


def uid_set(uids: list[int]) -> str:
    """[1,2,3,7,9,10] -> '1:3,7,9:10' (sorted input)."""
    out: list[str] = []
    start = prev = None
    for u in uids:
        if start is None:
            start = prev = u
        elif prev is not None and u == prev + 1:
            prev = u
        else:
            out.append(f"{start}:{prev}" if start != prev else str(start))
            start = prev = u
    if start is not None:
        out.append(f"{start}:{prev}" if start != prev else str(start))
    return ",".join(out)


def stream_fetch(client: IMAPClient, message_set: str, items: str, *, uid: bool = True,
                 open_body: Callable[[], Writer] | None = None,
                 on_message: Callable[[Meta, Writer | None], Any]) -> None:
    """Run `[UID] FETCH message_set items`; for each message call on_message(meta, body writer or None).

    `open_body` is called when a BODY[] literal starts; its writer receives the literal in pieces.
    Untagged responses other than FETCH (EXISTS, EXPUNGE, OK …) are ignored.
    """
    imap = client._imap
    tag: bytes = imap._new_tag()
    imap.send(tag + b" " + (b"UID " if uid else b"") + b"FETCH " + message_set.encode() + b" " + items.encode() + b"\r\n")
    reader = imap.file
    prefix = tag + b" "
    while True:
        line = _readline(reader)
        if line.startswith(prefix):
            status = line[len(prefix):].split(b" ", 1)[0].upper()
            if status != b"OK":
                raise FetchFailed(line.decode("utf-8", "replace").strip())
            return
        if not line.startswith(b"* "):
            continue
        seq_match = _SEQ.match(line)
        text = bytearray()
        writer: Writer | None = None
        while True:
            lit = _LITERAL.search(line)
            if lit is None:
                text += line
                break
            size = int(lit.group(1))
            before = line[: lit.start()]
            text += before
            if seq_match and open_body is not None and before.rstrip().upper().endswith(b"BODY[]"):
                writer = open_body()
                _copy(reader, size, writer)
            else:
                _copy(reader, size, None)  # a literal we did not ask to keep (skipped, never buffered whole)
            text += b'""'
            line = _readline(reader)
        if seq_match:
            on_message(_meta(int(seq_match.group(1)), bytes(text)), writer)


def _readline(reader: Any) -> bytes:
    line: bytes = reader.readline(MAX_LINE + 1)
    if not line:
        raise imaplib.IMAP4.abort("the server closed the connection")
    if len(line) > MAX_LINE:
        raise imaplib.IMAP4.abort("response line too long")
    return line


def _copy(reader: Any, size: int, writer: Writer | None) -> None:
    remaining = size
    while remaining:
        piece = reader.read(min(remaining, PIECE))
        if not piece:
            raise imaplib.IMAP4.abort("the server closed the connection in the middle of a message")
        if writer is not None:
            writer.write(piece)
        remaining -= len(piece)


def _meta(seq: int, text: bytes) -> Meta:
    uid = _UID.search(text)
    size = _SIZE.search(text)
    date = _DATE.search(text)
    flags = _FLAGS.search(text)
    return Meta(seq, int(uid.group(1)) if uid else 0, int(size.group(1)) if size else -1,
                date.group(1) if date else b"", flags.group(1) if flags else b"")
