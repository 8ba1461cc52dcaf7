"""The test corpus is the independent truth for message content: sha256 recorded when each message is
generated, and `expected_hashes`/`mailbox_hashes` agree on a live server before mailmig touches it."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from mailmig_tui.lab.corpus import Message, bulk_corpus, corpus_hashes, expected_hashes, mailbox_hashes, nonempty


def test_sha256_is_recorded_when_a_message_is_made() -> None:
    msg = Message(b"Subject: x\r\n\r\nbody\r\n")
    assert msg.sha256 == hashlib.sha256(b"Subject: x\r\n\r\nbody\r\n").hexdigest()
    hashes = corpus_hashes(bulk_corpus(20, seed=3))
    assert sum(sum(c.values()) for c in hashes.values()) == 20
    assert corpus_hashes(bulk_corpus(20, seed=3)) == hashes  # deterministic for a seed


def test_unknown_mailbox_is_an_error_not_an_empty_truth() -> None:
    with pytest.raises(KeyError, match=r"nobody@corp\.example"):
        expected_hashes("nobody@corp.example")


@pytest.mark.lab
@pytest.mark.parametrize(("side", "user"), [("old", "hostile@corp.example"), ("new", "hostile2@corp.example")])
def test_filled_mailbox_holds_exactly_the_generated_messages(lab: Any, side: str, user: str) -> None:
    inst = lab.lab.old if side == "old" else lab.lab.new
    expected = nonempty(expected_hashes(user))
    assert ("客户", "华东") in expected and sum(sum(c.values()) for c in expected.values()) == lab.counts[user]
    assert mailbox_hashes("127.0.0.1", inst.imap_port, user, inst.users[user]) == expected
