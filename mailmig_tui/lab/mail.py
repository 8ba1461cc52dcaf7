"""The whole mail lab: two providers with IMAP, SMTP and DNS, for the test matrix, its tests and `mailmig lab`.

- old and new provider: Dovecot (IMAP, LMTP, auth socket) + Postfix (port 25 on its own 127.x address,
  submission with STARTTLS and implicit TLS on 127.0.0.1, SASL through Dovecot, delivery over LMTP);
- the new provider signs submitted mail with OpenDKIM;
- each provider serves Thunderbird's autoconfig file over HTTP on its own 127.x address (port 80);
- the DNS lab (NSD on MAILMIG_DNS_LAB_PREFIX + 101/102, Unbound from +111) serves corp.test with its MX pointing at the old
  or the new provider, the DKIM key, SPF, SRV and autoconfig/autodiscover names.

Everything listens on 127.0.0.0/8; every process is stopped by its pid file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mailmig_tui.lab.dns import PREFIX, DnsLab, _default_zone_records, _stop_pidfile
from mailmig_tui.lab.dovecot import DovecotInstance, Lab, check_traversable
from mailmig_tui.lab.opendkim import OpenDkimInstance
from mailmig_tui.lab.postfix import PostfixInstance
from mailmig_tui.lab.webconfig import WebConfigServer

DOMAIN = "corp.test"


def mail_lab_prefix() -> str:
    """The /24 of 127/8 the tests' mail lab uses: not the DNS lab's (MAILMIG_DNS_LAB_PREFIX), which the DNS
    tests keep running for the whole session. MAILMIG_MAIL_LAB_PREFIX overrides it."""
    import os

    configured = os.environ.get("MAILMIG_MAIL_LAB_PREFIX")
    if configured:
        return configured
    a, b, c, _rest = (PREFIX + "0").split(".", 3)
    return f"{a}.{b}.{(int(c) + 100) % 256}."


def missing_binaries() -> list[str]:
    """The programs the mail lab needs that are not installed."""
    import os
    import shutil

    from mailmig_tui.lab.dovecot import dovecot_binary
    from mailmig_tui.lab.opendkim import opendkim_binary
    from mailmig_tui.lab.postfix import postfix_binary

    found = {"dovecot": dovecot_binary(), "postfix": postfix_binary(), "opendkim": opendkim_binary(),
             "opendkim-genkey": shutil.which("opendkim-genkey"), "nsd": shutil.which("nsd"),
             "unbound": shutil.which("unbound"), "dovecot-lmtpd": "/usr/lib/dovecot/lmtp" if os.path.exists("/usr/lib/dovecot/lmtp") else None}
    return [name for name, path in found.items() if path is None]


def zone_records(lab: MailLab, *, mx: str = "new", autoconfig: str = "new", dkim_txt: str | None = None,
                 spf: str = "new") -> dict[str, list[str]]:
    """The lab zones for a mail lab: MX at `mx` ("new"/"old"), autoconfig at `autoconfig`, the DKIM key
    (`dkim_txt`, default the signer's real one), corp.test's SPF allowing the `spf` provider."""
    records = _default_zone_records()
    mx_host = "mx1.newmail.test." if mx == "new" else "mx1.oldmail.test."
    client = "newmail.test." if autoconfig == "new" else "oldmail.test."
    key = lab.dkim.txt_record() if dkim_txt is None else dkim_txt
    spf_host = "spf.newmail.test" if spf == "new" else "spf.oldmail.test"
    records["corp.test"] = [
        f"@ 5 IN MX 10 {mx_host}",
        f'@ 5 IN TXT "v=spf1 include:{spf_host} -all"',
        '_dmarc 60 IN TXT "v=DMARC1; p=none; rua=mailto:dmarc@corp.test"',
        # A TXT string is at most 255 bytes: split the key the way zone files do.
        f"{lab.dkim.selector}._domainkey 5 IN TXT " + " ".join(f'"{key[i:i + 200]}"' for i in range(0, len(key), 200)),
        f"autoconfig 5 IN CNAME autoconfig.{client}",
        f"autodiscover 5 IN CNAME autodiscover.{client}",
        f"_imaps._tcp 5 IN SRV 0 1 993 imap.{client}",
        f"_submission._tcp 5 IN SRV 0 1 587 smtp.{client}",
        f"_autodiscover._tcp 5 IN SRV 0 1 443 autodiscover.{client}",
    ]
    for zone, side, web in (("newmail.test", lab.new_smtp, lab.new_web), ("oldmail.test", lab.old_smtp, lab.old_web)):
        records[zone] = [
            f"mx1 5 IN A {side.mx_address}",
            "imap 5 IN A 127.0.0.1",
            "smtp 5 IN A 127.0.0.1",
            f"autoconfig 5 IN A {web.address}",
            "autodiscover 5 IN A 127.0.0.1",
            f'spf 5 IN TXT "v=spf1 ip4:{side.mx_address} ip4:127.0.0.1 -all"' if side is lab.new_smtp else
            f'spf 5 IN TXT "v=spf1 ip4:{side.mx_address} -all"',
        ]
    return records


@dataclass
class MailLab:
    root: Path
    imap: Lab
    new_smtp: PostfixInstance
    old_smtp: PostfixInstance
    dkim: OpenDkimInstance
    dns_base: Path
    new_web: WebConfigServer
    old_web: WebConfigServer
    prefix: str = PREFIX
    dns: DnsLab | None = None
    state: dict[str, Any] = field(default_factory=dict)  # the zone options last applied

    @classmethod
    def create(cls, root: Path, domain: str = DOMAIN, prefix: str = PREFIX, **imap_options: Any) -> MailLab:
        root = root.absolute()
        imap = Lab.create(root, **imap_options)
        for dovecot in (imap.old, imap.new):  # LMTP and the SASL socket for this lab's Postfix
            dovecot.postfix_auth = True
            dovecot.write_config()
        check_traversable(root)
        dkim = OpenDkimInstance(root / "opendkim", domain)
        dkim.write_config()
        new_smtp = PostfixInstance.for_dovecot("new", root / "postfix-new", domain, prefix + "25", imap.new,
                                               milter=dkim.milter)
        old_smtp = PostfixInstance.for_dovecot("old", root / "postfix-old", domain, prefix + "26", imap.old)
        for inst in (new_smtp, old_smtp):
            inst.root.mkdir(parents=True, exist_ok=True)
            inst.root.chmod(0o711)
            inst.write_config()
        webs = [WebConfigServer(root / f"web-{side}", prefix + str(27 + i), domain, f"imap.{side}mail.test",
                                f"smtp.{side}mail.test") for i, side in enumerate(("new", "old"))]
        for web in webs:
            web.root.mkdir(parents=True, exist_ok=True)
        lab = cls(root, imap, new_smtp, old_smtp, dkim, root / "dns", webs[0], webs[1], prefix)
        lab.save()
        return lab

    @classmethod
    def load(cls, root: Path) -> MailLab:
        data = json.loads((root / "maillab.json").read_text())
        return cls(root.absolute(), Lab.load(root), PostfixInstance.from_json(data["new_smtp"]),
                   PostfixInstance.from_json(data["old_smtp"]), OpenDkimInstance.from_json(data["dkim"]),
                   Path(data["dns_base"]), WebConfigServer.from_json(data["new_web"]),
                   WebConfigServer.from_json(data["old_web"]), data["prefix"], None, data.get("state", {}))

    def save(self) -> None:
        self.imap.save()
        (self.root / "maillab.json").write_text(json.dumps({
            "new_smtp": self.new_smtp.to_json(), "old_smtp": self.old_smtp.to_json(), "dkim": self.dkim.to_json(),
            "dns_base": str(self.dns_base), "new_web": self.new_web.to_json(), "old_web": self.old_web.to_json(),
            "prefix": self.prefix, "state": self.state}, indent=2))

    @property
    def old(self) -> DovecotInstance:
        return self.imap.old

    @property
    def new(self) -> DovecotInstance:
        return self.imap.new

    def add_user(self, email: str, old_password: str, new_password: str) -> None:
        self.old.users[email] = old_password
        self.new.users[email] = new_password

    def start(self) -> None:
        for inst in (self.old, self.new):
            inst.write_users()
        self.save()
        try:
            self.imap.start()
            self.dkim.start()
            self.new_smtp.start()
            self.old_smtp.start()
            self.new_web.start()
            self.old_web.start()
            self.dns = DnsLab(base=self.dns_base, prefix=self.prefix, plain_resolvers=1, primary=self.prefix + "101",
                              secondary=self.prefix + "102", first_resolver=111)
            self.dns.start()
            self.apply_zone(**self.state)
        except BaseException:
            self.stop()
            raise

    def apply_zone(self, **options: Any) -> None:
        """Serve the zones for `options` (see zone_records) and wait until both NSDs do; flush resolvers."""
        assert self.dns is not None, "the DNS lab is not running in this process"
        self.state = dict(options)
        for zone, lines in zone_records(self, **options).items():
            if self.dns.records.get(zone) != lines:
                self.dns.set_records(zone, lines)
        self.dns.flush_resolvers()
        self.save()

    def stop(self) -> None:
        if self.dns is not None:
            self.dns.stop()
        else:  # another process started it (`mailmig lab start`): its pid files
            for pidfile in sorted(self.dns_base.glob("*/*.pid")):
                _stop_pidfile(pidfile)
        for inst in (self.old_smtp, self.new_smtp):
            inst.stop()
        for web in (self.new_web, self.old_web):
            web.stop()
        self.dkim.stop()
        self.imap.stop()

    def resolver(self) -> str:
        """The address of the lab's (first plain) resolver."""
        return self.prefix + "111"

    def authoritative(self) -> list[str]:
        return [self.prefix + "101", self.prefix + "102"]

    def project_sections(self) -> dict[str, Any]:
        """The `[dns]` and `[matrix]` sections of a project that uses this lab."""
        return {
            "dns": {"timeout": 1.0, "resolvers": [{"name": "lab", "address": self.resolver()}],
                    "authoritative": self.authoritative()},
            "matrix": {"probe_timeout": 20, "sending_ips": ["127.0.0.1"],
                       "client_hosts": ["imap.newmail.test", "smtp.newmail.test", "autoconfig.newmail.test",
                                        "autodiscover.newmail.test"],
                       "old_client_hosts": ["imap.oldmail.test", "smtp.oldmail.test", "autoconfig.oldmail.test",
                                            "autodiscover.oldmail.test"]},
        }

    def point_project(self, project: Any) -> None:
        """Point `project`'s endpoints (IMAP, SMTP submission, certificates pinned) and sections at the lab."""
        from mailmig_tui.core.model import Endpoint, MxHost

        project.old.imap = Endpoint("localhost", self.old.imaps_port, "ssl", tls_fingerprint=self.old.fingerprint)
        project.new.imap = Endpoint("localhost", self.new.imaps_port, "ssl", tls_fingerprint=self.new.fingerprint)
        project.new.smtp = Endpoint("localhost", self.new_smtp.submission_port, "starttls",
                                    tls_fingerprint=self.new_smtp.fingerprint)
        project.old.smtp = Endpoint("localhost", self.old_smtp.submission_port, "starttls",
                                    tls_fingerprint=self.old_smtp.fingerprint)
        project.new.mx = [MxHost("mx1.newmail.test", 10)]
        project.old.mx = [MxHost("mx1.oldmail.test", 10)]
        project.new.dkim_selectors = [self.dkim.selector]
        for key, value in self.project_sections().items():
            section = dict(project.sections.get(key) or {})
            section.update(value)
            project.sections[key] = section
