"""The Testing phase's screen: its checklist first, then the test-user matrix and the pilots."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import TabPane

from mailmig_tui.core.i18n import N_, _
from mailmig_tui.core.phases import Phase
from mailmig_tui.ui.phases.testing.matrix import MatrixPanel
from mailmig_tui.ui.screens.base import PhaseScreen
from mailmig_tui.ui.widgets.tables import UserTable


class TestingScreen(PhaseScreen):
    MODE = Phase.TESTING.value
    PHASE = Phase.TESTING
    HELP = N_(
        "# 5. Testing\n\n"
        "A few representative users send and receive mail; fix what breaks; then widen to everyone.\n\n"
        "Tabs: **Checklist**; **Matrix** (the test-user matrix); **Pilots** (users whose role is pilot in the "
        "project file).\n\n"
        "## Matrix\n\n"
        "One row per user (the pilots first; **w** shows everyone), one column per check, each cell a real "
        "test against the real servers, the same as `mailmig test`:\n\n"
        "- **Old**: IMAP login on the old provider still works.\n"
        "- **New**: IMAP login on the new provider.\n"
        "- **Send**: SMTP AUTH on the new provider's submission port (TLS verified or pinned) and a probe "
        "message accepted.\n"
        "- **Recv**: that probe arrives in the user's new INBOX (found by IMAP); the delivery time is measured.\n"
        "- **MX**: a probe delivered to the domain's MX on port 25 (resolved with the project's resolvers), "
        "as an outside sender would, is found in the new INBOX; if it lands at the old provider the cell "
        "says so.\n"
        "- **Mail**: the folders and message counts on the new side match the source, and the newest source "
        "messages are there.\n"
        "- **Client**: autoconfig, autodiscover and SRV records point at the new provider.\n"
        "- **DKIM**: the probe's DKIM signature verifies against the key in DNS, and SPF passes for the "
        "sending IP.\n\n"
        "Cells: ✓ ok passed · ✗ FAIL failed · ! warn warning · — skip could not run · ▶ run running · "
        "… wait queued · · never run. A cell passes only when the probe was seen. Below the grid: the "
        "highlighted cell's reason, when it ran and how long it took.\n\n"
        "- **x** or **Enter** runs the highlighted cell (on the user column: the whole row).\n"
        "- **r** runs the highlighted row, **o** its column, **a** everything shown.\n"
        "- **w** widens from the pilots to all users (and back).\n"
        "- **c** cancels a run after asking; cells still waiting are marked not run.\n\n"
        "Probes are deleted once found. Every cell is kept in a SQLite file beside the project; the summary "
        "(pilots n/n pass; all n/n) is saved in the project and shown on the overview.\n"
    )

    def extra_panes(self) -> ComposeResult:
        with TabPane(_("Matrix"), id="tab-matrix"):
            yield MatrixPanel()
        with TabPane(_("Pilots"), id="tab-pilots"):
            yield UserTable(role="pilot")
