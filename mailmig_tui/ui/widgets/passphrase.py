"""Unlocking the encrypted credential file from the TUI: asked once per session, in a password dialog."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual.app import App

from mailmig_tui.core.credentials import PassphrasePrompt, default_file_path, env_passphrase_prompt, needs_passphrase
from mailmig_tui.core.i18n import _
from mailmig_tui.ui.widgets.dialogs import Field, FormDialog


def tilde(path: Path | str) -> str:
    text, home = str(path), str(Path.home())
    return "~" + text[len(home):] if home not in ("", "/") and (text == home or text.startswith(home + "/")) else text


def with_passphrase(app: App[object], then: Callable[[str | None], None]) -> None:
    """Run `then(passphrase)`, asking for the passphrase first if the encrypted store needs it."""
    if not needs_passphrase():
        then(None)
        return
    path = default_file_path()
    new = not path.exists()
    fields = [Field("passphrase", _("Passphrase"), password=True,
                    validate=lambda v: None if v else _("type the passphrase"))]
    if new:
        fields.append(Field("repeat", _("Repeat the passphrase"), password=True))

    def done(values: dict[str, str] | None) -> None:
        if not values:
            return
        if new and values["passphrase"] != values["repeat"]:
            app.notify(_("the two passphrases differ"), severity="error")
            return
        then(values["passphrase"])

    title = _("Unlock the credential file {path}").format(path=tilde(path))
    app.push_screen(FormDialog(title, fields, submit=_("Unlock")), done)


def prompt_for(passphrase: str | None) -> PassphrasePrompt:
    """The passphrase typed in the dialog, else MAILMIG_PASSPHRASE (never the terminal: the TUI owns it)."""
    return (lambda _new: passphrase) if passphrase else env_passphrase_prompt
