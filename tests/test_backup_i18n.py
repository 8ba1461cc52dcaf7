"""Every user-facing string of the backup area has a Simplified Chinese translation in backup.po."""

from __future__ import annotations

import ast
from pathlib import Path

from mailmig_tui.commands.lab import LAB_HELP
from mailmig_tui.core.i18n import parse_po

PKG = Path(__file__).resolve().parent.parent / "mailmig_tui"
FILES = ["core/credentials.py", "core/users_import.py", "commands/users.py", "commands/backup.py", "commands/lab.py",
         *[str(p.relative_to(PKG)) for p in (PKG / "core" / "backup").glob("*.py")]]


def test_backup_strings_are_translated() -> None:
    # The mail lab's strings of commands/lab.py live in matrix.po (the test-matrix area), its --oauth2
    # ones in oauth.po (the OAuth2 area).
    catalog = {**parse_po((PKG / "locale" / "zh_CN" / "backup.po").read_text(encoding="utf-8")),
               **parse_po((PKG / "locale" / "zh_CN" / "matrix.po").read_text(encoding="utf-8")),
               **parse_po((PKG / "locale" / "zh_CN" / "oauth.po").read_text(encoding="utf-8"))}
    missing = []
    for name in FILES:
        for node in ast.walk(ast.parse((PKG / name).read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "_" and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value not in catalog:
                    missing.append(f"{name}: {arg.value}")
    assert LAB_HELP in catalog
    assert not missing, "\n".join(missing)
