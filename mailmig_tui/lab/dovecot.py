"""Run private Dovecot instances on loopback: IMAP with STARTTLS and IMAPS, passwd-file users, a master user.

Each instance lives in its own folder (config, certificate, passwd files, mail, logs, base_dir) and is
stopped by the pid in its base_dir, never by process name. See /work/shared/LAB-NOTES.md for the traps
this works around (root, inherited stderr, zombies).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from mailmig_tui.lab.process import RootedJson, accepts, running_pid, terminate
from mailmig_tui.lab.tools import find_tool

MAIL_USER = "mail"  # Dovecot refuses to run mail processes as root
MASTER_USER = "admin"
# A fresh master password for every lab process: nothing guessable listens, even on loopback.
MASTER_PASSWORD = secrets.token_urlsafe(12)


def dovecot_binary() -> str | None:
    return find_tool("dovecot")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_certificate(folder: Path) -> tuple[Path, Path, str]:
    """A self-signed certificate for localhost and 127.0.0.1; returns (cert, key, sha256 fingerprint)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "30", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    der = ssl.PEM_cert_to_DER_cert(cert.read_text())
    return cert, key, "sha256:" + hashlib.sha256(der).hexdigest()


@dataclass
class DovecotInstance(RootedJson):
    name: str
    root: Path
    imap_port: int = 0
    imaps_port: int = 0
    lmtp_port: int = 0  # delivery from the lab's Postfix (mailmig_tui/lab/postfix.py)
    separator: str = "/"
    fingerprint: str = ""
    users: dict[str, str] = field(default_factory=dict)
    # The personal namespace's prefix: "" (folders at the top, like most providers) or "INBOX." (Courier
    # style: every folder under INBOX, as some hosted providers still do).
    prefix: str = ""
    # Folders the server announces with a SPECIAL-USE flag (RFC 6154), name -> flag, e.g.
    # {"Sent Messages": "\\Sent"}; created for every user on first login. Empty: no SPECIAL-USE.
    special_use: dict[str, str] = field(default_factory=dict)
    # Where mail lives; "" = the lab's own sdbox store. A reader of a mailmig archive sets, e.g.,
    # "maildir:/archive/users/%u:LAYOUT=Maildir++:UTF-8:INDEX=…:CONTROL=…".
    mail_location: str = ""
    mail_plugins: str = ""
    plugin_settings: str = ""  # lines inside `plugin { }`
    # Also accept OAuth2 logins (XOAUTH2, OAUTHBEARER): JWTs signed with the key in oauth2_keys_dir
    # (see lab/oauth.py), validated locally by Dovecot's oauth2 passdb.
    oauth2: bool = False

    @property
    def oauth2_keys_dir(self) -> Path:
        return self.root / "oauth2-keys"
    # Dovecot's mail_fsync: "optimized" (its default: new mail is fsynced before the server says OK) or
    # "never" (benchmarks that measure the tools rather than this machine's disk).
    mail_fsync: str = "optimized"

    @property
    def config(self) -> Path:
        return self.root / "dovecot.conf"

    @property
    def pid_file(self) -> Path:
        return self.root / "run" / "master.pid"

    # The mail lab's Postfix authenticates through this Dovecot (`auth_socket`); only then is the auth
    # service's block declared (declaring it changes how its process runs: other tests fake an auth outage
    # with an unreadable user file, which an auth process of another kind would still read).
    postfix_auth: bool = False

    def _postfix_config(self) -> str:
        """LMTP for delivery and the SASL socket for SMTP AUTH, only for the mail lab's instances."""
        if not self.postfix_auth:
            return ""
        return (f"# The lab's Postfix delivers over LMTP and checks SMTP AUTH through this instance's auth socket.\n"
                f"service lmtp {{\n  inet_listener lmtp {{\n    address = 127.0.0.1\n    port = {self.lmtp_port}\n  }}\n}}\n"
                "service auth {\n  unix_listener auth-postfix {\n    mode = 0666\n  }\n}\n"
                "lmtp_rcpt_check_quota = no\n")

    @property
    def auth_socket(self) -> Path:
        """The SASL socket Postfix's smtpd authenticates through (`smtpd_sasl_type = dovecot`)."""
        return self.root / "run" / "auth-postfix"

    @property
    def cert(self) -> Path:
        return self.root / "cert.pem"

    # --- setup --------------------------------------------------------------------------------

    def write_config(self) -> None:
        r = self.root
        for sub in ("run", "state", "mail"):
            (r / sub).mkdir(parents=True, exist_ok=True)
        shutil.chown(r / "mail", MAIL_USER, MAIL_USER)
        if not self.cert.exists():
            _, _, self.fingerprint = make_certificate(r)
        if not (r / "dh.pem").exists():
            subprocess.run(["openssl", "genpkey", "-genparam", "-algorithm", "DH", "-pkeyopt", "group:ffdhe2048",
                            "-out", str(r / "dh.pem")], check=True, capture_output=True)
        self.imap_port = self.imap_port or free_port()
        self.imaps_port = self.imaps_port or free_port()
        self.lmtp_port = self.lmtp_port or free_port()
        (r / "master.passwd").write_text(f"{MASTER_USER}:{{PLAIN}}{MASTER_PASSWORD}\n")
        _readable_by_auth(r / "master.passwd")
        oauth2_passdb, mechanisms, anvil_extra = "", "plain login", ""
        if self.oauth2:
            from mailmig_tui.lab.oauth import dovecot_oauth2_conf, new_key, write_key

            if not (self.oauth2_keys_dir / "default").exists():
                write_key(self.oauth2_keys_dir, new_key())
            (r / "oauth2.conf.ext").write_text(dovecot_oauth2_conf(self.oauth2_keys_dir))
            _readable_by_auth(r / "oauth2.conf.ext")
            # Tests refuse tokens on purpose: no failure delay, and no per-IP penalty (every test connects
            # from 127.0.0.1): the auth process runs unprivileged and cannot open anvil's penalty socket.
            mechanisms += " xoauth2 oauthbearer\nauth_failure_delay = 0\nservice auth {\n  user = dovecot\n}"
            anvil_extra = "\n  unix_listener anvil-auth-penalty {\n    mode = 0\n  }"
            oauth2_passdb = f"""passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {r}/oauth2.conf.ext
}}
"""
        self.config.write_text(f"""# Written by mailmig_tui.lab for a private test instance; do not edit.
instance_name = mailmig-lab-{self.name}-{os.getpid()}
base_dir = {r}/run
state_dir = {r}/state
log_path = {r}/dovecot.log
info_log_path = {r}/dovecot.log
protocols = imap{' lmtp' if self.postfix_auth else ''}
listen = 127.0.0.1
ssl = yes
ssl_cert = <{r}/cert.pem
ssl_key = <{r}/key.pem
ssl_dh = <{r}/dh.pem
disable_plaintext_auth = no
auth_mechanisms = {mechanisms}
auth_master_user_separator = *
mail_uid = {MAIL_USER}
mail_gid = {MAIL_USER}
first_valid_uid = 1
last_valid_uid = 0
first_valid_gid = 1
default_login_user = dovenull
default_internal_user = dovecot
# Index layout: mailbox names are kept in the index, so any name the corpus needs (`..`, `con`, `x:y`)
# is legal whatever the file system says.
mail_location = {self.mail_location or f"sdbox:{r}/mail/%u:LAYOUT=index"}
mail_fsync = {self.mail_fsync}
namespace inbox {{
  inbox = yes
  separator = {self.separator}
  prefix = {self.prefix}
{self._special_use_config()}}}
mail_plugins = {self.mail_plugins}
plugin {{
{self.plugin_settings}
}}
imap_max_line_length = 1M
mail_max_userip_connections = 100
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.imaps_port}
    ssl = yes
  }}
  process_min_avail = 2
}}
{self._postfix_config()}service anvil {{
  chroot ={anvil_extra}
}}
passdb {{
  driver = passwd-file
  args = {r}/master.passwd
  master = yes
}}
{oauth2_passdb}passdb {{
  driver = passwd-file
  args = {r}/users.passwd
}}
userdb {{
  driver = static
  args = uid={MAIL_USER} gid={MAIL_USER} home={r}/mail/%u
}}
""")
        self.write_users()

    def _special_use_config(self) -> str:
        return "".join(f'  mailbox "{name}" {{\n    special_use = {flag}\n    auto = subscribe\n  }}\n'
                       for name, flag in self.special_use.items())

    def write_users(self) -> None:
        lines = "".join(f"{login}:{{PLAIN}}{pw}\n" for login, pw in self.users.items())
        tmp = self.root / "users.passwd.tmp"
        tmp.write_text(lines)
        _readable_by_auth(tmp)
        os.replace(tmp, self.root / "users.passwd")

    def add_user(self, login: str, password: str) -> None:
        self.users[login] = password
        self.write_users()
        if self.pid() is not None:
            self.wait_for_login(login, password)

    def wait_for_login(self, login: str, password: str, timeout: float = 10.0) -> None:
        """Dovecot re-reads a changed passwd-file lazily (about a second): wait until the login works."""
        from imapclient import IMAPClient
        from imapclient.exceptions import LoginError

        deadline = time.monotonic() + max(timeout, 30.0)
        while True:
            try:
                with IMAPClient("127.0.0.1", self.imap_port, ssl=False, timeout=15) as client:
                    client.login(login, password)
                    return
            except (LoginError, TimeoutError):
                # TimeoutError: Dovecot delays answers to an address that failed logins before (the tests'
                # wrong passwords all come from 127.0.0.1); wait for the answer rather than fail the setup.
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    # --- lifecycle ----------------------------------------------------------------------------

    def pid(self) -> int | None:
        return running_pid(self.pid_file)

    def start(self, timeout: float = 20.0) -> None:
        binary = dovecot_binary()
        if binary is None:
            raise RuntimeError("dovecot is not installed (apt-get install dovecot-imapd)")
        if not self.config.exists():
            self.write_config()
        # Never a pipe: the master keeps the stderr it was started with open.
        with open(self.root / "dovecot.stderr", "ab") as log:
            subprocess.run([binary, "-c", str(self.config)], stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                           check=True, timeout=timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._accepts(self.imap_port) and self._accepts(self.imaps_port) and (
                    not self.postfix_auth or self._accepts(self.lmtp_port)):
                return
            time.sleep(0.05)
        raise RuntimeError(f"dovecot {self.name} did not start; see {self.root / 'dovecot.log'}")

    def stop(self, timeout: float = 10.0) -> None:
        pid = self.pid()
        if pid is None:
            return
        # The master's children (imap processes serving clients) can outlive it for a while and keep
        # answering: they are noted by pid and made sure of too.
        deadline = terminate(pid, timeout, with_children=True)
        # Wait for the listening sockets to go so a restart on the same ports works.
        while time.monotonic() < deadline and (self._accepts(self.imap_port) or self._accepts(self.imaps_port)):
            time.sleep(0.05)

    def restart(self) -> None:
        self.stop()
        self.start()

    @staticmethod
    def _accepts(port: int) -> bool:
        return accepts("127.0.0.1", port)

    def doveadm(self, *args: str) -> str:
        out = subprocess.run([find_tool("doveadm") or "doveadm", "-c", str(self.config), *args], check=True, capture_output=True, text=True)
        return out.stdout


def _readable_by_auth(path: Path) -> None:
    """Dovecot's auth process runs as the `dovecot` user, not root: it must read the passwd files."""
    os.chmod(path, 0o640)
    with contextlib.suppress(LookupError, PermissionError):
        shutil.chown(path, group="dovecot")


def check_traversable(path: Path) -> None:
    """The auth (dovecot) and mail (mail) users must reach files under `path`: every folder above it needs
    the x bit for others. pytest's and mkdtemp's folders are 0700, hence this clear early error."""
    for folder in [path, *path.parents]:
        if folder.exists() and not folder.stat().st_mode & 0o001:
            raise RuntimeError(f"{folder} is not traversable by other users (mode {folder.stat().st_mode & 0o777:o}); "
                               "Dovecot's unprivileged processes could not reach the lab: use a folder like /tmp/x")


@dataclass
class Lab:
    """The old and new providers, saved in `root/lab.json` so `mailmig lab stop` finds them."""

    root: Path
    old: DovecotInstance
    new: DovecotInstance

    @classmethod
    def create(cls, root: Path, new_prefix: str = "", new_special_use: dict[str, str] | None = None) -> Lab:
        """`new_prefix="INBOX."` makes the new provider Courier-style (every folder under INBOX.);
        `new_special_use` gives it SPECIAL-USE folders (name -> flag)."""
        root = root.absolute()
        root.mkdir(parents=True, exist_ok=True)
        root.chmod(0o711)
        check_traversable(root)
        # Different hierarchy separators on purpose: `..` is a legal name only where `.` is not the
        # separator, and `a/b` is one folder only where `/` is not.
        old = DovecotInstance("old", root / "old", separator="/")
        new = DovecotInstance("new", root / "new", separator=".", prefix=new_prefix,
                              special_use=dict(new_special_use or {}))
        lab = cls(root, old, new)
        for inst in (old, new):
            inst.root.mkdir(parents=True, exist_ok=True)
            inst.root.chmod(0o711)
            inst.write_config()
        lab.save()
        return lab

    @classmethod
    def load(cls, root: Path) -> Lab:
        data = json.loads((root / "lab.json").read_text())
        return cls(root.absolute(), DovecotInstance.from_json(data["old"]), DovecotInstance.from_json(data["new"]))

    def save(self) -> None:
        (self.root / "lab.json").write_text(json.dumps({"old": self.old.to_json(), "new": self.new.to_json()}, indent=2))

    def start(self) -> None:
        for inst in (self.old, self.new):
            inst.start()

    def stop(self) -> None:
        for inst in (self.old, self.new):
            inst.stop()
