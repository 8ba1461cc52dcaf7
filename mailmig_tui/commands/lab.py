"""`mailmig lab start|stop|status`: run the real-server test lab by hand (Dovecot as old and new provider)."""

from __future__ import annotations

import argparse
import csv
import secrets
import subprocess
from pathlib import Path

from mailmig_tui.core.errors import MailmigError, UsageError
from mailmig_tui.core.i18n import _

LAB_HELP = """\
Starts Debian's Dovecot twice on 127.0.0.1 as the "old" and "new" providers (IMAP with STARTTLS and
IMAPS, a self-signed certificate made at start, a master user "admin"), creates users and fills their
old mailboxes over IMAP APPEND (the first user gets the hostile corpus: non-ASCII and hostile folder
names, odd headers and flags, multi-MB attachments).

  mailmig lab start --dir ./lab --users 5 --messages 200 --project corp.example.mailmig.toml
  mailmig backup corp.example.mailmig.toml
  mailmig verify corp.example.mailmig.toml
  mailmig lab stop --dir ./lab

With --project, the project's old and new IMAP endpoints are pointed at the lab (certificate pinned
by fingerprint) and the lab's users and passwords are imported; without it, the lab's users.csv can be
imported later with `mailmig users import PROJECT LAB/users.csv`. Needs root or the dovecot binary
(apt-get install dovecot-imapd); everything listens on 127.0.0.1 only.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lab", help=_("start, stop or inspect a local test lab of real IMAP servers"),
                       description=_(LAB_HELP), formatter_class=argparse.RawDescriptionHelpFormatter)
    lsub = p.add_subparsers(dest="lab_command", metavar="ACTION", required=True)
    s = lsub.add_parser("start", help=_("start the lab and fill it with mail"))
    s.add_argument("--dir", type=Path, default=Path("mailmig-lab"), help=_("lab folder (default: ./mailmig-lab)"))
    s.add_argument("--users", type=int, default=3, help=_("number of users (default 3)"))
    s.add_argument("--messages", type=int, default=100, help=_("messages per user besides the first (default 100)"))
    s.add_argument("--domain", default="", help=_("users' mail domain (default: the project's, else corp.example)"))
    s.add_argument("--project", type=Path, help=_("point this project at the lab and import its users"))
    s.add_argument("--new-prefix", choices=["", "INBOX."], default="",
                   help=_("the new provider's namespace prefix: \"INBOX.\" makes it Courier-style (every folder "
                          "under INBOX., separator \".\", SPECIAL-USE Sent/Drafts/Trash/Junk folders)"))
    s.set_defaults(func=cmd_start)
    for name, func, text in (("stop", cmd_stop, _("stop the lab's servers")),
                             ("status", cmd_status, _("say whether the lab's servers run"))):
        x = lsub.add_parser(name, help=text)
        x.add_argument("--dir", type=Path, default=Path("mailmig-lab"), help=_("lab folder (default: ./mailmig-lab)"))
        x.set_defaults(func=func)


def cmd_start(args: argparse.Namespace) -> int:
    try:
        return _start(args)
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        raise MailmigError(_("the lab could not start: {error}").format(error=exc)) from None


def _start(args: argparse.Namespace) -> int:
    from mailmig_tui.lab.corpus import bulk_corpus, fill_mailbox, hostile_corpus
    from mailmig_tui.lab.dovecot import MASTER_PASSWORD, MASTER_USER, Lab, dovecot_binary

    if dovecot_binary() is None:
        raise MailmigError(_("dovecot is not installed here (apt-get install dovecot-imapd)"))
    if args.users < 1:
        raise UsageError(_("--users must be at least 1"))
    domain = args.domain
    if args.project and not domain:
        from mailmig_tui.core.store import load_project

        domain = load_project(args.project).domain
    domain = domain or "corp.example"
    if (args.dir / "lab.json").exists():
        lab = Lab.load(args.dir)
        if lab.old.pid() or lab.new.pid():
            raise UsageError(_("a lab already runs in {dir}; stop it first").format(dir=args.dir))
        lab.start()
    else:
        args.dir.mkdir(parents=True, exist_ok=True)
        special = ({"Sent Messages": "\\Sent", "Drafts": "\\Drafts", "Deleted Messages": "\\Trash", "Junk": "\\Junk"}
                   if args.new_prefix else None)
        lab = Lab.create(args.dir, new_prefix=args.new_prefix, new_special_use=special)
        rows = []
        for i in range(1, args.users + 1):
            email = f"user{i}@{domain}"
            old_pw, new_pw = secrets.token_urlsafe(9), secrets.token_urlsafe(9)
            lab.old.users[email] = old_pw
            lab.new.users[email] = new_pw
            rows.append({"email": email, "old_password": old_pw, "new_password": new_pw, "display_name": f"User {i}"})
        for inst in (lab.old, lab.new):
            inst.write_users()
        lab.save()
        with open(args.dir / "users.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=["email", "old_password", "new_password", "display_name"])
            writer.writeheader()
            writer.writerows(rows)
        (args.dir / "users.csv").chmod(0o600)
        lab.start()
        for i, row in enumerate(rows):
            corpus = hostile_corpus() if i == 0 else bulk_corpus(args.messages, seed=i)
            n = fill_mailbox("127.0.0.1", lab.old.imap_port, row["email"], row["old_password"], corpus)
            print(_("  {email}: {n} messages").format(email=row["email"], n=n))
    print(_("Lab running in {dir}").format(dir=args.dir.absolute()))
    for inst in (lab.old, lab.new):
        print(_("  {name} provider: IMAP+STARTTLS localhost:{imap}, IMAPS localhost:{imaps}, separator {sep!r}").format(
            name=inst.name, imap=inst.imap_port, imaps=inst.imaps_port, sep=inst.separator)
              + (_(", prefix {prefix!r}").format(prefix=inst.prefix) if inst.prefix else ""))
        print(_("    certificate: {fp}").format(fp=inst.fingerprint))
    print(_("  master user: {user} / {pw} (log in as user*{user}, or SASL PLAIN authzid)").format(
        user=MASTER_USER, pw=MASTER_PASSWORD))
    if args.project:
        _point_project(args.project, lab, args.dir / "users.csv")
        print(_("Project {project} now points at the lab; try: mailmig backup {project}").format(project=args.project))
    else:
        print(_("Point a project at it: mailmig lab start --dir {dir} --project PROJECT (or set "
                "[old_provider.imap] host = \"localhost\", port = {port}, tls = \"ssl\", tls_fingerprint = "
                "\"{fp}\", then `mailmig users import PROJECT {dir}/users.csv`)").format(
            dir=args.dir, port=lab.old.imaps_port, fp=lab.old.fingerprint))
    print(_("Stop it with: mailmig lab stop --dir {dir}").format(dir=args.dir))
    return 0


def _point_project(path: Path, lab: object, users_csv: Path) -> None:
    from mailmig_tui.core.credentials import open_credentials, terminal_passphrase_prompt
    from mailmig_tui.core.model import Endpoint, Project
    from mailmig_tui.core.store import open_for_update
    from mailmig_tui.core.users_import import apply_import, parse_users_csv
    from mailmig_tui.lab.dovecot import Lab

    assert isinstance(lab, Lab)

    def change(project: Project) -> None:
        project.old.imap = Endpoint("localhost", lab.old.imaps_port, "ssl", tls_fingerprint=lab.old.fingerprint)
        project.new.imap = Endpoint("localhost", lab.new.imaps_port, "ssl", tls_fingerprint=lab.new.fingerprint)

    with open_for_update(path) as store:
        store.update(change, log=_("pointed the project at the local test lab"))
        parsed = parse_users_csv(users_csv.read_text(encoding="utf-8"))
        apply_import(store, open_credentials(terminal_passphrase_prompt), parsed.rows)


def cmd_stop(args: argparse.Namespace) -> int:
    from mailmig_tui.lab.dovecot import Lab

    if not (args.dir / "lab.json").exists():
        raise UsageError(_("no lab in {dir}").format(dir=args.dir))
    Lab.load(args.dir).stop()
    print(_("lab stopped"))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from mailmig_tui.lab.dovecot import Lab

    if not (args.dir / "lab.json").exists():
        print(_("no lab in {dir}").format(dir=args.dir))
        return 1
    lab = Lab.load(args.dir)
    running = True
    for inst in (lab.old, lab.new):
        pid = inst.pid()
        running = running and pid is not None
        print(_("{name}: {state}, IMAP {imap}, IMAPS {imaps}").format(
            name=inst.name, state=_("running (pid {pid})").format(pid=pid) if pid else _("stopped"),
            imap=inst.imap_port, imaps=inst.imaps_port))
    return 0 if running else 1
