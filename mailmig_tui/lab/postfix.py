"""Run private Postfix instances on loopback as a lab provider's MTA.

Each instance has its own `config_directory` (main.cf, master.cf), `queue_directory` (with the master's
pid in `pid/master.pid`), `data_directory` and log file, and is started and stopped with
`postfix -c DIR start|stop` by whoever made it (the test fixtures, `mailmig lab`), never as the system
service. It listens on:

- port 25 on its own 127.x address (`mx_address`: the lab DNS's MX of that provider resolves there),
  accepting mail for the lab's domain like a provider's inbound MX;
- submission on 127.0.0.1: a free port with STARTTLS (what 587 is) and one with implicit TLS (what 465
  is), SASL AUTH checked through the provider's Dovecot auth socket, optionally signed by an OpenDKIM
  milter.

Mail for the domain goes to the provider's Dovecot over LMTP; anything else is refused
(`default_transport = error:`), so nothing ever leaves loopback.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from mailmig_tui.lab.dovecot import DovecotInstance, free_port, make_certificate
from mailmig_tui.lab.process import RootedJson, accepts, running_pid, terminate


def postfix_binary() -> str | None:
    return shutil.which("postfix") or ("/usr/sbin/postfix" if os.path.exists("/usr/sbin/postfix") else None)


@dataclass
class PostfixInstance(RootedJson):
    name: str
    root: Path
    domain: str
    mx_address: str  # port 25 listens here (a 127.x address of its own)
    lmtp_port: int  # the provider's Dovecot LMTP listener on 127.0.0.1
    auth_socket: str  # the provider's Dovecot auth socket (SASL)
    submission_port: int = 0  # STARTTLS, like 587
    smtps_port: int = 0  # implicit TLS, like 465
    smtp_port: int = 25
    milter: str = ""  # e.g. "inet:127.0.0.1:12345" (OpenDKIM), applied to submission only
    fingerprint: str = ""
    submission_enabled: bool = True

    @classmethod
    def for_dovecot(cls, name: str, root: Path, domain: str, mx_address: str, dovecot: DovecotInstance,
                    milter: str = "") -> PostfixInstance:
        return cls(name, root, domain, mx_address, dovecot.lmtp_port, str(dovecot.auth_socket), milter=milter)

    @property
    def config_dir(self) -> Path:
        return self.root / "etc"

    @property
    def queue_dir(self) -> Path:
        return self.root / "queue"

    @property
    def pid_file(self) -> Path:
        return self.queue_dir / "pid" / "master.pid"

    @property
    def log_file(self) -> Path:
        return self.root / "postfix.log"

    # --- setup --------------------------------------------------------------------------------

    def write_config(self) -> None:
        r = self.root
        for sub in ("etc", "queue", "data"):
            (r / sub).mkdir(parents=True, exist_ok=True)
        # Postfix insists: queue and config owned by root, data_directory by the mail owner.
        shutil.chown(r / "data", "postfix", "postfix")
        if not (r / "cert.pem").exists():
            _, _, self.fingerprint = make_certificate(r)
            os.chmod(r / "key.pem", 0o600)
        self.submission_port = self.submission_port or free_port()
        self.smtps_port = self.smtps_port or free_port()
        (self.config_dir / "main.cf").write_text(f"""# Written by mailmig_tui.lab for a private test instance; do not edit.
compatibility_level = 3.6
queue_directory = {r}/queue
data_directory = {r}/data
maillog_file = {self.log_file}
maillog_file_prefixes = {r}
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.{self.name}.lab.test
mydomain = {self.name}.lab.test
myorigin = $myhostname
mydestination =
mynetworks = 127.0.0.0/8
# Only addresses of a real interface may be named here (127.0.0.1 on lo); master.cf binds port 25 to
# the MX address explicitly, which Linux accepts for any 127.x address.
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
smtp_bind_address = 127.0.0.1
# Only the lab's domain is delivered (over LMTP into this provider's Dovecot); nothing else leaves.
virtual_mailbox_domains = {self.domain}
virtual_transport = lmtp:inet:127.0.0.1:{self.lmtp_port}
relay_domains =
default_transport = error:this lab MTA delivers only to {self.domain}
relay_transport = error:this lab MTA delivers only to {self.domain}
smtpd_reject_unlisted_recipient = no
smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination
smtpd_recipient_restrictions =
smtpd_banner = $myhostname ESMTP mailmig lab ({self.name})
smtpd_tls_cert_file = {r}/cert.pem
smtpd_tls_key_file = {r}/key.pem
smtpd_tls_security_level = may
smtpd_sasl_type = dovecot
smtpd_sasl_path = {self.auth_socket}
smtpd_sasl_auth_enable = no
disable_dns_lookups = yes
smtp_dns_support_level = disabled
lmtp_host_lookup = native
biff = no
notify_classes =
bounce_queue_lifetime = 0
maximal_queue_lifetime = 1h
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
default_process_limit = 50
alias_maps =
alias_database =
local_recipient_maps =
""")
        submission = ""
        if self.submission_enabled:
            milter = f"\n  -o smtpd_milters={self.milter}\n  -o milter_default_action=tempfail" if self.milter else ""
            common = ("  -o smtpd_sasl_auth_enable=yes\n"
                      "  -o smtpd_client_restrictions=permit_sasl_authenticated,reject\n"
                      "  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject" + milter)
            submission = (f"127.0.0.1:{self.submission_port} inet n - n - - smtpd\n"
                          "  -o smtpd_tls_security_level=encrypt\n" + common + "\n"
                          f"127.0.0.1:{self.smtps_port} inet n - n - - smtpd\n"
                          "  -o smtpd_tls_wrappermode=yes\n" + common + "\n")
        (self.config_dir / "master.cf").write_text(f"""# Written by mailmig_tui.lab; chroot off (column 5 = n) so paths are the lab's own.
{self.mx_address}:{self.smtp_port} inet n - n - - smtpd
{submission}pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
""")

    # --- lifecycle ----------------------------------------------------------------------------

    def _postfix(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        binary = postfix_binary()
        if binary is None:
            raise RuntimeError("postfix is not installed (scripts/install-system-packages.sh)")
        # Never a pipe for the daemon's output (it would keep it open): a file.
        with open(self.root / "postfix.stderr", "a") as out:
            return subprocess.run([binary, "-c", str(self.config_dir), *args], stdout=out, stderr=out,
                                  stdin=subprocess.DEVNULL, timeout=timeout, text=True, check=False)

    def _fatal_reason(self) -> str:
        """Postfix's commands log early fatal errors to syslog only (none here), or to stderr when it is
        a terminal: run the check again under `script` to read the reason."""
        script, binary = shutil.which("script"), postfix_binary()
        if script and binary:
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                out = subprocess.run([script, "-qc", f"{binary} -c {self.config_dir} check", "/dev/null"],
                                     capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
                lines = [line for line in out.stdout.splitlines() if "fatal" in line or "error" in line]
                if lines:
                    return lines[-1].strip()
        return f"see {self.log_file}"

    def pid(self) -> int | None:
        return running_pid(self.pid_file)

    def start(self, timeout: float = 30.0) -> None:
        if not (self.config_dir / "main.cf").exists():
            self.write_config()
        result = self._postfix("start", timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"postfix {self.name} did not start: {self._fatal_reason()}")
        ports = [(self.mx_address, self.smtp_port)]
        if self.submission_enabled:
            ports += [("127.0.0.1", self.submission_port), ("127.0.0.1", self.smtps_port)]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pid() is not None and all(accepts(h, p) for h, p in ports):
                return
            time.sleep(0.05)
        raise RuntimeError(f"postfix {self.name} does not listen on {ports}; see {self.log_file}")

    def reload(self) -> None:
        """Re-read main.cf/master.cf (after `submission_enabled` or `milter` changed and write_config())."""
        self._postfix("reload")

    def stop(self, timeout: float = 15.0) -> None:
        pid = self.pid()
        if pid is None:
            return
        deadline = terminate(pid, timeout, with_children=True)  # SIGTERM: what `postfix stop` does, by the pid file
        while time.monotonic() < deadline and accepts(self.mx_address, self.smtp_port):
            time.sleep(0.05)

    def queue_empty(self) -> bool:
        folders = ("incoming", "active", "deferred", "maildrop")
        return not any(any((self.queue_dir / f).rglob("*")) for f in folders if (self.queue_dir / f).exists())

