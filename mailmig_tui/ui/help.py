"""F1: what the screen in front of the user does, and every key that works there."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Markdown, Static

from mailmig_tui.core.i18n import N_, _
from mailmig_tui.ui.bindings import translate_bindings


def key_table(screen: Screen) -> str:
    rows = []
    seen = set()
    for _key, (_node, binding, _enabled, _tooltip) in screen.active_bindings.items():
        if not binding.description or binding.action in seen:
            continue
        seen.add(binding.action)
        rows.append(f"| `{screen.app.get_key_display(binding)}` | {binding.description} |")
    return f"| {_('Key')} | {_('Does')} |\n|---|---|\n" + "\n".join(rows)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,f1,q", "close", N_("Close"), id="help.close"),
    ]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical { width: 78; max-width: 100%; height: 100%; border: thick $primary; background: $surface; }
    HelpScreen #help-hint { dock: bottom; height: 1; color: $text-muted; padding: 0 1; }
    """

    def __init__(self, text: str, keys: str) -> None:
        super().__init__()
        translate_bindings(self)
        self.text = text
        self.keys = keys

    def compose(self) -> ComposeResult:
        with Vertical():
            with VerticalScroll(id="help-scroll"):
                yield Markdown(self.text + "\n\n## " + _("Keys on this screen") + "\n\n" + self.keys + "\n\n"
                               + _("Numbers **0–7** switch phase; **Ctrl+P** opens the command palette; **Ctrl+Q** quits."))
            yield Static(_("Esc, F1 or q closes this help · ↑↓ PgUp PgDn scroll"), id="help-hint")

    def on_mount(self) -> None:
        self.query_one("#help-scroll").focus()

    def action_close(self) -> None:
        self.dismiss(None)
