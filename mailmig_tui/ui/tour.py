"""Every screen of the app and the keys that reach it from the dashboard.

Used by the snapshot tests (tests/test_snapshots.py) and by `scripts/screenshots.py`, so the screenshots
in the README and the snapshots checked in CI show the same views.
"""

from __future__ import annotations

# (name, keys pressed after the app starts on the dashboard)
VIEWS: list[tuple[str, tuple[str, ...]]] = [
    ("dashboard", ()),
    ("1-preparation-checklist", ("1",)),
    ("1-preparation-plan", ("1", "]")),
    ("1-preparation-notices", ("1", "]", "]")),
    ("1-preparation-providers", ("1", "]", "]", "]")),
    ("1-checklist-edit", ("1", "down", "down", "e")),
    ("2-backup", ("2",)),
    ("3-dns", ("3",)),
    ("4-accounts", ("4", "]")),
    ("5-testing", ("5", "]")),
    ("6-go-live", ("6",)),
    ("7-aftercare", ("7", "]")),
    ("help", ("1", "f1")),
]

# Views fed a fixed sequence of events (tests/samples/accounts.py) after their keys:
# (name, keys, stage). tests/test_accounts_snapshots.py and scripts/screenshots.py use these.
SAMPLE_VIEWS: list[tuple[str, tuple[str, ...], str]] = [
    ("4-accounts-users", ("4", "]"), "users"),
    ("4-accounts-copy", ("4", "]", "]"), "copy"),
    ("4-accounts-verify", ("4", "]", "]", "]"), "verify"),
]
