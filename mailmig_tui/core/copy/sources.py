"""Where the copy reads mail from: the old provider over IMAP, or the local backup (Maildir + index).

Both give the same thing: folders (as the old server listed them), each folder's UIDVALIDITY and its
messages' metadata, then bodies in batches as `Body` objects (sha256, size, Message-ID and a way to
open the bytes). Keys are the old server's own (folder name, UIDVALIDITY, UID), which the backup
index records too, so the identity map does not care which source a message came from.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from imapclient import IMAPClient

from mailmig_tui.core.backup.index import Index
from mailmig_tui.core.backup.maildir import message_id
from mailmig_tui.core.copy.folders import SourceFolder, decode_name
from mailmig_tui.core.i18n import _
from mailmig_tui.core.imap.fetch import Meta, stream_fetch, uid_set
from mailmig_tui.core.imap.listing import FolderStatus, list_status
from mailmig_tui.core.imap.session import FatalUserError

SPOOL_IN_MEMORY = 256 << 10  # a body up to 256 KiB stays in memory; bigger ones roll over to a temp file


@dataclass(slots=True)
class SourceMsg:
    uid: int
    size: int
    flags: tuple[str, ...]  # sorted, without \Recent
    internaldate: datetime | None
    sha256: str = ""  # known up front for the archive
    path: str = ""  # archive file (absolute)
    date_raw: bytes = b""  # INTERNALDATE as the source server sent it (APPENDed as is), b"" from the archive


class Body:
    """One message's bytes ready to send: in memory or a temp file (SpooledTemporaryFile), or a file."""

    def __init__(self, sha256: str, size: int, msgid: str, spool: Any = None, path: str = "") -> None:
        self.sha256 = sha256
        self.size = size
        self.message_id = msgid
        self._spool = spool
        self._path = path
        self.close_after_send = bool(path)

    def open(self) -> IO[bytes]:
        if self._spool is not None:
            self._spool.seek(0)
            return self._spool
        return open(self._path, "rb")

    def close(self) -> None:
        if self._spool is not None:
            with contextlib.suppress(Exception):
                self._spool.close()
            self._spool = None


class HashSink:
    """A writer that hashes (and optionally keeps, in a spooled temp file) what it receives."""

    def __init__(self, spool_dir: str | None = None, keep: bool = True) -> None:
        self.sha = hashlib.sha256()
        self.size = 0
        self.head = b""
        self._head_done = False
        self.spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY, dir=spool_dir) if keep else None  # noqa: SIM115

    def write(self, data: bytes) -> None:
        if self.spool is not None:
            self.spool.write(data)
        self.sha.update(data)
        self.size += len(data)
        if not self._head_done:
            self.head += data[:65536]
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                end = self.head.find(b"\n\n")
            if end >= 0 or len(self.head) >= 65536:
                self.head = self.head[: end if end >= 0 else 65536]
                self._head_done = True

    def message_id(self) -> str:
        return message_id(self.head)


def norm_flags(flags: Any) -> tuple[str, ...]:
    # \Recent belongs to the server session, not the message: it cannot be set, so it is not copied.
    out = (f.decode("utf-8", "replace") if isinstance(f, bytes) else str(f) for f in flags)
    return tuple(sorted({f for f in out if f and f.lower() != "\\recent"}))


def personal_prefix(client: IMAPClient) -> tuple[str, str]:
    """(prefix, separator) of the personal namespace ("", "") when the server has no NAMESPACE."""
    try:
        ns = client.namespace()
    except Exception:
        return "", ""
    personal = ns.personal or ()
    if not personal:
        return "", ""
    prefix, sep = personal[0]
    prefix_s = prefix.decode() if isinstance(prefix, bytes) else str(prefix or "")
    sep_s = sep.decode() if isinstance(sep, bytes) else str(sep or "")
    return prefix_s, sep_s


def list_source_folders(client: IMAPClient, statuses: dict[bytes, FolderStatus] | None = None) -> list[SourceFolder]:
    """Every folder, and (into `statuses`) its STATUS from the same LIST-STATUS round trip."""
    prefix, _sep = personal_prefix(client)
    out = []
    for st in list_status(client):
        lowered = frozenset(f.decode("utf-8", "replace").lower() for f in st.flags)
        out.append(SourceFolder(st.raw, decode_name(st.raw), st.delimiter, lowered, prefix))
        if statuses is not None and st.selectable:
            statuses[st.raw] = st
    return out


class OldServerSource:
    kind = "old"

    def __init__(self, client: IMAPClient, spool_dir: str) -> None:
        self.client = client
        self.spool_dir = spool_dir
        self.dirty = False  # inside a FETCH whose reply was not read to the end
        self.statuses: dict[bytes, FolderStatus] = {}  # raw name -> STATUS when folders() listed it

    def folders(self) -> list[SourceFolder]:
        self.statuses = {}
        return list_source_folders(self.client, self.statuses)

    def open_folder(self, folder: SourceFolder) -> tuple[int, int]:
        info = self.client.select_folder(folder.raw, readonly=True)
        return int(info[b"UIDVALIDITY"]), int(info.get(b"EXISTS", 0))

    def metadata(self, exists: int) -> list[SourceMsg]:
        out: list[SourceMsg] = []
        if exists:
            self.dirty = True
            stream_fetch(self.client, "1:*", "(UID RFC822.SIZE FLAGS INTERNALDATE)",
                         on_message=lambda m, _w: out.append(SourceMsg(m.uid, m.size, norm_flags(m.flags), m.internaldate,
                                                                       date_raw=m.append_date)) if m.uid else None)
            self.dirty = False
        out.sort(key=lambda m: m.uid)
        return out

    def bodies(self, msgs: list[SourceMsg]) -> dict[int, Body]:
        """Fetch the bodies of `msgs` in one streamed UID FETCH (each into a spooled temp file)."""
        got: dict[int, Body] = {}
        current: list[HashSink] = []

        def open_body() -> HashSink:
            sink = HashSink(self.spool_dir)
            current.append(sink)
            return sink

        def on_message(meta: Meta, writer: Any) -> None:
            if writer is None or not current:
                return
            sink = current.pop()
            if meta.uid:
                got[meta.uid] = Body(sink.sha.hexdigest(), sink.size, sink.message_id(), spool=sink.spool)
            elif sink.spool is not None:
                sink.spool.close()

        self.dirty = True
        try:
            stream_fetch(self.client, uid_set(sorted(m.uid for m in msgs)), "(UID BODY.PEEK[])",
                         open_body=open_body, on_message=on_message)
            self.dirty = False
        except BaseException:
            for body in got.values():
                body.close()
            for sink in current:
                if sink.spool is not None:
                    sink.spool.close()
            raise
        return got


class ArchiveSource:
    """The local backup: folders and rows from its index, bodies from its Maildir files."""

    kind = "archive"

    def __init__(self, dest: Path, user: str) -> None:
        self.dest = dest
        self.user = user
        if not (dest / "index.sqlite").exists():
            raise FatalUserError(_("no backup archive at {dest} (run `mailmig backup` first, or copy with --source old)").format(dest=dest))
        self.index = Index(dest / "index.sqlite")
        self._rows: dict[bytes, int] = {}
        self.dirty = False
        self.current: SourceFolder | None = None
        self.corrupt: list[str] = []

    def close(self) -> None:
        self.index.close()

    def folders(self) -> list[SourceFolder]:
        rows = self.index.folders(self.user)
        if not rows:
            raise FatalUserError(_("the backup archive has nothing for this user (run `mailmig backup` first)"))
        out = []
        for f in rows:
            self._rows[f.raw_name] = f.uidvalidity
            out.append(SourceFolder(f.raw_name, f.name, f.delimiter, frozenset() if f.selectable else frozenset({"\\noselect"})))
        out.sort(key=lambda f: (f.name.upper() != "INBOX", f.raw))
        return out

    def open_folder(self, folder: SourceFolder) -> tuple[int, int]:
        self.current = folder
        uidvalidity = self._rows.get(folder.raw, 0)
        return uidvalidity, -1

    def metadata(self, exists: int) -> list[SourceMsg]:
        assert self.current is not None
        uidvalidity = self._rows.get(self.current.raw, 0)
        out = []
        for r in self.index.rows(self.user, self.current.raw, uidvalidity):
            try:
                when: datetime | None = datetime.fromisoformat(r.internaldate)
            except ValueError:
                when = None
            out.append(SourceMsg(r.uid, r.size, norm_flags(r.flags.split()), when, r.sha256, str(self.dest / r.path)))
        out.sort(key=lambda m: m.uid)
        return out

    def bodies(self, msgs: list[SourceMsg]) -> dict[int, Body]:
        """Each file checked against the sha256 its backup recorded (a damaged file is not copied)."""
        got: dict[int, Body] = {}
        for m in msgs:
            sink = HashSink(keep=False)
            try:
                with open(m.path, "rb") as handle:
                    while chunk := handle.read(1 << 20):
                        sink.write(chunk)
            except FileNotFoundError:
                self.corrupt.append(_("archive file missing: {path}").format(path=m.path))
                continue
            if sink.sha.hexdigest() != m.sha256:
                self.corrupt.append(_("archive file differs from its checksum: {path}").format(path=m.path))
                continue
            got[m.uid] = Body(m.sha256, sink.size, sink.message_id(), path=m.path)
        return got


def spool_dir_for(copy_dir: Path) -> str:
    path = copy_dir / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return str(path)


def clear_spool(copy_dir: Path) -> None:
    path = copy_dir / "tmp"
    if path.is_dir():
        for entry in os.scandir(path):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)


Opener = Callable[[], IO[bytes]]
