"""The quick paths of the IMAP layer: the LIST-STATUS reader (one regular expression per line) gives exactly what imapclient's
general parser gives, on hostile folder names listed by a real Dovecot, and the responses only the
general parser can read (literals) still go to it, alone."""

from __future__ import annotations

from typing import Any

import pytest
from imapclient import IMAPClient

from mailmig_tui.core.copy.folders import decode_name
from mailmig_tui.core.imap import listing
from tests.copy.conftest import CopyLab

ODD = ['q"uote', "back\\slash", "A&B ~%#*", "已发送", "草稿" * 10 + "x" * 150, "  spaced  ", "123", "NIL", "a]b"]


def _general_only(monkeypatch: pytest.MonkeyPatch) -> None:
    class Never:
        @staticmethod
        def match(_line: bytes) -> None:
            return None

    monkeypatch.setattr(listing, "_LIST_LINE", Never)
    monkeypatch.setattr(listing, "_STATUS_LINE", Never)


def test_the_quick_path_reads_hostile_names_as_the_general_parser_does(copylab: CopyLab,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    login, password = copylab.fresh_login(copylab.new, "listing")
    with IMAPClient("127.0.0.1", copylab.new.imap_port, ssl=False) as client:  # type: ignore[attr-defined]
        client.login(login, password)
        for name in ODD:
            client.create_folder(name)
        imap = client._imap
        typ, data = imap._simple_command("LIST", '""', '"*"', "RETURN", "(STATUS (MESSAGES UIDNEXT UIDVALIDITY))")
        assert typ == "OK"
        listed = imap._untagged_response(typ, data, "LIST")[1]
        statuses = imap._untagged_response(typ, data, "STATUS")[1]
        assert all(isinstance(line, bytes) for line in listed + statuses)  # no literal: all on the quick path
        seen: list[Any] = []
        real_match = listing._LIST_LINE.match
        monkeypatch.setattr(listing, "_LIST_LINE", type("Spy", (), {"match": staticmethod(
            lambda line: seen.append(real_match(line)) or real_match(line))}))
        quick = listing._folders(listed)
        quick_status = listing._statuses(statuses)
        assert len(seen) == len(listed) and all(seen)
        _general_only(monkeypatch)
        assert quick == listing._folders(listed)
        assert quick_status == listing._statuses(statuses)
        assert {decode_name(f.raw) for f in quick} >= set(ODD)
        assert {decode_name(name) for name in quick_status} >= set(ODD)


def test_a_response_with_a_literal_goes_to_the_general_parser_and_the_rest_stay_quick() -> None:
    listed: listing.Untagged = [
        b'(\\HasNoChildren) NIL "flat"',
        (b'(\\HasNoChildren) "/" {7}', b'a"b\\c d'),
        b"",
        b"() \"/\" 007",
        b'(\\Noselect \\HasChildren) "\\\\" "back\\\\slash"',
    ]
    assert [(f.flags, f.delimiter, f.raw) for f in listing._folders(listed)] == [
        ((b"\\HasNoChildren",), "", b"flat"), ((b"\\HasNoChildren",), "/", b'a"b\\c d'),
        ((), "/", b"007"),  # the general parser alone would say 7
        ((b"\\Noselect", b"\\HasChildren"), "\\", b"back\\slash")]
    statuses: listing.Untagged = [
        b'"q\\"uote" (MESSAGES 3 UIDNEXT 9 UIDVALIDITY 77 HIGHESTMODSEQ 12)', (b"{3}", b"lit"), b" (MESSAGES 0)",
        b"007 (MESSAGES 1)"]
    assert listing._statuses(statuses) == {
        b'q"uote': {b"MESSAGES": 3, b"UIDNEXT": 9, b"UIDVALIDITY": 77, b"HIGHESTMODSEQ": 12},
        b"lit": {b"MESSAGES": 0}, b"007": {b"MESSAGES": 1}}
    assert listing._statuses([None]) == {} and listing._folders([None]) == []


def test_internaldate_read_quickly_is_imapclients_and_goes_to_append_as_sent() -> None:
    from imapclient.datetime_util import parse_to_datetime

    from mailmig_tui.core.imap.fetch import Meta

    for raw in (b" 2-Dec-2026 10:00:00 +0800", b"17-Jul-1996 02:44:25 -0700", b"29-Feb-2024 23:59:59 +0000",
                b"01-Jan-1970 00:00:00 +1345"):
        meta = Meta(1, 1, 10, raw, b"")
        assert meta.internaldate == parse_to_datetime(raw, normalise=False)
        assert meta.internaldate.isoformat() == parse_to_datetime(raw, normalise=False).isoformat()
        assert meta.append_date == raw
    leap = Meta(1, 1, 10, b"31-Dec-2016 23:59:60 +0000", b"")  # datetime has no second 60: imapclient decides
    try:
        expected = parse_to_datetime(leap.date_raw, normalise=False)
    except ValueError:
        expected = None
    assert leap.internaldate == expected
    odd = Meta(1, 1, 10, b"Tue, 17 Jul 1996 02:44:25 -0700", b"")  # not RFC 3501's form: parsed, never sent as is
    assert odd.internaldate == parse_to_datetime(odd.date_raw, normalise=False)
    assert odd.append_date == b""
