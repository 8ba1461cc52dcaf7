"""One line naming every phase with its key, the current one highlighted: the way around the app."""

from __future__ import annotations

from rich.text import Text
from textual.events import Click
from textual.widget import Widget

from mailmig_tui.core.i18n import _
from mailmig_tui.core.model import Project
from mailmig_tui.core.phases import Phase


class PhaseBar(Widget):
    DEFAULT_CSS = """
    PhaseBar { height: 1; width: 1fr; background: $panel; }
    """

    def __init__(self, current: str, project: Project) -> None:
        super().__init__()
        self.current = current
        self.project = project
        self._spans: list[tuple[int, int, str]] = []

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        self._spans = []
        entries = [("dashboard", "0", _("Overview"), "")]
        entries += [(p.value, str(p.number), p.short, self.project.phases[p].symbol) for p in Phase]
        for mode, key, label, symbol in entries:
            start = text.cell_len
            chunk = f" {key}{symbol}{label} "
            if mode == self.current:
                text.append(chunk, style="bold reverse")
            else:
                text.append(key, style="bold")
                text.append(f"{symbol}{label} ")
                chunk = f"{key}{symbol}{label} "
            self._spans.append((start, text.cell_len, mode))
        return text

    def update_project(self, project: Project) -> None:
        self.project = project
        self.refresh()

    def on_click(self, event: Click) -> None:
        for start, end, mode in self._spans:
            if start <= event.x < end:
                self.app.switch_mode(mode)
                break
