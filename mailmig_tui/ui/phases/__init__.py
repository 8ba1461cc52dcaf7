"""One module (or package) per phase: its screen and the panels only it uses.

Panels shared by several phases live in `mailmig_tui.ui.widgets`.
"""

from __future__ import annotations

from mailmig_tui.ui.phases.accounts import AccountsScreen
from mailmig_tui.ui.phases.aftercare import AftercareScreen
from mailmig_tui.ui.phases.backup import BackupScreen
from mailmig_tui.ui.phases.dns import DnsScreen
from mailmig_tui.ui.phases.golive import GoLiveScreen
from mailmig_tui.ui.phases.preparation import PreparationScreen
from mailmig_tui.ui.phases.testing import TestingScreen
from mailmig_tui.ui.screens.base import PhaseScreen

__all__ = ["PHASE_SCREENS", "AccountsScreen", "AftercareScreen", "BackupScreen", "DnsScreen", "GoLiveScreen",
           "PreparationScreen", "TestingScreen"]

PHASE_SCREENS: dict[str, type[PhaseScreen]] = {
    s.MODE: s
    for s in (PreparationScreen, BackupScreen, DnsScreen, AccountsScreen, TestingScreen, GoLiveScreen, AftercareScreen)
}
