"""Writing messages into a Maildir folder: tmp/ then rename into cur/, flags in the file name, keywords
in `dovecot-keywords`, INTERNALDATE as the file's mtime (what Dovecot, mutt and Thunderbird read)."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import hashlib
import os
import re
from pathlib import Path

SYSTEM_FLAGS = {"\\draft": "D", "\\flagged": "F", "\\answered": "R", "\\seen": "S", "\\deleted": "T"}
FILENAME = re.compile(r"^(\d+)\.V(\d+)U(\d+)\.mailmig,S=(\d+)(?::2,([A-Za-z]*))?$")
_libc = None
with contextlib.suppress(OSError, TypeError):
    _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def syncfs(path: Path) -> None:
    """Make everything written on path's file system durable with one call (Linux syncfs), far cheaper
    than an fsync per message; falls back to sync() elsewhere."""
    fd = os.open(path, os.O_RDONLY)
    try:
        if _libc is not None and hasattr(_libc, "syncfs"):
            _libc.syncfs(fd)
        else:
            os.sync()
    finally:
        os.close(fd)


class MaildirFolder:
    def __init__(self, path: Path, is_subfolder: bool) -> None:
        self.path = path
        self.is_subfolder = is_subfolder
        self._keywords: dict[str, str] | None = None
        self._info: dict[tuple[str, ...], str] = {}
        # Plain strings for the per-message path work (pathlib objects cost more than the syscalls).
        self.tmp_dir = os.path.join(str(path), "tmp") + os.sep
        self.cur_dir = os.path.join(str(path), "cur") + os.sep

    def ensure(self) -> None:
        try:  # one listing answers for an existing folder (a re-run touches every folder)
            have = {e.name for e in os.scandir(self.path)}
        except FileNotFoundError:
            have = set()
        for sub in ("cur", "new", "tmp"):
            if sub not in have:
                (self.path / sub).mkdir(parents=True, exist_ok=True)
        if self.is_subfolder and "maildirfolder" not in have:
            (self.path / "maildirfolder").touch()

    def clear_tmp(self) -> None:
        for entry in os.scandir(self.path / "tmp"):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)

    # --- keywords ----------------------------------------------------------------------------

    def keywords(self) -> dict[str, str]:
        if self._keywords is None:
            self._keywords = {}
            with contextlib.suppress(FileNotFoundError):
                for line in (self.path / "dovecot-keywords").read_text(encoding="utf-8").splitlines():
                    num, _, word = line.partition(" ")
                    if num.isdigit() and word and int(num) < 26:
                        self._keywords[word] = chr(ord("a") + int(num))
        return self._keywords

    def _letter_for(self, keyword: str) -> str | None:
        kws = self.keywords()
        if keyword in kws:
            return kws[keyword]
        if len(kws) >= 26:
            return None  # Maildir has 26 keyword letters; the index still holds every keyword
        kws[keyword] = chr(ord("a") + len(kws))
        text = "".join(f"{ord(letter) - ord('a')} {word}\n" for word, letter in sorted(kws.items(), key=lambda kv: kv[1]))
        tmp = self.path / "dovecot-keywords.tmp"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, self.path / "dovecot-keywords")
        return kws[keyword]

    def info(self, flags: list[str] | tuple[str, ...]) -> str:
        key = tuple(flags)
        cached = self._info.get(key)
        if cached is None:
            cached = self._info[key] = self._compute_info(flags)
        return cached

    def _compute_info(self, flags: list[str] | tuple[str, ...]) -> str:
        letters = set()
        for flag in flags:
            letter = SYSTEM_FLAGS.get(flag.lower())
            if letter is None and not flag.startswith("\\"):
                letter = self._letter_for(flag)
            if letter:
                letters.add(letter)
        return "".join(sorted(letters))

    # --- files ---------------------------------------------------------------------------------

    def filename(self, epoch: int, uidvalidity: int, uid: int, size: int, flags: list[str] | tuple[str, ...]) -> str:
        return f"{epoch}.V{uidvalidity}U{uid}.mailmig,S={size}:2,{self.info(flags)}"

    def tmp_path(self, name: str) -> Path:
        return self.path / "tmp" / name

    def publish(self, tmp_name: str, name: str, epoch: int) -> Path:
        """Move a complete message from tmp/ into cur/ under its final name, dated INTERNALDATE."""
        final = self.path / "cur" / name
        os.utime(self.tmp_path(tmp_name), (epoch, epoch))
        os.rename(self.tmp_path(tmp_name), final)
        return final


class HashingWriter:
    """Streams a message to its tmp file while hashing it and picking out its header block.

    Raw file descriptors, not Python file objects: a message costs open, write(s), utime, close and
    rename, nothing more (a buffered file adds fstat, ioctl and lseek calls, and a copy)."""

    __slots__ = ("_head_done", "fd", "head", "path", "sha", "size")

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        self.sha = hashlib.sha256()
        self.size = 0
        self.head = b""
        self._head_done = False

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self.fd, view)
            view = view[n:]
        self.sha.update(data)  # hashlib releases the GIL for pieces over 2 kB
        self.size += len(data)
        if not self._head_done:
            self.head += data[:65536]
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                end = self.head.find(b"\n\n")
            if end >= 0 or len(self.head) >= 65536:
                self.head = self.head[: end if end >= 0 else 65536]
                self._head_done = True

    def finish(self, epoch: int) -> None:
        """Date the file (INTERNALDATE) and close it."""
        try:
            os.utime(self.fd, (epoch, epoch))
        finally:
            self.close()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def message_id(self) -> str:
        return message_id(self.head)


_MSGID = re.compile(rb"^message-id:[ \t]*(.*(?:\r?\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE)


def message_id(head: bytes) -> str:
    m = _MSGID.search(head)
    if not m:
        return ""
    return " ".join(m.group(1).decode("utf-8", "replace").split())


def header_block(path: Path) -> bytes:
    with open(path, "rb") as handle:
        data = handle.read(65536)
    end = data.find(b"\r\n\r\n")
    return data[:end] if end >= 0 else data
