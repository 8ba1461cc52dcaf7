"""Our commands in the command palette (Ctrl+P): go to a phase, add an item, export, switch language."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

from mailmig_tui.core.i18n import LANGUAGES, _
from mailmig_tui.core.phases import Phase

if TYPE_CHECKING:
    from mailmig_tui.ui.app import MailmigApp


class MigrationCommands(Provider):
    def commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        app = cast("MailmigApp", self.app)
        items: list[tuple[str, str, Callable[[], object]]] = [
            (_("Go to: Overview"), _("the dashboard of all phases"), partial(app.action_goto, "dashboard")),
        ]
        for phase in Phase:
            items.append((_("Go to: {n}. {phase}").format(n=phase.number, phase=phase.label), phase.summary,
                          partial(app.action_goto, phase.value)))
            items.append((_("Add checklist item: {phase}").format(phase=phase.label),
                          _("a new item in that phase's checklist"), partial(app.action_add_item, phase.value)))
        items.append((_("Export staff notices (.eml)"), _("write the three notices next to the project file"),
                      app.action_export_notices))
        items.append((_("Export status report (.txt)"), _("the dashboard as plain text next to the project file"),
                      app.action_export_status))
        items.append((_("Export migration report"), _("the whole migration for the change ticket (HTML and Markdown) "
                                                      "next to the project file"), app.action_export_report))
        for code, name in LANGUAGES.items():
            items.append((_("Language: {name}").format(name=name), _("switch the interface language (saved in the project)"),
                          partial(app.action_set_language, code)))
        items.append((_("Help for this screen"), _("what it shows and its keys (F1)"), app.action_help))
        return items

    async def discover(self) -> Hits:
        for title, help_text, callback in self.commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self.commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)
