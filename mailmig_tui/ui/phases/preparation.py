"""The Preparation phase's screen: its checklist first, then its own tabs."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import TabPane

from mailmig_tui.core.i18n import N_, _
from mailmig_tui.core.phases import Phase
from mailmig_tui.ui.screens.base import PhaseScreen
from mailmig_tui.ui.widgets.notices_panel import NoticesPanel
from mailmig_tui.ui.widgets.plan_panel import PlanPanel
from mailmig_tui.ui.widgets.provider_panel import ProviderPanel


class PreparationScreen(PhaseScreen):
    MODE = Phase.PREPARATION.value
    PHASE = Phase.PREPARATION
    HELP = N_(
        "# 1. Preparation\n\n"
        "Vet the new provider, get admin access to both sides, set the plan's dates and tell staff.\n\n"
        "Tabs: **Checklist**; **Plan** (the key dates: Enter edits one, Delete clears it; problems such as a "
        "cutover before the TTL was lowered are listed below); **Notices** (staff announcements from "
        "templates: **e** edits, **r** resets, **x** exports .eml files next to the project); **Providers** "
        "(old and new endpoints, MX, SPF and limits).\n"
    )

    def extra_panes(self) -> ComposeResult:
        with TabPane(_("Plan"), id="tab-plan"):
            yield PlanPanel()
        with TabPane(_("Notices"), id="tab-notices"):
            yield NoticesPanel()
        with TabPane(_("Providers"), id="tab-providers"):
            yield ProviderPanel()
