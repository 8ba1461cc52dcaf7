"""`mailmig report PROJECT [--format md|html] [--out FILE]`: the migration report for the change ticket.

Read only: built from the project file and the records beside it (archive index, identity map, matrix
cells, DNS watch history, send log, monitor history); asks no server. Exit codes: 0 written; 2 usage
(including an --out that cannot be written); 3 project file missing or malformed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mailmig_tui.commands.handbook import write_text_atomically
from mailmig_tui.core import report
from mailmig_tui.core.errors import UsageError
from mailmig_tui.core.i18n import LANGUAGES, _, current_language
from mailmig_tui.core.store import load_project


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help=_("write the migration report (plan against what happened, backup, copy, DNS, "
                                        "tests, go-live)"),
                       description=_("Write the whole migration for the change ticket from what mailmig recorded (no "
                                     "server is asked): the plan against what happened, backup and copy per user, the "
                                     "DNS timeline, the test matrix, the go-live gate, open checklist items. Anything "
                                     "without a record says \"not run\" or \"unknown\". Exit codes: 0 written; 2 usage "
                                     "or the output cannot be written; 3 project file missing or malformed."))
    p.add_argument("project", type=Path)
    p.add_argument("--format", dest="fmt", choices=report.FORMATS, default="md",
                   help=_("Markdown or one self-contained HTML page that prints well (default: md)"))
    p.add_argument("--out", default=None,
                   help=_("where to write it; - for standard output (default: beside the project file)"))
    p.add_argument("--lang", dest="report_lang", choices=sorted(LANGUAGES),
                   help=_("language of the report (default: the interface's)"))
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    project = load_project(args.project)
    language = args.report_lang or current_language()
    text = report.render(project, args.project, language, args.fmt)
    if args.out == "-":
        sys.stdout.write(text)
        return 0
    out = Path(args.out) if args.out else report.default_out(args.project, args.fmt)
    if out.is_dir():
        out = out / report.default_out(args.project, args.fmt).name
    try:
        write_text_atomically(out, text)
    except OSError as exc:
        raise UsageError(_("cannot write {file}: {error}").format(file=out, error=exc.strerror or exc)) from None
    print(_("wrote {path}").format(path=out))
    return 0
