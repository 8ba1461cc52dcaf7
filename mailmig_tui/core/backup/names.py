"""Server folder names → one safe file-name component each, reversibly, and readable.

A folder's hierarchy parts (split on the server's own separator, after modified UTF-7 decoding) are each
escaped and joined with `.`, prefixed with `.`: the Maildir++ layout Dovecot, mutt and others read
(`.Projects.2024.Q1`, `.客户.华东`). Only what a Linux file system or the layout truly cannot hold is
escaped, as `%xx` of its UTF-8 bytes (lower-case hex, as Dovecot's listescape plugin writes them):

- `/` and NUL (no file system takes them in a name);
- `.` (Maildir++'s hierarchy separator: `a.b` would read as `a` › `b`), so `.` and `..` never appear;
- `%` (the escape character itself, so every name decodes back exactly);
- control and invisible formatting characters (a name must not rewrite the terminal of whoever lists
  the folder, nor hide a look-alike), and lone surrogates.

Everything else stays as it is: spaces, quotes, `:`, `~`, `con`, CJK. An empty part is a lone `%` (never
an escape otherwise). Names over 255 bytes (the ext4/XFS/btrfs limit) are cut and end with `%~` and a
hash of the server's raw name (`%~` is never an escape); for those the index and the manifest file
hold the real name, and everything else decodes back from the directory name alone.

Dovecot reads this layout with `mail_location = maildir:DIR:LAYOUT=Maildir++:UTF-8` and shows the exact
server names with the listescape plugin (`listescape_char = "%%"`) and `separator = /` (see the README).

Archives written by mailmig before this naming (v1: everything but letters, digits and a few marks was
escaped, Windows device names too, names cut at 200 bytes with `~hash`) are moved to it by the engine
on the next run: the directory is renamed and the index follows (`folder_dirname_v1` is kept for that
and for the tests).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

MAX_COMPONENT_BYTES = 255  # NAME_MAX of Linux file systems
EMPTY_PART = "%"  # escapes are always %XX, so a lone % can only mean an empty part
HASH_MARK = "%~"  # never produced by escaping: marks a name cut to fit, followed by a hash
_HASH_LEN = 20
_ALWAYS = frozenset("/.%\x00")
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_OLD_HASH = re.compile(r"~[0-9a-f]{20}$")


def _escape_char(ch: str) -> str:
    """`%xx`, lower-case hex: exactly what Dovecot's listescape plugin writes, so Dovecot finds the folder."""
    return "".join(f"%{b:02x}" for b in ch.encode("utf-8", "surrogatepass"))


def _escape_char_v1(ch: str) -> str:
    return "".join(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass"))


def _needs_escape(ch: str) -> bool:
    if ch in _ALWAYS:
        return True
    if ch.isascii():
        return not ch.isprintable()
    return unicodedata.category(ch) in _UNSAFE_CATEGORIES


def escape_part(part: str) -> str:
    if part == "":
        return EMPTY_PART
    return "".join(_escape_char(ch) if _needs_escape(ch) else ch for ch in part)


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
            raw += ch.encode("utf-8", "surrogatepass")
            i += 1
    return raw.decode("utf-8", "surrogatepass")


def is_inbox(parts: list[str]) -> bool:
    return len(parts) == 1 and parts[0].upper() == "INBOX"


def folder_dirname(parts: list[str], raw_name: bytes) -> str:
    """The folder's directory under the user's Maildir ("" for INBOX, the Maildir root)."""
    if is_inbox(parts):
        return ""
    name = "." + ".".join(escape_part(p) for p in parts)
    if len(name.encode("utf-8", "surrogatepass")) <= MAX_COMPONENT_BYTES:
        return name
    digest = hashlib.sha256(raw_name).hexdigest()[:_HASH_LEN]
    room = MAX_COMPONENT_BYTES - len(HASH_MARK) - _HASH_LEN
    cut = name.encode("utf-8", "surrogatepass")[:room].decode("utf-8", "ignore")
    cut = re.sub(r"%[0-9a-f]?$", "", cut)  # never leave half an escape
    return f"{cut}{HASH_MARK}{digest}"


def parts_from_dirname(dirname: str) -> list[str] | None:
    """Decode a directory name back to its parts; None for names cut to fit: ask the index."""
    if dirname == "":
        return ["INBOX"]
    if not dirname.startswith(".") or HASH_MARK in dirname or _OLD_HASH.search(dirname):
        return None
    try:
        return [unescape_part(p) for p in dirname[1:].split(".")]
    except (ValueError, UnicodeDecodeError):
        return None


# --- the first naming (v1), kept to move old archives and for user folders ---------------------------

_V1_SAFE_ASCII = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_+=@,;!'()[]{}$& ")
_V1_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9]|conin\$|conout\$)$", re.IGNORECASE)
_V1_MAX = 200


def escape_part_v1(part: str) -> str:
    if part == "":
        return EMPTY_PART
    out = []
    for ch in part:
        if ch in _V1_SAFE_ASCII or (ord(ch) > 127 and ch.isalnum()):
            out.append(ch)
        else:
            out.append(_escape_char_v1(ch))
    text = "".join(out)
    if _V1_RESERVED.match(part):
        text = _escape_char_v1(part[0]) + text[1:]
    if text.endswith(" "):  # Windows drops trailing spaces
        text = text[:-1] + "%20"
    if text.startswith(" "):
        text = "%20" + text[1:]
    return text


def folder_dirname_v1(parts: list[str], raw_name: bytes) -> str:
    """The directory name mailmig gave a folder before the readable naming (for migrating archives)."""
    if is_inbox(parts):
        return ""
    name = "." + ".".join(escape_part_v1(p) for p in parts)
    if len(name.encode("utf-8", "surrogatepass")) <= _V1_MAX:
        return name
    digest = hashlib.sha256(raw_name).hexdigest()[:20]
    cut = name.encode("utf-8", "surrogatepass")[: _V1_MAX - 21].decode("utf-8", "ignore")
    cut = re.sub(r"%[0-9A-F]?$", "", cut)
    return f"{cut}~{digest}"


def user_dirname(email: str) -> str:
    """A user's archive folder: the escaped address (addresses are ASCII in practice, but not always).

    Unchanged since v1 (an address rarely holds anything to escape, and a user's folder never moves)."""
    # `.` is harmless here (no hierarchy at this level), except as a leading character.
    name = escape_part_v1(email.lower()).replace("%2E", ".")
    if name.startswith("."):
        name = "%2E" + name[1:]
    if len(name.encode()) > _V1_MAX:
        name = name[:150] + "~" + hashlib.sha256(email.lower().encode()).hexdigest()[:20]
    return name
