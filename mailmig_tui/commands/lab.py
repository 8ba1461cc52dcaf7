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
Starts a local mail lab on loopback: Debian's Dovecot twice on 127.0.0.1 as the "old" and "new"
providers (IMAP with STARTTLS and IMAPS, a self-signed certificate made at start, a master user
"admin"), and, unless --no-smtp, Postfix for each provider (port 25 on its own 127.x MX address;
submission with STARTTLS and implicit TLS on 127.0.0.1, SASL through Dovecot, delivery over LMTP),
OpenDKIM signing the new provider's mail, and NSD + Unbound serving corp.test (MX at the new provider,
the DKIM key, SPF, SRV, autoconfig) on MAILMIG_DNS_LAB_PREFIX (default 127.0.53.). It creates users
and fills their old mailboxes over IMAP APPEND (the first user gets the hostile corpus: non-ASCII and
hostile folder names, odd headers and flags, multi-MB attachments).

  mailmig new corp.test
  mailmig lab start --dir ./lab --users 5 --messages 200 --project corp.test.mailmig.toml
  mailmig backup corp.test.mailmig.toml
  mailmig test corp.test.mailmig.toml --users all
  mailmig lab stop --dir ./lab

With --project, the project's old and new IMAP (and SMTP) endpoints are pointed at the lab
(certificates pinned by fingerprint), its [dns] and [matrix] sections at the lab's DNS, and the lab's
users and passwords are imported; without it, the lab's users.csv can be imported later with
`mailmig users import PROJECT LAB/users.csv`. Needs root (port 25 and 53 on 127.x) and the binaries
(scripts/install-system-packages.sh); everything listens on 127.0.0.0/8 only.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lab", help=_("start, stop or inspect a local test lab of real IMAP servers"),
                       description=_(LAB_HELP), formatter_class=argparse.RawDescriptionHelpFormatter)
    lsub = p.add_subparsers(dest="lab_command", metavar="ACTION", required=True)
    s = lsub.add_parser("start", help=_("start the lab and fill it with mail"))
    s.add_argument("--dir", type=Path, default=Path("mailmig-lab"), help=_("lab folder (default: ./mailmig-lab)"))
    s.add_argument("--users", type=int, default=3, help=_("number of users (default 3)"))
    s.add_argument("--messages", type=int, default=100, help=_("messages per user besides the first (default 100)"))
    s.add_argument("--domain", default="", help=_("users' mail domain (default: the project's, else corp.test; corp.example with --no-smtp)"))
    s.add_argument("--project", type=Path, help=_("point this project at the lab and import its users"))
    s.add_argument("--new-prefix", choices=["", "INBOX."], default="",
                   help=_("the new provider's namespace prefix: \"INBOX.\" makes it Courier-style (every folder "
                          "under INBOX., separator \".\", SPECIAL-USE Sent/Drafts/Trash/Junk folders)"))
    s.add_argument("--oauth2", action="store_true",
                   help=_("both Dovecots also accept OAuth2 (XOAUTH2, OAUTHBEARER) with tokens from a token command the "
                          "lab writes; with --project, the project logs in with it"))
    s.add_argument("--no-smtp", action="store_true",
                   help=_("IMAP only: no Postfix, OpenDKIM and DNS (the test matrix needs them)"))
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
    from mailmig_tui.lab.mail import DOMAIN as MAIL_DOMAIN
    from mailmig_tui.lab.mail import MailLab, missing_binaries

    if dovecot_binary() is None:
        raise MailmigError(_("dovecot is not installed here (apt-get install dovecot-imapd)"))
    if args.users < 1:
        raise UsageError(_("--users must be at least 1"))
    smtp = not args.no_smtp
    domain = args.domain
    if args.project and not domain:
        from mailmig_tui.core.store import load_project

        domain = load_project(args.project).domain
    domain = domain or (MAIL_DOMAIN if smtp else "corp.example")
    if smtp and domain != MAIL_DOMAIN:
        # The IMAP lab serves any domain; the SMTP and DNS parts only the lab zone's.
        print(_("Note: IMAP only. The mail lab (Postfix, OpenDKIM, DNS) serves {lab} only, and this lab's domain is "
                "{domain}; for the test matrix use a project for {lab}.").format(lab=MAIL_DOMAIN, domain=domain))
        smtp = False
    if smtp and missing_binaries():
        raise MailmigError(_("the mail lab needs {tools} (scripts/install-system-packages.sh), or use --no-smtp").format(
            tools=", ".join(missing_binaries())))
    mail: MailLab | None = None
    if (args.dir / "lab.json").exists():
        lab = Lab.load(args.dir)
        if lab.old.pid() or lab.new.pid():
            raise UsageError(_("a lab already runs in {dir}; stop it first").format(dir=args.dir))
        if (args.dir / "maillab.json").exists():
            mail = MailLab.load(args.dir)
            mail.start()
            lab = mail.imap
        else:
            lab.start()
    else:
        args.dir.mkdir(parents=True, exist_ok=True)
        special = ({"Sent Messages": "\\Sent", "Drafts": "\\Drafts", "Deleted Messages": "\\Trash", "Junk": "\\Junk"}
                   if args.new_prefix else None)
        if smtp:
            mail = MailLab.create(args.dir, new_prefix=args.new_prefix, new_special_use=special)
            lab = mail.imap
        else:
            lab = Lab.create(args.dir, new_prefix=args.new_prefix, new_special_use=special)
        if args.oauth2:
            for inst in (lab.old, lab.new):
                inst.oauth2 = True
                inst.write_config()
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
        if mail is not None:
            mail.start()
        else:
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
    if mail is not None:
        print(_("  new provider SMTP: submission STARTTLS localhost:{sub}, implicit TLS localhost:{smtps}, "
                "MX {mx}:25, DKIM selector {sel} (OpenDKIM)").format(
            sub=mail.new_smtp.submission_port, smtps=mail.new_smtp.smtps_port, mx=mail.new_smtp.mx_address,
            sel=mail.dkim.selector))
        print(_("  old provider SMTP: MX {mx}:25").format(mx=mail.old_smtp.mx_address))
        print(_("  DNS: {domain} served by NSD on {auth}, resolver {resolver}; MX points at the {side} provider").format(
            domain=MAIL_DOMAIN, auth=", ".join(mail.authoritative()), resolver=mail.resolver(),
            side=mail.state.get("mx", "new")))
    commands = _oauth2_commands(lab, args.dir)
    for side, command in commands.items():
        print(_("  {side} provider OAuth2 token command: {command}").format(side=_(side), command=command))
    if args.project:
        _point_project(args.project, lab, args.dir / "users.csv", mail, commands)
        print(_("Project {project} now points at the lab; try: mailmig backup {project}").format(project=args.project))
    else:
        print(_("Point a project at it: mailmig lab start --dir {dir} --project PROJECT (or set "
                "[old_provider.imap] host = \"localhost\", port = {port}, tls = \"ssl\", tls_fingerprint = "
                "\"{fp}\", then `mailmig users import PROJECT {dir}/users.csv`)").format(
            dir=args.dir, port=lab.old.imaps_port, fp=lab.old.fingerprint))
    print(_("Stop it with: mailmig lab stop --dir {dir}").format(dir=args.dir))
    return 0


def _oauth2_commands(lab: object, folder: Path) -> dict[str, str]:
    """side -> the token command for that side's Dovecot, when it accepts OAuth2."""
    from mailmig_tui.lab.oauth import write_token_command

    out = {}
    for side in ("old", "new"):
        inst = getattr(lab, side)
        if inst.oauth2:
            out[side], _deny = write_token_command(folder.absolute() / f"oauth2-{side}", inst.oauth2_keys_dir, ttl=3600)
    return out


def _point_project(path: Path, lab: object, users_csv: Path, mail: object = None,
                   oauth2: dict[str, str] | None = None) -> None:
    from mailmig_tui.core.credentials import open_credentials, terminal_passphrase_prompt
    from mailmig_tui.core.model import Endpoint, Project
    from mailmig_tui.core.store import open_for_update
    from mailmig_tui.core.users_import import apply_import, parse_users_csv
    from mailmig_tui.lab.dovecot import Lab

    assert isinstance(lab, Lab)

    def change(project: Project) -> None:
        project.old.imap = Endpoint("localhost", lab.old.imaps_port, "ssl", tls_fingerprint=lab.old.fingerprint)
        project.new.imap = Endpoint("localhost", lab.new.imaps_port, "ssl", tls_fingerprint=lab.new.fingerprint)
        if mail is not None:
            mail.point_project(project)  # type: ignore[attr-defined]
        for side, command in (oauth2 or {}).items():
            from mailmig_tui.core.model import Auth

            getattr(project, side).auth = Auth("oauth2", extra={"oauth2": "token-command", "token_command": command})

    with open_for_update(path) as store:
        store.update(change, log=_("pointed the project at the local test lab"))
        parsed = parse_users_csv(users_csv.read_text(encoding="utf-8"))
        apply_import(store, open_credentials(terminal_passphrase_prompt), parsed.rows)


def cmd_stop(args: argparse.Namespace) -> int:
    from mailmig_tui.lab.dovecot import Lab
    from mailmig_tui.lab.mail import MailLab

    if not (args.dir / "lab.json").exists():
        raise UsageError(_("no lab in {dir}").format(dir=args.dir))
    if (args.dir / "maillab.json").exists():
        MailLab.load(args.dir).stop()
    else:
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
    if (args.dir / "maillab.json").exists():
        from mailmig_tui.lab.mail import MailLab

        mail = MailLab.load(args.dir)
        for label, pid in (("postfix new", mail.new_smtp.pid()), ("postfix old", mail.old_smtp.pid()),
                           ("opendkim", mail.dkim.pid())):
            running = running and pid is not None
            print(_("{name}: {state}").format(
                name=label, state=_("running (pid {pid})").format(pid=pid) if pid else _("stopped")))
    return 0 if running else 1
