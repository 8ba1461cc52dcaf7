"""Style-preserving saves of the project file: comments, blank lines, key order and unknown keys survive.

The project file is read with tomllib (fast) and written by applying the model's changes to the text
the user has, with tomlkit (a style-preserving TOML library) doing the edits. Parsing a 5,000-user file
with tomlkit takes about a second, so the text is cut into segments — the lines before the first table
header, one `[[users]]`/`[[checklist]]`/`[[events]]` entry each (with the sub-tables that follow it), and
one group of `[table]` headers per top-level key — and only the segments whose data changed are parsed
and re-rendered. A comment just above a header belongs to the segment that header opens.

Every re-rendered segment is read back with tomllib and compared with the data it must hold; if a
segment does not (a file laid out in a way the splitter does not follow), the whole document is edited
with tomlkit instead, and if even that does not read back as the data, the data is written plainly
(layout lost, nothing else): the file always holds exactly the model's data.
"""

from __future__ import annotations

import difflib
import json
import re
import tomllib
from dataclasses import dataclass, field
from typing import Any

import tomlkit
from tomlkit.items import AoT, Array

_SPECIAL = re.compile(r"[\[\]{}]|'''|\"\"\"")
_TOKEN = re.compile(r'"""|\'\'\'|"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\'|#|[\[\]{}]')
_KEY = r'(?:[A-Za-z0-9_-]+|"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\')'
_HEADER = re.compile(rf"^\s*(\[\[?)\s*({_KEY}(?:\s*\.\s*{_KEY})*)\s*(\]\]?)\s*(?:#.*)?$")
_KEY_PART = re.compile(_KEY)
_TRIVIA = re.compile(r"^\s*(#.*)?$")


class _Fallback(Exception):
    """The fast path cannot vouch for its result: edit the whole document instead."""


@dataclass
class Segment:
    key: str | None  # top-level key; None for the lines before the first header
    kind: str  # "root", "elem" (one entry of an array of tables) or "table"
    text: str


@dataclass
class StyledText:
    """The file's text in segments, and the data it holds (as tomllib reads it)."""

    segments: list[Segment] = field(default_factory=list)
    root_keys: set[str] = field(default_factory=set)

    @property
    def text(self) -> str:
        return "".join(s.text for s in self.segments)


def _header_path(match: re.Match[str]) -> tuple[str, ...]:
    parts = []
    for part in _KEY_PART.findall(match.group(2)):
        if part[0] in "\"'":
            parts.append(next(iter(tomllib.loads(f"{part} = 0"))))
        else:
            parts.append(part)
    return tuple(parts)


def split(text: str, data: dict[str, Any]) -> StyledText | None:
    """Cut `text` into segments, or None when its layout is one the fast path does not handle."""
    segments: list[Segment] = []
    lines: list[str] = []
    kind, key = "root", None
    multiline: str | None = None
    depth = 0
    for line in text.splitlines(keepends=True):
        if multiline is None and depth == 0 and line.lstrip().startswith("["):
            match = _HEADER.match(line)
            if not match:
                return None
            path = _header_path(match)
            aot = match.group(1) == "[["
            # Comments and blank lines just above a header go with the segment it opens.
            moved: list[str] = []
            while lines and _TRIVIA.match(lines[-1]):
                moved.insert(0, lines.pop())
            segments.append(Segment(key, kind, "".join(lines)))
            top = path[0]
            if aot and len(path) == 1:
                kind, key = "elem", top
            elif top == key and kind in ("elem", "table"):
                pass  # a sub-table of the current entry or table: same segment
            else:
                kind, key = "table", top
            lines = [*moved, line]
            continue
        lines.append(line)
        if multiline is None and not _SPECIAL.search(line):
            continue
        pos = 0
        while pos <= len(line):
            if multiline is not None:
                end = _close(line, pos, multiline)
                if end < 0:
                    break
                multiline, pos = None, end
                continue
            match = _TOKEN.search(line, pos)
            if not match:
                break
            token = match.group()
            pos = match.end()
            if token in ('"""', "'''"):
                multiline = token
            elif token == "#":
                break
            elif token in "[{":
                depth += 1
            elif token in "]}":
                depth -= 1
                if depth < 0:
                    return None
    if multiline is not None or depth:
        return None
    segments.append(Segment(key, kind, "".join(lines)))
    styled = StyledText(segments)
    root = tomllib.loads(segments[0].text)
    styled.root_keys = set(root)
    # The cheap checks that the cut is right: every key in one place, one segment per array entry.
    seen: dict[str, str] = {k: "root" for k in root}
    last: str | None = None
    for seg in segments[1:]:
        assert seg.key is not None
        if seg.key in seen and (seen[seg.key] != seg.kind or (seg.kind == "elem" and last != seg.key)):
            return None
        seen[seg.key] = seg.kind
        last = seg.key
    for k, kind_seen in seen.items():
        if k not in data:
            return None
        if kind_seen == "elem":
            value = data[k]
            if not isinstance(value, list) or len(value) != sum(1 for s in segments if s.key == k):
                return None
    return styled


def _close(line: str, pos: int, quote: str) -> int:
    """Where a multi-line string opened with `quote` ends on this line (index after it), or -1."""
    while True:
        i = line.find(quote, pos)
        if i < 0:
            return -1
        if quote == '"""':
            backslashes = len(line[:i]) - len(line[:i].rstrip("\\"))
            if backslashes % 2:
                pos = i + 1
                continue
        end = i + 3
        while end < len(line) and line[end] == quote[0] and end - i < 5:
            end += 1  # up to two quotes may end the string's content right before the closing ones
        return end


def _is_tables(value: Any) -> bool:
    return isinstance(value, dict) or (isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value))


def apply(table: Any, new: dict[str, Any]) -> None:
    """Make the tomlkit container `table` hold `new`, changing only what differs."""
    old = table.unwrap()
    for key in list(old):
        if key not in new:
            del table[key]
    for key, value in new.items():
        if key not in old:
            table[key] = value
            continue
        if old[key] == value:
            continue
        current = table[key]
        if isinstance(value, dict) and isinstance(old[key], dict) and hasattr(current, "unwrap"):
            apply(current, value)
        elif isinstance(current, AoT) and _is_tables(value) and isinstance(value, list):
            _apply_aot(current, value)
        elif isinstance(current, Array) and isinstance(value, list):
            table[key] = _inline_array(current, value)  # `mx = [{ host = … }, …]` stays inline
        else:
            table[key] = value


def _inline_array(current: Array, values: list[Any]) -> Array:
    array = tomlkit.array()
    for value in values:
        if isinstance(value, dict):
            inline = tomlkit.inline_table()
            inline.update(value)
            array.append(inline)
        else:
            array.append(value)
    if "\n" in current.as_string():
        array.multiline(True)
    return array


def _apply_aot(aot: AoT, new: list[dict[str, Any]]) -> None:
    for i, value in enumerate(new[: len(aot)]):
        apply(aot[i], value)
    while len(aot) > len(new):
        del aot[len(aot) - 1]
    for value in new[len(aot):]:
        aot.append(value)


def _fragment(key: str, value: Any) -> str:
    text: str = tomlkit.dumps({key: value})
    return "\n" + text


def _check(text: str, expected: dict[str, Any]) -> None:
    try:
        if tomllib.loads(text) != expected:
            raise _Fallback
    except tomllib.TOMLDecodeError:
        raise _Fallback from None


def _sort_key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)


def update(styled: StyledText, old: dict[str, Any], new: dict[str, Any]) -> None:
    """Edit `styled` (holding `old`) in place so it holds `new`. Raises _Fallback when it cannot."""
    segs = styled.segments
    root_dirty = False
    keys = list(dict.fromkeys([*old, *new]))
    for key in keys:
        if key in old and key in new and old[key] == new[key]:
            continue
        if key in styled.root_keys:
            root_dirty = True
            if not (key in new and isinstance(new[key], list) and _is_tables(new[key])):
                continue
            # `users = []` becoming a list of users: out of the root, into `[[users]]` entries.
            styled.root_keys.discard(key)
        mine = [i for i, s in enumerate(segs) if s.key == key]
        kinds = {segs[i].kind for i in mine}
        value: Any = new.get(key)
        if kinds == {"elem"} and isinstance(value, list) and _is_tables(value):
            _update_elems(segs, key, mine, old[key], value)
            continue
        if kinds == {"table"} and isinstance(value, dict):
            doc = tomlkit.parse("".join(segs[i].text for i in mine))
            apply(doc[key], value)
            text = doc.as_string()
            _check(text, {key: value})
            segs[mine[0]].text = text
            for i in reversed(mine[1:]):
                del segs[i]
            continue
        # Gone, new, or a change of shape: drop what there is and write the value afresh.
        position = mine[0] if mine else None
        for i in reversed(mine):
            del segs[i]
        if key not in new:
            continue
        if not _is_tables(value):
            root_dirty = True
            styled.root_keys.add(key)
            continue
        if position is None:
            position = _position_for(segs, key, list(new))
        if isinstance(value, dict):
            fresh = [Segment(key, "table", _fragment(key, value))]
            _check(fresh[0].text, {key: value})
        else:
            # One segment per entry, so that later saves touch only the entry that changed.
            fresh = [Segment(key, "elem", _fragment(key, [entry])) for entry in value]
            for seg, entry in zip(fresh, value, strict=True):
                _check(seg.text, {key: [entry]})
        segs[position:position] = fresh
    if root_dirty:
        keep = [k for k in styled.root_keys if k in new]
        doc = tomlkit.parse(segs[0].text)
        apply(doc, {k: new[k] for k in new if k in keep})
        text = doc.as_string()
        if text and not text.endswith("\n"):
            text += "\n"
        _check(text, {k: new[k] for k in keep})
        segs[0].text = text
        styled.root_keys = set(keep)


def _position_for(segs: list[Segment], key: str, order: list[str]) -> int:
    """Where a new top-level table goes: before the first segment of the next key that has one."""
    after = order[order.index(key) + 1:]
    for i, seg in enumerate(segs):
        if seg.key in after:
            return i
    return len(segs)


def _update_elems(segs: list[Segment], key: str, mine: list[int], old: list[Any], new: list[Any]) -> None:
    if mine != list(range(mine[0], mine[0] + len(mine))) or len(mine) != len(old):
        raise _Fallback
    base = mine[0]
    prefix = 0
    while prefix < min(len(old), len(new)) and old[prefix] == new[prefix]:
        prefix += 1
    suffix = 0
    while suffix < min(len(old), len(new)) - prefix and old[-1 - suffix] == new[-1 - suffix]:
        suffix += 1
    mid_old, mid_new = old[prefix:len(old) - suffix], new[prefix:len(new) - suffix]
    if len(mid_old) == len(mid_new) or len(mid_old) * len(mid_new) > 4_000_000:
        ops: list[tuple[str, int, int, int, int]] = [("replace", 0, len(mid_old), 0, len(mid_new))]
    else:
        matcher = difflib.SequenceMatcher(None, [_sort_key(v) for v in mid_old], [_sort_key(v) for v in mid_new],
                                          autojunk=False)
        ops = list(matcher.get_opcodes())
    replaced: list[Segment] = []
    for tag, i1, i2, j1, j2 in ops:
        old_segs = segs[base + prefix + i1: base + prefix + i2]
        if tag == "equal":
            replaced.extend(old_segs)
            continue
        for n, entry in enumerate(mid_new[j1:j2]):
            if n < len(old_segs):
                doc = tomlkit.parse(old_segs[n].text)
                apply(doc[key][0], entry)
                text = doc.as_string()
            else:
                text = _fragment(key, [entry])
            _check(text, {key: [entry]})
            replaced.append(Segment(key, "elem", text))
    segs[base + prefix: base + len(old) - suffix] = replaced


def restyle(text: str, old: dict[str, Any], new: dict[str, Any], styled: StyledText | None) -> tuple[str, StyledText | None]:
    """The text that holds `new`, keeping what it can of `text` (which holds `old`)."""
    if styled is None:
        styled = split(text, old)
    if styled is not None:
        try:
            update(styled, old, new)
            return styled.text, styled
        except _Fallback:
            pass
    # The whole document, slowly but style-preserving; checked like the segments.
    try:
        doc = tomlkit.parse(text)
        apply(doc, new)
        result = doc.as_string()
        _check(result, new)
    except (_Fallback, Exception):  # tomlkit refusing an edit must not lose the save: write plainly
        result = tomlkit.dumps(new)
    return result, split(result, new)
