"""The core must stay free of UI libraries so the CLI and TUI drive the same engines."""

import pkgutil
import subprocess
import sys

import mailmig_tui.core


def test_core_imports_no_ui_library() -> None:
    modules = [m.name for m in pkgutil.walk_packages(mailmig_tui.core.__path__, "mailmig_tui.core.")]
    assert len(modules) >= 8
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich'))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "", f"core imported UI modules: {result.stdout}"


def test_headless_commands_do_not_import_textual() -> None:
    code = (
        "import sys\n"
        "from mailmig_tui.cli import build_parser\n"
        "build_parser()\n"
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] == 'textual')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
