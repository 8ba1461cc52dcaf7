"""A tiny web server per lab provider serving Thunderbird's autoconfig file
(`/mail/config-v1.1.xml`), so the matrix's client-settings check reads what a mail client reads.

Python's own `http.server`, started as a process with its output in a file and its pid in a file,
bound to the provider's own 127.x address on port 80; stopped by that pid.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from mailmig_tui.lab.dovecot import _alive

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
class WebConfigServer:
    root: Path
    address: str
    domain: str
    imap_host: str
    smtp_host: str
    port: int = 80

    @property
    def pid_file(self) -> Path:
        return self.root / "http.pid"

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["root"] = str(self.root)
        return data

    @classmethod
    def from_json(cls, data: dict[str, object]) -> WebConfigServer:
        kwargs = dict(data)
        kwargs["root"] = Path(str(kwargs["root"]))
        return cls(**kwargs)  # type: ignore[arg-type]

    def write(self) -> None:
        folder = self.root / "www" / "mail"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config-v1.1.xml").write_text(CONFIG.format(domain=self.domain, name=self.domain,
                                                             imap=self.imap_host, smtp=self.smtp_host))

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) else None

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
            try:
                with socket.create_connection((self.address, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"the autoconfig web server does not listen on {self.address}:{self.port}")

    def stop(self, timeout: float = 10.0) -> None:
        pid = self.pid()
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(pid):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)  # our own child: reap it, or it lingers as a zombie
            time.sleep(0.05)
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
