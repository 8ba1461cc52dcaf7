"""Folder names from servers are untrusted: every one maps to one safe path component and back."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from mailmig_tui.core.backup.names import (
    MAX_COMPONENT_BYTES,
    folder_dirname,
    folder_dirname_v1,
    parts_from_dirname,
    user_dirname,
)
from mailmig_tui.lab.corpus import hostile_folders

HOSTILE = [["INBOX"], [".."], ["."], ["con"], ["CON"], ["x:y"], ["a/b"], ["/etc/passwd"], ["已发送"], ["客户", "华东"],
           ["x" * 200], ["A&B ~%#"], [""], [" lead", "trail "], ["a.b"], ["nul", "com1"], ["\x7f\t"], ["INBOX", "sub"]]


def _check(parts: list[str]) -> str:
    raw = "/".join(parts).encode()
    d = folder_dirname(parts, raw)
    assert "/" not in d and "\x00" not in d and d not in (".", "..")
    assert len(d.encode()) <= 255
    decoded = parts_from_dirname(d)
    if decoded is not None:
        assert decoded == parts or (parts == ["INBOX"] and decoded == ["INBOX"])
    return d


def test_hostile_names_are_safe_and_round_trip() -> None:
    dirs = [_check(p) for p in HOSTILE + [list(f) for f in hostile_folders("/") + hostile_folders(".")]]
    assert len(set(dirs)) == len(set(map(tuple, HOSTILE + hostile_folders("/") + hostile_folders(".")))), \
        "two folders would share a directory"
    assert folder_dirname(["INBOX"], b"INBOX") == ""


def test_names_stay_readable_where_the_file_system_allows() -> None:
    """Only `/`, NUL, `.` (the Maildir++ separator), `%` (the escape) and control characters are escaped:
    what Linux and the layout cannot hold. Windows device names, quotes, colons, spaces and CJK stay."""
    readable = {("con",): ".con", ("quo\"te",): '.quo"te', ("x:y",): ".x:y", ("A&B ~%#",): ".A&B ~%25#",
                ("已发送",): ".已发送", ("客户", "华东"): ".客户.华东", (" lead", "trail "): ". lead.trail ",
                ("a.b",): ".a%2eb", ("a/b",): ".a%2fb", ("..",): ".%2e%2e", ("nul", "com1"): ".nul.com1",
                ("\x1b[31m",): ".%1b[31m", ("evil\u202etxt",): ".evil%e2%80%aetxt"}
    for parts, expected in readable.items():
        assert folder_dirname(list(parts), "/".join(parts).encode()) == expected
        assert parts_from_dirname(expected) == list(parts)
    # The long CJK name of the hostile corpus fits in 255 bytes: kept whole, not cut.
    long_cjk = "草稿" * 10 + "x" * 180
    assert folder_dirname([long_cjk], long_cjk.encode()) == "." + long_cjk


def test_v1_names_decode_too() -> None:
    """Directory names written by the first naming still decode (the engine moves them to today's)."""
    for parts in HOSTILE:
        old = folder_dirname_v1(parts, "/".join(parts).encode())
        decoded = parts_from_dirname(old)
        assert decoded is None or decoded == parts or parts == ["INBOX"]
    assert folder_dirname_v1(["con"], b"con") == ".%63on"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(min_size=0, max_size=80), min_size=1, max_size=4))
def test_any_name_is_safe_and_round_trips(parts: list[str]) -> None:
    _check(parts)


@given(st.lists(st.text(max_size=40), min_size=1, max_size=3), st.lists(st.text(max_size=40), min_size=1, max_size=3))
def test_distinct_names_never_collide(a: list[str], b: list[str]) -> None:
    if a != b and not (a == ["INBOX"] or b == ["INBOX"]) and [p.upper() for p in a] != [p.upper() for p in b]:
        assert folder_dirname(a, "/".join(a).encode()) != folder_dirname(b, "/".join(b).encode()) or \
            "/".join(a) == "/".join(b)


def test_long_names_are_cut_with_a_hash() -> None:
    d = folder_dirname(["草" * 300], "草".encode() * 300)
    assert len(d.encode()) <= MAX_COMPONENT_BYTES and "~" in d
    assert parts_from_dirname(d) is None  # the index holds the real name


def test_user_dirname_is_one_component() -> None:
    for email in ("a@b.example", "../x@y", ".hidden@x", "a/b@c"):
        d = user_dirname(email)
        assert "/" not in d and not d.startswith(".")


def test_backup_section_durations() -> None:
    import pytest

    from mailmig_tui.core.backup.config import DEFAULT_RETRY_FOR, parse_backup_section
    from mailmig_tui.core.model import SchemaError

    assert parse_backup_section(None).retry_for == DEFAULT_RETRY_FOR == 600
    assert parse_backup_section({"retry_for": "90s"}).retry_for == 90
    assert parse_backup_section({"retry_for": "10m"}).retry_for == 600
    assert parse_backup_section({"retry_for": "1h", "retry_max_delay": 5}).retry_max_delay == 5
    assert parse_backup_section({"retry_for": 0}).retry_for == 0
    for bad in ("soon", -1, True, "9d"):
        with pytest.raises(SchemaError) as info:
            parse_backup_section({"retry_for": bad})
        assert info.value.path == ("backup", "retry_for")


def test_a_bad_retry_for_is_named_by_line_and_key(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from tests.backup_helpers import make_project, run_cli

    nowhere = SimpleNamespace(imaps_port=9, imap_port=9, fingerprint="")
    project = make_project(tmp_path, nowhere, {"u1@corp.example": "pw"}, pin=False)
    text = project.read_text()
    project.write_text(text + '\n[backup]\nretry_for = "forever"\n')
    line = len(project.read_text().splitlines())
    code, _events, out = run_cli(tmp_path, "backup", str(project), "--dest", str(tmp_path / "a"))
    assert code == 3, out
    assert f"line {line}" in out and "backup.retry_for" in out and "Traceback" not in out
