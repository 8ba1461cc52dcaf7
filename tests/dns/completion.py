"""The definition of "propagated" (`Snapshot.complete`), computed from a run's snapshots alone, to check
the watcher's own bookkeeping on every snapshot (tests/dns/test_completion.py, test_watch.py)."""

from __future__ import annotations

from mailmig_tui.core.dns.query import OK
from mailmig_tui.core.dns.records import MIXED, NEW, OLD
from mailmig_tui.core.dns.watch import Snapshot


def all_auth_new(snap: Snapshot) -> bool:
    return bool(snap.authoritative) and all(r.status == OK and r.states.get("mx") == NEW for r in snap.authoritative)


def expected_complete(snaps: list[Snapshot], i: int, names: list[str], ignore_unreachable: bool = False) -> bool:
    """The definition, computed from the snapshots only (not from the watcher's own bookkeeping)."""
    if not all_auth_new(snaps[i]):
        return False
    start = i
    while start > 0 and not any(r.status == OK and r.states.get("mx") in (OLD, MIXED)
                                for r in snaps[start - 1].authoritative):
        start -= 1
    cutover = next(j for j in range(start, i + 1) if all_auth_new(snaps[j]))
    for name in names:
        answered = [j for j in range(i + 1) if (o := snaps[j].observation(name, "mx")) and not o.answer.failed]
        if not answered:
            if ignore_unreachable:
                continue
            return False
        last = answered[-1]
        observation = snaps[last].observation(name, "mx")
        if last <= cutover or observation is None or observation.state != NEW:
            return False
    return True


def assert_completion(snaps: list[Snapshot], names: list[str], ignore: list[bool] | None = None) -> None:
    for i, snap in enumerate(snaps):
        flag = ignore[i] if ignore else False
        assert snap.complete == expected_complete(snaps, i, names, flag), f"snapshot {i} at {snap.at}"
        if not snap.complete:
            assert snap.safe_final is False
        if snap.unknown or (snap.unreachable and not flag):
            assert snap.safe_to_switch_off is None, f"switch-off advice with unknown resolvers (snapshot {i})"
