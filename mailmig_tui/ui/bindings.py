"""Key bindings are declared in English with N_() and translated per instance, so the footer follows
the language chosen at start-up (a language switch restarts the interface)."""

from __future__ import annotations

import dataclasses

from textual.dom import DOMNode

from mailmig_tui.core.i18n import _


def translate_bindings(node: DOMNode) -> None:
    for key, bindings in node._bindings.key_to_bindings.items():
        node._bindings.key_to_bindings[key] = [
            dataclasses.replace(b, description=_(b.description)) if b.description else b for b in bindings
        ]
