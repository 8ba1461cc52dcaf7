"""MX records are ordered by preference as numbers (5, 10, 15), not as text (10, 15, 5): in the answers
read from a real NSD and Unbound, in the records to set, and on the Providers tab."""

from __future__ import annotations

import asyncio

import pytest

from mailmig_tui.core.dns.config import Server
from mailmig_tui.core.dns.query import OK, ask, sort_records
from mailmig_tui.core.dns.records import derive_targets
from mailmig_tui.core.model import MxHost
from mailmig_tui.lab.dns import DnsLab
from mailmig_tui.ui.widgets.provider_panel import provider_table
from tests.dns.conftest import lab_config


def test_sort_records_orders_numbers_as_numbers() -> None:
    assert sort_records(["10 b.test", "15 c.test", "5 a.test"]) == ("5 a.test", "10 b.test", "15 c.test")
    assert sort_records(["10 1 993 b", "2 1 993 a"]) == ("2 1 993 a", "10 1 993 b")
    assert sort_records(["v=spf1 b", "v=spf1 a"]) == ("v=spf1 a", "v=spf1 b")


@pytest.mark.lab
def test_mx_answers_and_targets_are_in_preference_order(fresh_lab: DnsLab, project) -> None:  # type: ignore[no-untyped-def]
    fresh_lab.edit("corp.test", remove=("@ 5 IN MX",), add=("@ 5 IN MX 10 mx2.oldmail.test.",
                                                            "@ 5 IN MX 15 mx3.oldmail.test.",
                                                            "@ 5 IN MX 5 mx1.oldmail.test."))
    for address in (*fresh_lab.authoritative, next(iter(fresh_lab.resolvers.values()))):
        answer = asyncio.run(ask(Server("s", address), "corp.test", "MX", timeout=2.0,
                                 recursion=address not in fresh_lab.authoritative))
        assert answer.status == OK
        assert answer.values == ("5 mx1.oldmail.test", "10 mx2.oldmail.test", "15 mx3.oldmail.test")
    project.new.mx = [MxHost("mx2.newmail.test", 10), MxHost("mx3.newmail.test", 15), MxHost("mx1.newmail.test", 5)]
    (mx,) = [t for t in derive_targets(project, lab_config(fresh_lab)) if t.key == "mx"]
    assert mx.values == ("5 mx1.newmail.test", "10 mx2.newmail.test", "15 mx3.newmail.test")


def test_providers_tab_lists_mx_by_preference(project) -> None:  # type: ignore[no-untyped-def]
    project.new.mx = [MxHost("b.test", 10), MxHost("c.test", 15), MxHost("a.test", 5)]
    table = provider_table(project)
    labels = [str(c) for c in table.columns[0]._cells]
    mx_row = [str(c) for c in table.columns[2]._cells][labels.index("MX")]
    assert mx_row.splitlines() == ["5 a.test", "10 b.test", "15 c.test"]
