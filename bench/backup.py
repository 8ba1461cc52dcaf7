#!/usr/bin/env python3
"""Benchmark: `mailmig backup` against mbsync (isync) and offlineimap3 on the same lab and corpus.

Starts the Dovecot lab on 127.0.0.1, fills USERS mailboxes with MESSAGES messages each over IMAP
APPEND, then pulls every mailbox over IMAPS with each tool at the same parallelism (mailmig: N
connections in one process; mbsync: one process per user, N at a time; offlineimap3: one process with
maxsyncaccounts = N) and prints messages/s, MB/s and peak RSS. Each tool starts from an empty folder.

    python bench/backup.py [--users 20] [--messages 500] [--parallel 1,4] [--tools mailmig,mbsync,offlineimap]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mailmig_tui.core.credentials import Credentials, EncryptedFileBackend  # noqa: E402
from mailmig_tui.core.model import Endpoint, User  # noqa: E402
from mailmig_tui.core.project_factory import new_project  # noqa: E402
from mailmig_tui.core.store import ProjectStore  # noqa: E402
from mailmig_tui.lab.corpus import bulk_corpus, fill_mailbox  # noqa: E402
from mailmig_tui.lab.dovecot import DovecotInstance, Lab  # noqa: E402

DOMAIN = "bench.example"


@dataclass
class Result:
    tool: str
    parallel: int
    messages: int
    bytes: int
    seconds: float
    peak_rss_mb: float  # the largest single process
    total_rss_mb: float  # all processes running at once (N x per-process for mbsync)


def _hwm(pid: int) -> float:
    """The process's RSS high-water mark (VmHWM) in MB. Not wait4's ru_maxrss: after fork that counts
    the parent's (this big Python's) RSS too."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _run(cmd: list[str], env: dict[str, str] | None = None) -> tuple[int, float]:
    """Run a command; returns (exit status, its peak RSS in MB), sampling VmHWM until it exits."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    peak = 0.0
    while proc.poll() is None:
        peak = max(peak, _hwm(proc.pid))
        time.sleep(0.02)
    if proc.returncode != 0:
        sys.stderr.write(f"{cmd[0]} exited {proc.returncode}\n")
    return proc.returncode, peak


def _count(folder: Path) -> tuple[int, int]:
    n = size = 0
    for dirpath, _dirs, files in os.walk(folder):
        if os.path.basename(dirpath) in ("cur", "new"):
            for f in files:
                n += 1
                size += os.path.getsize(os.path.join(dirpath, f))
    return n, size


def bench_mailmig(work: Path, inst: DovecotInstance, users: dict[str, str], n: int) -> Result:
    project = new_project(DOMAIN, "generic-imap", "generic-imap")
    project.old.imap = Endpoint("localhost", inst.imaps_port, "ssl", tls_fingerprint=inst.fingerprint)
    project.old.limits.max_connections = n
    project.users = [User(u) for u in users]
    path = work / f"mailmig-{n}" / "bench.mailmig.toml"
    path.parent.mkdir(parents=True)
    ProjectStore.create(path, project).close()
    Credentials(EncryptedFileBackend(work / "creds.enc", "bench")).set_many(DOMAIN, [("old", u, p) for u, p in users.items()])
    env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring", "MAILMIG_PASSPHRASE": "bench",
           "MAILMIG_CREDENTIALS_FILE": str(work / "creds.enc"), "PYTHONPATH": str(ROOT)}
    dest = path.parent / "archive"
    start = time.monotonic()
    _code, rss = _run([sys.executable, "-m", "mailmig_tui", "backup", str(path), "--dest", str(dest), "--workers", str(n),
                      "--json"], env)
    secs = time.monotonic() - start
    msgs, size = _count(dest / "users")
    return Result("mailmig backup", n, msgs, size, secs, rss, rss)


def bench_mbsync(work: Path, inst: DovecotInstance, users: dict[str, str], n: int) -> Result:
    base = work / f"mbsync-{n}"
    base.mkdir()
    configs = []
    for i, (user, pw) in enumerate(users.items()):
        local = base / f"u{i}"
        local.mkdir()
        conf = base / f"u{i}.mbsyncrc"
        conf.write_text(f"""IMAPAccount acc
Host localhost
Port {inst.imaps_port}
User {user}
Pass {pw}
SSLType IMAPS
CertificateFile {inst.cert}
AuthMechs LOGIN

IMAPStore remote
Account acc

MaildirStore local
Path {local}/
Inbox {local}/INBOX
SubFolders Verbatim

Channel ch
Far :remote:
Near :local:
Patterns *
Create Near
Sync Pull
SyncState *
""")
        conf.chmod(0o600)
        configs.append(conf)
    return _pool("mbsync", n, [["mbsync", "-q", "-c", str(c), "-a"] for c in configs], base)


def _pool(tool: str, n: int, commands: list[list[str]], out: Path) -> Result:
    """Run commands N at a time; peak RSS is per process, total is the worst sum of N concurrent ones."""
    start = time.monotonic()
    running: dict[int, tuple[subprocess.Popen[bytes], list[float]]] = {}
    rss: list[float] = []
    pending = list(commands)
    while pending or running:
        while pending and len(running) < n:
            p = subprocess.Popen(pending.pop(0), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            running[p.pid] = (p, [0.0])
        for pid, (p, peak) in list(running.items()):
            if p.poll() is None:
                peak[0] = max(peak[0], _hwm(pid))
                continue
            running.pop(pid)
            if p.returncode != 0:
                sys.stderr.write(f"{tool} process {pid} exited {p.returncode}\n")
            rss.append(peak[0])
        time.sleep(0.005)
    secs = time.monotonic() - start
    msgs, size = _count(out)
    peak = max(rss) if rss else 0.0
    return Result(tool, n, msgs, size, secs, peak, sum(sorted(rss)[-n:]))


def bench_offlineimap(work: Path, inst: DovecotInstance, users: dict[str, str], n: int) -> Result:
    base = work / f"offlineimap-{n}"
    base.mkdir()
    names = [f"u{i}" for i in range(len(users))]
    parts = [f"""[general]
accounts = {', '.join(names)}
maxsyncaccounts = {n}
metadata = {base}/meta
ui = quiet
"""]
    for name, (user, pw) in zip(names, users.items(), strict=True):
        parts.append(f"""
[Account {name}]
localrepository = {name}-local
remoterepository = {name}-remote

[Repository {name}-local]
type = Maildir
localfolders = {base}/{name}

[Repository {name}-remote]
type = IMAP
remotehost = localhost
remoteport = {inst.imaps_port}
ssl = yes
sslcacertfile = {inst.cert}
remoteuser = {user}
remotepass = {pw}
maxconnections = 1
readonly = True
""")
    conf = base / "offlineimaprc"
    conf.write_text("".join(parts))
    conf.chmod(0o600)
    start = time.monotonic()
    _code, rss = _run(["offlineimap", "-o", "-c", str(conf), "-u", "quiet"])
    secs = time.monotonic() - start
    msgs, size = _count(base)
    return Result("offlineimap3", n, msgs, size, secs, rss, rss)


TOOLS: dict[str, Callable[[Path, DovecotInstance, dict[str, str], int], Result]] = {
    "mailmig": bench_mailmig, "mbsync": bench_mbsync, "offlineimap": bench_offlineimap}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--messages", type=int, default=500)
    ap.add_argument("--parallel", default="1,4", help="comma-separated parallelism levels")
    ap.add_argument("--tools", default="mailmig,mbsync,offlineimap")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mailmig-bench-"))
    work.chmod(0o711)  # Dovecot's unprivileged processes must reach the lab inside it
    lab = Lab.create(work / "lab")
    users = {f"user{i:02d}@{DOMAIN}": f"pw{i}" for i in range(1, args.users + 1)}
    lab.old.users.update(users)
    lab.old.write_users()
    lab.save()
    lab.start()
    results: list[Result] = []
    try:
        t = time.monotonic()
        total = sum(fill_mailbox("127.0.0.1", lab.old.imap_port, u, p, bulk_corpus(args.messages, seed=i))
                    for i, (u, p) in enumerate(users.items()))
        print(f"corpus: {args.users} users x {args.messages} messages = {total} messages "
              f"(appended in {time.monotonic() - t:.1f}s)", flush=True)
        for n in [int(x) for x in args.parallel.split(",")]:
            for tool in args.tools.split(","):
                if tool != "mailmig" and shutil.which("mbsync" if tool == "mbsync" else "offlineimap") is None:
                    print(f"{tool}: not installed, skipped")
                    continue
                r = TOOLS[tool](work, lab.old, users, n)
                results.append(r)
                print(f"  {r.tool} x{n}: {r.messages} msgs in {r.seconds:.1f}s", flush=True)
    finally:
        lab.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print(f"{'tool':<16} {'parallel':>8} {'messages':>9} {'MB':>7} {'seconds':>8} {'msgs/s':>8} {'MB/s':>7} "
          f"{'peak RSS MB':>11} {'all procs MB':>12}")
    for r in results:
        print(f"{r.tool:<16} {r.parallel:>8} {r.messages:>9} {r.bytes / 1e6:>7.1f} {r.seconds:>8.2f} "
              f"{r.messages / r.seconds:>8.0f} {r.bytes / 1e6 / r.seconds:>7.1f} {r.peak_rss_mb:>11.1f} {r.total_rss_mb:>12.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
