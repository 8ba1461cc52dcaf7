"""`[dns.last_watch]`: a small summary of the last propagation watch, for the DNS phase's facts.

    [dns.last_watch]
    started = 2026-12-07T22:00:05+08:00    # when the watch began
    updated = 2026-12-07T22:14:40+08:00    # the sweep this record was last written from
    outcome = "propagated"                 # watching / propagated / ended (ended without full propagation)
    propagated_at = 2026-12-07T22:14:40+08:00  # the first sweep in which every resolver answered the new MX
    ended = 2026-12-07T22:15:00+08:00      # when the watch stopped (absent while it runs)
    resolvers = 6                          # resolvers counted ("propagated" needs all of them)
    on_new = 6                             # of those, on the new MX in the last recorded sweep
    left_out = ["hold"]                    # resolvers that never answered and were left out (--ignore-unreachable)
    mx = ["10 mx1.newmail.example"]       # the new MX that was watched
    summary = "complete on 6 of 6"

Written through the project store by `mailmig dns watch` and the TUI's Propagation tab alike, only when
something in it changes (the first sweep, a resolver flipping, propagation complete or lost, the end),
not on every sweep. The per-resolver history is not kept here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mailmig_tui.core.dns.watch import Snapshot
from mailmig_tui.core.model import Project

WATCHING, PROPAGATED, ENDED = "watching", "propagated", "ended"


def mx_values(project: Project) -> list[str]:
    """The new MX as the watcher's target spells it (sorted), to tell whether a record is about it."""
    return sorted(f"{m.preference} {m.host.lower().rstrip('.')}" for m in project.new.mx)


@dataclass
class WatchRecorder:
    """Turns a watch's snapshots into `[dns.last_watch]`; `due()` says when the record changed."""

    started: datetime
    record: dict[str, Any] = field(default_factory=dict)
    _written: dict[str, Any] | None = None

    def observe(self, snap: Snapshot) -> None:
        mx = next((t for t in snap.targets if t.key == "mx"), None)
        previous = self.record
        left_out = sorted(snap.unreachable) if snap.ignore_unreachable else []
        record: dict[str, Any] = {
            "started": self.started, "updated": snap.at,
            "outcome": PROPAGATED if snap.complete else WATCHING,
            "resolvers": snap.counted, "on_new": snap.on_new,
            "mx": sorted(mx.values) if mx is not None else [],
            "summary": snap.progress_text,
        }
        if left_out:
            record["left_out"] = left_out
        if snap.complete:
            # the first sweep of the current stretch of full propagation
            was = previous.get("propagated_at") if previous.get("outcome") == PROPAGATED else None
            record["propagated_at"] = was if isinstance(was, datetime) else snap.at
        self.record = record

    def end(self, at: datetime) -> None:
        """The watch stopped: propagated stays propagated; otherwise it ended without full propagation."""
        if not self.record:
            return
        self.record = {**self.record, "ended": at}
        if self.record.get("outcome") != PROPAGATED:
            self.record["outcome"] = ENDED

    def due(self) -> bool:
        """Whether the record differs from what was last written (the time of the sweep aside)."""
        def meaning(r: dict[str, Any] | None) -> dict[str, Any] | None:
            return None if r is None else {k: v for k, v in r.items() if k not in ("updated", "summary")}

        return bool(self.record) and meaning(self.record) != meaning(self._written)

    def apply(self, project: Project) -> None:
        """Store the record in `project` (pass to ProjectStore.update or app.mutate)."""
        section = project.sections.get("dns")
        if not isinstance(section, dict):
            section = {}
            project.sections["dns"] = section
        section["last_watch"] = dict(self.record)

    def written(self) -> None:
        self._written = dict(self.record)
