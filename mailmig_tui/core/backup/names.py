"""Server folder names → one safe file-name component each, reversibly.

A folder's hierarchy parts (split on the server's own separator, after modified UTF-7 decoding) are each
escaped and joined with `.`, prefixed with `.`: the Maildir++ layout Dovecot, mutt and others read
(`.Projects.2024.Q1`). Escaping keeps ASCII letters, digits, a few punctuation marks and non-ASCII
letters; anything else (including `.`, `/`, `%`, `~`, control characters) becomes `%XX` of its UTF-8
bytes, and Windows' reserved names (`con`, `nul`, `com1` …) get their first letter escaped. So a
component never contains `/`, is never `.` or `..`, and cannot collide with another folder.

Names that would be too long for a file system (255 bytes) are cut and given a hash suffix after `~`,
which the escaping never produces otherwise; for those the index (and the manifest file) holds the real
name. Everything else decodes back from the directory name alone.
"""

from __future__ import annotations

import hashlib
import re

SAFE_ASCII = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_+=@,;!'()[]{}$& ")
RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9]|conin\$|conout\$)$", re.IGNORECASE)
MAX_COMPONENT_BYTES = 200  # leaves room for ext4/NTFS limits (255) and our own suffixes
EMPTY_PART = "%"  # escapes are always %XX, so a lone % can only mean an empty part


def _escape_char(ch: str) -> str:
    return "".join(f"%{b:02X}" for b in ch.encode("utf-8"))


def escape_part(part: str) -> str:
    if part == "":
        return EMPTY_PART
    out = []
    for ch in part:
        if ch in SAFE_ASCII or (ord(ch) > 127 and ch.isalnum()):
            out.append(ch)
        else:
            out.append(_escape_char(ch))
    text = "".join(out)
    if RESERVED.match(part):
        text = _escape_char(part[0]) + text[1:]
    if text.endswith(" "):  # Windows drops trailing spaces
        text = text[:-1] + "%20"
    if text.startswith(" "):
        text = "%20" + text[1:]
    return text


def unescape_part(text: str) -> str:
    if text == EMPTY_PART:
        return ""
    raw = bytearray()
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "%":
            raw.append(int(text[i + 1 : i + 3], 16))
            i += 3
        else:
            raw += ch.encode("utf-8")
            i += 1
    return raw.decode("utf-8")


def is_inbox(parts: list[str]) -> bool:
    return len(parts) == 1 and parts[0].upper() == "INBOX"


def folder_dirname(parts: list[str], raw_name: bytes) -> str:
    """The folder's directory under the user's Maildir ("" for INBOX, the Maildir root)."""
    if is_inbox(parts):
        return ""
    name = "." + ".".join(escape_part(p) for p in parts)
    if len(name.encode("utf-8")) <= MAX_COMPONENT_BYTES:
        return name
    digest = hashlib.sha256(raw_name).hexdigest()[:20]
    cut = name.encode("utf-8")[: MAX_COMPONENT_BYTES - 21].decode("utf-8", "ignore")
    cut = re.sub(r"%[0-9A-F]?$", "", cut)  # never leave half an escape
    return f"{cut}~{digest}"


def parts_from_dirname(dirname: str) -> list[str] | None:
    """Decode a directory name back to its parts; None for hashed (long) names: ask the index."""
    if dirname == "":
        return ["INBOX"]
    if "~" in dirname or not dirname.startswith("."):
        return None
    return [unescape_part(p) for p in dirname[1:].split(".")]


def user_dirname(email: str) -> str:
    """A user's archive folder: the escaped address (addresses are ASCII in practice, but not always)."""
    # `.` is harmless here (no hierarchy at this level), except as a leading character.
    name = escape_part(email.lower()).replace("%2E", ".")
    if name.startswith("."):
        name = "%2E" + name[1:]
    if len(name.encode()) > MAX_COMPONENT_BYTES:
        name = name[:150] + "~" + hashlib.sha256(email.lower().encode()).hexdigest()[:20]
    return name
