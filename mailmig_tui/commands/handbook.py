"""`mailmig handbook`: the newcomer handbook for new staff, in English or Simplified Chinese."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from mailmig_tui.core import handbook
from mailmig_tui.core.errors import UsageError
from mailmig_tui.core.i18n import LANGUAGES, _, current_language
from mailmig_tui.core.store import load_project


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("handbook", help=_("write the newcomer handbook (webmail, client settings, who to ask, FAQ)"))
    p.add_argument("project", type=Path)
    p.add_argument("--lang", dest="handbook_lang", choices=sorted(LANGUAGES),
                   help=_("language of the handbook (default: the interface's)"))
    p.add_argument("--format", dest="fmt", choices=handbook.FORMATS, default="md",
                   help=_("Markdown or one self-contained HTML page (default: md)"))
    p.add_argument("--out", default=None,
                   help=_("where to write it; - for standard output (default: beside the project file)"))
    p.set_defaults(func=cmd_handbook)


def default_out(project_path: Path, language: str, fmt: str) -> Path:
    stem = project_path.name.removesuffix(".mailmig.toml")
    return project_path.parent / f"{stem}.handbook.{language}.{fmt}"


def write_text_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cmd_handbook(args: argparse.Namespace) -> int:
    project = load_project(args.project)
    language = args.handbook_lang or current_language()
    text = handbook.render(project, language, args.fmt)
    if args.out == "-":
        sys.stdout.write(text)
        return 0
    out = Path(args.out) if args.out else default_out(args.project, language, args.fmt)
    if out.is_dir():
        out = out / default_out(args.project, language, args.fmt).name
    try:
        write_text_atomically(out, text)
    except OSError as exc:
        raise UsageError(_("cannot write {file}: {error}").format(file=out, error=exc.strerror or exc)) from None
    print(_("wrote {path}").format(path=out))
    return 0
