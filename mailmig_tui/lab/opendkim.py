"""A private OpenDKIM milter on loopback: the lab's new provider signs outgoing mail with it.

Its key is made by `opendkim-genkey` in the instance folder; `txt_record()` is what the lab zone
publishes at `<selector>._domainkey.<domain>`. Started with its own config file and pid file, stopped
by that pid, never as the system service.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from mailmig_tui.lab.dovecot import free_port
from mailmig_tui.lab.process import RootedJson, accepts, running_pid, terminate


def opendkim_binary() -> str | None:
    return shutil.which("opendkim") or ("/usr/sbin/opendkim" if os.path.exists("/usr/sbin/opendkim") else None)


@dataclass
class OpenDkimInstance(RootedJson):
    root: Path
    domain: str
    selector: str = "mm1"
    port: int = 0

    @property
    def milter(self) -> str:
        return f"inet:127.0.0.1:{self.port}"

    @property
    def config(self) -> Path:
        return self.root / "opendkim.conf"

    @property
    def pid_file(self) -> Path:
        return self.root / "opendkim.pid"

    @property
    def key_file(self) -> Path:
        return self.root / f"{self.selector}.private"

    def write_config(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if not self.key_file.exists():
            genkey = shutil.which("opendkim-genkey") or "/usr/sbin/opendkim-genkey"
            subprocess.run([genkey, "-b", "1024", "-d", self.domain, "-s", self.selector, "-D", str(self.root)],
                           check=True, capture_output=True, timeout=60)
        os.chmod(self.key_file, 0o600)
        self.port = self.port or free_port()
        self.config.write_text(f"""# Written by mailmig_tui.lab for a private test instance; do not edit.
Syslog no
Background yes
Mode s
Domain {self.domain}
Selector {self.selector}
KeyFile {self.key_file}
Socket inet:{self.port}@127.0.0.1
PidFile {self.pid_file}
Canonicalization relaxed/simple
InternalHosts 127.0.0.0/8
OversignHeaders From
UMask 007
# The lab lives under /tmp (world-writable): OpenDKIM would refuse the key file there.
RequireSafeKeys false
""")

    def txt_record(self) -> str:
        """The published key, as one TXT string ("v=DKIM1; k=rsa; p=…")."""
        text = (self.root / f"{self.selector}.txt").read_text()
        parts = "".join(re.findall(r'"([^"]*)"', text))
        return parts

    def pid(self) -> int | None:
        return running_pid(self.pid_file)

    def start(self, timeout: float = 20.0) -> None:
        binary = opendkim_binary()
        if binary is None:
            raise RuntimeError("opendkim is not installed (scripts/install-system-packages.sh)")
        if not self.config.exists():
            self.write_config()
        with open(self.root / "opendkim.stderr", "a") as out:
            result = subprocess.run([binary, "-x", str(self.config)], stdout=out, stderr=out,
                                    stdin=subprocess.DEVNULL, timeout=timeout, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"opendkim did not start; see {self.root / 'opendkim.stderr'}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pid() is not None and accepts("127.0.0.1", self.port):
                return
            time.sleep(0.05)
        raise RuntimeError(f"opendkim does not listen on 127.0.0.1:{self.port}")

    def stop(self, timeout: float = 10.0) -> None:
        pid = self.pid()
        if pid is None:
            return
        terminate(pid, timeout)

