"""Every DNS message has a Simplified Chinese translation with the same placeholders."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import mailmig_tui
from mailmig_tui.core.i18n import load_catalog

ROOT = Path(mailmig_tui.__file__).parent
SOURCES = [*sorted((ROOT / "core" / "dns").glob("*.py")), ROOT / "commands" / "dns.py"]
SHARED = {"line {line}, ", "{file}: {where}key {key}: {message}"}  # the project-file messages of mailmig.po


def _msgids() -> set[str]:
    found: set[str] = set()
    for source in SOURCES:
        for node in ast.walk(ast.parse(source.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("_", "N_")
                    and node.args and isinstance(node.args[0], ast.Constant)):
                found.add(node.args[0].value)
    return found - SHARED


def test_every_dns_message_is_translated_to_chinese() -> None:
    catalog = load_catalog("zh_CN")
    ids = _msgids()
    assert len(ids) > 100
    missing = sorted(i for i in ids if i not in catalog)
    assert not missing
    for msgid in ids:
        assert set(re.findall(r"\{[^}]*\}", msgid)) == set(re.findall(r"\{[^}]*\}", catalog[msgid])), msgid
