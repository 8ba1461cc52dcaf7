"""A tiny web server per lab provider serving Thunderbird's autoconfig file
(`/mail/config-v1.1.xml`), so the matrix's client-settings check reads what a mail client reads.

Python's own `http.server`, started as a process with its output in a file and its pid in a file,
bound to the provider's own 127.x address on port 80; stopped by that pid.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from mailmig_tui.lab.process import RootedJson, accepts, running_pid, terminate

CONFIG = """<?xml version="1.0" encoding="UTF-8"?>
<clientConfig version="1.1">
  <emailProvider id="{domain}">
    <domain>{domain}</domain>
    <displayName>{name}</displayName>
    <incomingServer type="imap">
      <hostname>{imap}</hostname>
      <port>993</port>
      <socketType>SSL</socketType>
      <username>%EMAILADDRESS%</username>
      <authentication>password-cleartext</authentication>
    </incomingServer>
    <outgoingServer type="smtp">
      <hostname>{smtp}</hostname>
      <port>465</port>
      <socketType>SSL</socketType>
      <username>%EMAILADDRESS%</username>
      <authentication>password-cleartext</authentication>
    </outgoingServer>
  </emailProvider>
</clientConfig>
"""


@dataclass
class WebConfigServer(RootedJson):
    root: Path
    address: str
    domain: str
    imap_host: str
    smtp_host: str
    port: int = 80

    @property
    def pid_file(self) -> Path:
        return self.root / "http.pid"

    def write(self) -> None:
        folder = self.root / "www" / "mail"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config-v1.1.xml").write_text(CONFIG.format(domain=self.domain, name=self.domain,
                                                             imap=self.imap_host, smtp=self.smtp_host))

    def pid(self) -> int | None:
        return running_pid(self.pid_file)

    def start(self, timeout: float = 15.0) -> None:
        self.write()
        with open(self.root / "http.log", "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "http.server", str(self.port), "--bind", self.address, "--directory",
                 str(self.root / "www")], stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
        self.pid_file.write_text(f"{process.pid}\n")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the autoconfig web server exited; see {self.root / 'http.log'}")
            if accepts(self.address, self.port):
                return
            time.sleep(0.05)
        raise RuntimeError(f"the autoconfig web server does not listen on {self.address}:{self.port}")

    def stop(self, timeout: float = 10.0) -> None:
        pid = self.pid()
        if pid is None:
            return
        terminate(pid, timeout, reap=True)  # our own child: reaped, or it lingers as a zombie
