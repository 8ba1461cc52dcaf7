"""The one translation layer: every user-facing string goes through `_()`.

Catalogues are gettext `.po` files shipped in `mailmig_tui/locale/<lang>/mailmig.po`. We parse the
`.po` text ourselves (a few lines) instead of shipping compiled `.mo` files, so the catalogue in git is
the one that runs and there is no build step; the result is a standard `gettext.NullTranslations`.
"""

from __future__ import annotations

import ast
import contextlib
import gettext
import locale
import os
from collections.abc import Iterator
from importlib import resources

DOMAIN = "mailmig"
LANGUAGES = {"en": "English", "zh_CN": "简体中文"}
DEFAULT_LANGUAGE = "en"

_current: gettext.NullTranslations = gettext.NullTranslations()
_current_language = DEFAULT_LANGUAGE


class _CatalogTranslations(gettext.NullTranslations):
    def __init__(self, catalog: dict[str, str]) -> None:
        super().__init__()
        self._catalog = catalog

    def gettext(self, message: str) -> str:
        return self._catalog.get(message) or message

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        key = msgid1 if n == 1 else msgid2
        return self._catalog.get(key) or key


def parse_po(text: str) -> dict[str, str]:
    """Parse the msgid/msgstr pairs of a .po file (no plural forms, which we do not use)."""
    catalog: dict[str, str] = {}
    msgid: list[str] = []
    msgstr: list[str] = []
    target: list[str] | None = None
    fuzzy = False

    def flush() -> None:
        nonlocal fuzzy
        key = "".join(msgid)
        value = "".join(msgstr)
        if key and value and not fuzzy:
            catalog[key] = value
        msgid.clear()
        msgstr.clear()
        fuzzy = False

    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#,") and "fuzzy" in line:
            if msgstr:  # the flag belongs to the next entry: finish the previous one first
                flush()
            fuzzy = True
        if not line or line.startswith("#"):
            continue
        if line.startswith("msgid "):
            if msgstr:
                flush()
            target = msgid
            line = line[len("msgid ") :]
        elif line.startswith("msgstr "):
            target = msgstr
            line = line[len("msgstr ") :]
        if target is not None and line.startswith('"'):
            target.append(ast.literal_eval(line))
    flush()
    return catalog


def load_catalog(language: str) -> dict[str, str]:
    """All `.po` files of `language` merged (one per area: mailmig.po, backup.po, dns.po …)."""
    if language == DEFAULT_LANGUAGE:
        return {}
    folder = resources.files("mailmig_tui") / "locale" / language
    catalog: dict[str, str] = {}
    if folder.is_dir():
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".po"):
                catalog.update(parse_po(entry.read_text(encoding="utf-8")))
    return catalog


def normalize_language(value: str | None) -> str | None:
    """Map 'zh', 'zh_CN.UTF-8', 'zh-Hans' … to a language we ship; None if we have none for it."""
    if not value:
        return None
    base = value.split(".")[0].split("@")[0].replace("-", "_")
    if base in LANGUAGES:
        return base
    if base.lower().startswith("zh"):
        return "zh_CN"
    if base.lower().startswith("en") or base in ("C", "POSIX"):
        return "en"
    return None


def language_from_environment() -> str:
    for var in ("MAILMIG_LANG", "LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE"):
        found = normalize_language(os.environ.get(var))
        if found:
            return found
    try:
        found = normalize_language(locale.getlocale()[0])
    except ValueError:
        found = None
    return found or DEFAULT_LANGUAGE


def set_language(language: str) -> str:
    """Switch every later `_()` call to `language`; returns the language actually in force."""
    global _current, _current_language
    chosen = normalize_language(language) or DEFAULT_LANGUAGE
    _current = _CatalogTranslations(load_catalog(chosen))
    _current_language = chosen
    return chosen


def current_language() -> str:
    return _current_language


@contextlib.contextmanager
def using_language(language: str) -> Iterator[str]:
    """Translate into `language` inside the block (a handbook in Chinese from an English session), then
    restore the language in force before."""
    before = _current_language
    chosen = set_language(language)
    try:
        yield chosen
    finally:
        set_language(before)


def _(message: str) -> str:
    return _current.gettext(message)


def N_(message: str) -> str:
    """Mark a string for translation without translating it yet (translated where it is shown)."""
    return message
