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


def test_the_command_table_names_what_each_module_registers() -> None:
    """cli.COMMANDS lets `mailmig backup` import only the backup module; it must say exactly what each registers."""
    import argparse
    import importlib

    from mailmig_tui.cli import COMMAND_MODULES, COMMANDS, _Parser

    for module in COMMAND_MODULES:
        parser = _Parser(prog="mailmig")
        sub = parser.add_subparsers(dest="command", parser_class=_Parser)
        importlib.import_module(module).register(sub)
        registered = {name for action in parser._actions if isinstance(action, argparse._SubParsersAction)
                      for name in action.choices}
        assert registered == {name for name, owner in COMMANDS.items() if owner == module}, module


def test_a_headless_command_loads_only_its_own_module() -> None:
    code = (
        "import sys\n"
        "from mailmig_tui.cli import build_parser\n"
        "build_parser('backup')\n"
        "print(','.join(sorted(m for m in sys.modules if m.startswith('mailmig_tui.commands.'))))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "mailmig_tui.commands.backup,mailmig_tui.commands.output"
