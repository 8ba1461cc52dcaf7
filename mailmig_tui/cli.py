"""The `mailmig` command: opens the TUI, or runs one headless engine command.

Exit codes (also in the README): 0 success; 1 the work ran but found or left problems (a user failed,
verify found a difference, DNS not ready); 2 usage error (including a CSV with bad rows, an unknown user in --users,
no terminal for the TUI, and `mailmig phase` against the phase's facts without --force); 3 project file
missing, malformed or cannot be written; 4 project locked by another mailmig or changed on disk; 5 credentials
unavailable; 70 internal error (a bug: the traceback is saved to a file named in the message); 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
import traceback
from pathlib import Path

from mailmig_tui import __version__
from mailmig_tui.commands.output import error_line, have_terminal
from mailmig_tui.core.errors import MailmigError, ProjectFileError, UsageError
from mailmig_tui.core.i18n import LANGUAGES, _, language_from_environment, set_language

# Each module has register(subparsers); later phases add theirs here, with the command names it registers
# (a test checks the names). Only the module of the command being run is imported: a headless command
# starts without loading every engine (the DNS stack alone takes a third of the start-up otherwise).
COMMANDS: dict[str, str] = {
    "new": "mailmig_tui.commands.project",
    "demo": "mailmig_tui.commands.project",
    "status": "mailmig_tui.commands.project",
    "phase": "mailmig_tui.commands.project",
    "presets": "mailmig_tui.commands.project",
    "dns": "mailmig_tui.commands.dns",
    "users": "mailmig_tui.commands.users",
    "credentials": "mailmig_tui.commands.credentials",
    "provider": "mailmig_tui.commands.provider",
    "serve": "mailmig_tui.commands.serve",
    "backup": "mailmig_tui.commands.backup",
    "verify": "mailmig_tui.commands.backup",
    "accounts": "mailmig_tui.commands.accounts",
    "copy": "mailmig_tui.commands.copy",
    "lab": "mailmig_tui.commands.lab",
    "notices": "mailmig_tui.commands.notices",
    "golive": "mailmig_tui.commands.golive",
    "handbook": "mailmig_tui.commands.handbook",
    "monitor": "mailmig_tui.commands.monitor",
    "test": "mailmig_tui.commands.matrix",
    "report": "mailmig_tui.commands.report",
}
COMMAND_MODULES = list(dict.fromkeys(COMMANDS.values()))
# Commands that log in somewhere: the credential file (when it is the store) starts unlocking at once.
NEEDS_CREDENTIALS = {"backup", "verify", "accounts", "copy", "test", "monitor", "golive"}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole parser, or (given a command name) one with only that command's module loaded."""
    parser = _Parser(
        prog="mailmig",
        description=_("Guide and perform an email-domain migration from an old mail provider to a new one."),
        epilog=_("Run `mailmig PROJECT.mailmig.toml` to open the TUI on a project, or `mailmig` alone to open "
                 "the project in this folder (or the demo if there is none)."),
    )
    parser.add_argument("--version", action="version", version=f"mailmig {__version__}")
    parser.add_argument("--lang", choices=sorted(LANGUAGES), help=_("language of the interface (default: project setting, then locale)"))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    p = sub.add_parser("open", help=_("open the TUI on a project (the default command)"))
    p.add_argument("project", type=Path, nargs="?")
    p.set_defaults(func=cmd_open)
    for name in [COMMANDS[command]] if command in COMMANDS else COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def find_project_here() -> Path | None:
    found = sorted(Path.cwd().glob("*.mailmig.toml"))
    return found[0] if len(found) == 1 else None


def cmd_open(args: argparse.Namespace) -> int:
    path = args.project or find_project_here()
    if path is None and list(Path.cwd().glob("*.mailmig.toml")):
        raise UsageError(_("several project files here; name the one to open"))
    if path is not None and not Path(path).is_file():
        # a missing file: say so (exit 3) before anything else (a malformed one is reported as the TUI opens it)
        raise ProjectFileError(_("{file}: no such project file").format(file=Path(path).absolute()))
    if not have_terminal():
        # Escape codes written into a pipe or a log help no one.
        raise UsageError(_("not a terminal: the TUI needs one (run it in a terminal, or use `mailmig status` "
                           "or `mailmig serve` for a browser)"))
    from mailmig_tui.ui.app import run_app  # textual is imported only when the TUI opens

    if path is None:
        from mailmig_tui.core.project_factory import create_demo

        print(_("No project file here: opening the demo project (create yours with `mailmig new`)."))
        return run_app(create_demo(), demo=True)
    return run_app(path)


def _language_for(argv: list[str], lang_flag: str | None) -> str:
    if lang_flag:
        return lang_flag
    # The project's own setting, when a project file is named and readable.
    for arg in argv:
        if arg.endswith(".mailmig.toml") and os.path.isfile(arg):
            try:
                import tomllib

                with open(arg, "rb") as handle:
                    value = tomllib.load(handle).get("language")
                if isinstance(value, str) and value in LANGUAGES:
                    return value
            except (OSError, ValueError):
                pass
    return language_from_environment()


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    lang = None
    if "--lang" in argv:
        i = argv.index("--lang")
        lang = argv[i + 1] if i + 1 < len(argv) else None
    set_language(_language_for(argv, lang))
    positional = [a for i, a in enumerate(argv) if not a.startswith("-") and (i == 0 or argv[i - 1] != "--lang")]
    if positional and positional[0] in NEEDS_CREDENTIALS and "-h" not in argv and "--help" not in argv:
        from mailmig_tui.core.credentials import unlock_in_background

        unlock_in_background()
    try:
        parser = build_parser(positional[0] if positional else None)
    except ModuleNotFoundError as exc:
        # An install that lacks one of mailmig's libraries (a venv made before a dependency was added).
        error_line(_("a library mailmig needs is not installed: {name} (reinstall: bash scripts/install.sh, or "
                     "pip install -e . in the checkout)").format(name=exc.name))
        return 70
    # `mailmig FILE` means `mailmig open FILE`.
    if not positional or (positional[0] not in COMMANDS and positional[0] != "open"):
        idx = argv.index(positional[0]) if positional else len(argv)
        argv.insert(idx, "open")
    try:
        args = parser.parse_args(argv)
        return int(args.func(args) or 0)
    except MailmigError as exc:
        error_line(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        error_line(_("interrupted"))
        return 130
    except BrokenPipeError:
        return 0
    except Exception:
        fd, name = tempfile.mkstemp(prefix="mailmig-crash-", suffix=".log")
        with os.fdopen(fd, "w") as handle:
            traceback.print_exc(file=handle)
        error_line(_("internal error (a bug in mailmig); details saved in {file}").format(file=name))
        return 70
