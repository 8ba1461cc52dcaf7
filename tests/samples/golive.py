"""A fixed go-live gate result for the Gate tab's snapshot and screenshot: what `check_gate` reports
mid-way through a real cutover (DNS converged, the old MX still draining, one straggler)."""

from __future__ import annotations

from datetime import datetime, timedelta

from mailmig_tui.core.golive import FAIL, PASS, Condition, GateResult


def result(at: datetime) -> GateResult:
    t = at - timedelta(minutes=3)
    return GateResult(at, [
        Condition("backup", PASS, "10 users verified on 2026-11-28 11:02:10, after the backup of 2026-11-28 10:42:00", t),
        Condition("copy", PASS, "10 users copied and verified (last verify 2026-12-12 23:40:05)", t),
        Condition("matrix", PASS, "pilots: 2/2 pass; all: 10/10 pass (2026-12-13 09:15:00)", t),
        Condition("dns-authoritative", PASS, "all 2 serve mx1.qiye.aliyun.com, mx2.qiye.aliyun.com, seen since "
                  "2026-12-12 22:00:41", t),
        Condition("dns-resolvers", FAIL, "114DNS still hands out mxbiz1.qq.com; Baidu did not answer (timeout): "
                  "unknown, not new", at),
        Condition("dns-drained", FAIL, "pending until 2026-12-12 23:00:41: the old MX's TTL (3600 s) counted from "
                  "2026-12-12 22:00:41", t),
        Condition("final-delta", FAIL, "the final delta has not run (`mailmig golive final-delta`)"),
        Condition("stragglers", FAIL, "counted from the final delta, which has not run"),
        Condition("reminder", PASS, "sent to all 10 users (last on 2026-12-12 18:03:12)", t),
    ])
