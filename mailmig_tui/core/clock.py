"""The one clock. MAILMIG_FAKE_NOW (an ISO date-time) freezes it for snapshot tests and screenshots."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime


def now() -> datetime:
    """The current time, aware, in the machine's local zone, to the second."""
    fake = os.environ.get("MAILMIG_FAKE_NOW")
    if fake:
        return datetime.fromisoformat(fake).astimezone()
    return datetime.now(UTC).astimezone().replace(microsecond=0)


def today() -> date:
    return now().date()
