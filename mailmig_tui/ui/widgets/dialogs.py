"""Modal dialogs reused by every screen: confirm, a small form, a multi-line text editor, a text to read."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.console import RenderableType
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static, TextArea

from mailmig_tui.core.i18n import N_, _
from mailmig_tui.ui.bindings import translate_bindings


class _Dialog(ModalScreen):
    BINDINGS = [Binding("escape", "cancel", N_("Cancel"), id="dialog.cancel")]
    DEFAULT_CSS = """
    _Dialog { align: center middle; }
    _Dialog > Vertical {
        width: 74; max-width: 100%; height: auto; max-height: 100%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    _Dialog .title { text-style: bold; width: 1fr; }
    _Dialog .error { color: $error; text-style: bold; height: auto; }
    _Dialog .buttons { height: 3; align-horizontal: right; }
    _Dialog Button { margin-left: 1; min-width: 10; }
    """

    def __init__(self) -> None:
        super().__init__()
        translate_bindings(self)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmDialog(_Dialog):
    BINDINGS = [Binding("y", "confirm", N_("Yes"), id="dialog.yes"), Binding("n", "cancel", N_("No"), id="dialog.no")]

    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.message, classes="title")
            with Horizontal(classes="buttons"):
                yield Button(_("Yes (y)"), id="yes", variant="error")
                yield Button(_("No (n)"), id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def action_confirm(self) -> None:
        self.dismiss(True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


@dataclass
class Field:
    name: str
    label: str
    value: str = ""
    placeholder: str = ""
    # Returns an error message for a bad value, or None when it is fine.
    validate: Callable[[str], str | None] | None = None
    password: bool = False  # typed characters are shown as dots (a passphrase)


class FormDialog(_Dialog):
    """A few labelled inputs. Enter on the last input (or Save) validates; Escape cancels.

    Dismisses with {name: value} or None.
    """

    DEFAULT_CSS = """
    FormDialog Label { margin-top: 0; color: $text-muted; }
    FormDialog Input { margin: 0; }
    FormDialog .compact Input { height: 1; border: none; padding: 0 1; background: $boost; }
    FormDialog .compact Input:focus { background: $primary 40%; }
    """

    def __init__(self, title: str, fields: list[Field], submit: str = "", compact: bool = False) -> None:
        super().__init__()
        self.title_text = title
        self.fields = fields
        self.submit_label = submit
        self.compact = compact  # one-line inputs, so that eight fields fit in 80x24

    def compose(self) -> ComposeResult:
        with Vertical(classes="compact" if self.compact else ""):
            yield Static(self.title_text, classes="title")
            for f in self.fields:
                yield Label(f.label)
                yield Input(f.value, placeholder=f.placeholder, id=f"field-{f.name}", password=f.password)
            yield Static("", id="form-error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button(self.submit_label or _("Save"), id="save", variant="primary")
                yield Button(_("Cancel"), id="cancel")

    def values(self) -> dict[str, str]:
        return {f.name: self.query_one(f"#field-{f.name}", Input).value for f in self.fields}

    def _submit(self) -> None:
        values = self.values()
        for f in self.fields:
            problem = f.validate(values[f.name]) if f.validate else None
            if problem:
                self.query_one("#form-error", Static).update(f"✗ {f.label}: {problem}")
                self.query_one(f"#field-{f.name}", Input).focus()
                return
        self.dismiss(values)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        inputs = list(self.query(Input))
        index = inputs.index(event.input)
        if index + 1 < len(inputs):
            inputs[index + 1].focus()
        else:
            self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self._submit()
        else:
            self.dismiss(None)


class TextDialog(_Dialog):
    """Edit a longer text (a notice template, a note). Ctrl+S saves, Escape cancels."""

    BINDINGS = [Binding("ctrl+s", "save", N_("Save"), id="dialog.save")]
    DEFAULT_CSS = """
    TextDialog > Vertical { width: 100%; height: 100%; }
    TextDialog TextArea { height: 1fr; }
    """

    def __init__(self, title: str, text: str, hint: str = "", validate: Callable[[str], str | None] | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.text = text
        self.hint = hint
        self.validate = validate  # returns what is wrong (the dialog stays open and says so), or None

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.title_text, classes="title")
            if self.hint:
                yield Static(self.hint)
            yield TextArea(self.text, id="text", soft_wrap=True)
            yield Static("", id="text-error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button(_("Save (Ctrl+S)"), id="save", variant="primary")
                yield Button(_("Cancel (Esc)"), id="cancel")

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()

    def action_save(self) -> None:
        text = self.query_one(TextArea).text
        problem = self.validate(text) if self.validate else None
        if problem:
            self.query_one("#text-error", Static).update(f"✗ {problem}")
            return
        self.dismiss(text)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.action_save()
        else:
            self.dismiss(None)


class InfoDialog(_Dialog):
    """Something to read (and copy): Enter or Escape closes, c copies `copy_text` to the clipboard."""

    BINDINGS = [
        Binding("enter", "cancel", N_("Close"), id="dialog.close"),
        Binding("c", "copy", N_("Copy"), id="dialog.copy"),
    ]
    DEFAULT_CSS = """
    InfoDialog > Vertical > VerticalScroll { height: auto; max-height: 18; }
    """

    def __init__(self, title: str, body: RenderableType, copy_text: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.copy_text = copy_text

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.title_text, classes="title")
            with VerticalScroll():
                yield Static(self.body, id="info-body")
            with Horizontal(classes="buttons"):
                if self.copy_text:
                    yield Button(_("Copy (c)"), id="copy")
                yield Button(_("Close (Esc)"), id="close", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#close", Button).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return bool(self.copy_text) if action == "copy" else True

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.copy_text)
        self.app.notify(_("Copied to the clipboard (where the terminal allows it)"), timeout=4)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "copy":
            self.action_copy()
        else:
            self.dismiss(None)
