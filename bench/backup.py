#!/usr/bin/env python3
"""Benchmark: `mailmig backup` against mbsync (isync) and offlineimap3 on the same lab and corpus.

Starts the Dovecot lab on 127.0.0.1, fills USERS mailboxes with MESSAGES messages each over IMAP
APPEND, then pulls every mailbox over IMAPS with each tool at the same parallelism (mailmig: N
connections; mbsync: one process per user, N at a time; offlineimap3: one process with
maxsyncaccounts = N) and prints messages/s, MB/s and peak RSS. Each tool starts from an empty folder,
then runs again on the same folder with nothing new on the server (the "re-run" column). The tools
take turns (mailmig, mbsync, offlineimap3, then the next parallelism, for every round), so a load
from elsewhere on the machine hits them alike.

The default corpus is the profile of a real company (`--profile company`): 10 users x 1,000 messages,
35 folders each, 1% of messages 1-5 MB, about 445 MB. `--profile small` is the older all-small one.

    python bench/backup.py [--profile company] [--users 10] [--messages 1000] [--folders 35]
                           [--parallel 1,4] [--rounds 1] [--tools mailmig,mbsync,offlineimap]
    python bench/backup.py --users 2 --messages 300 --parallel 1 --tools mailmig,mbsync   # a quick run
"""

from __future__ import annotations

import os
import sys

# bench/copy.py is named like the standard library's `copy`, and Python puts this folder first on sys.path:
# take it off before anything imports `copy` (dataclasses does).
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import argparse
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import compile_package, hwm, settle
from mailmig_tui.core.credentials import Credentials, EncryptedFileBackend
from mailmig_tui.core.model import Endpoint, User
from mailmig_tui.core.project_factory import new_project
from mailmig_tui.core.store import ProjectStore
from mailmig_tui.lab.corpus import bulk_corpus, company_corpus, fill_mailbox
from mailmig_tui.lab.dovecot import DovecotInstance, Lab

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
    rerun_seconds: float = 0.0  # the same command again, nothing new on the server


def _tree(pid: int) -> list[int]:
    """pid and all its descendants (worker processes count too)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def _run(cmd: list[str], env: dict[str, str] | None = None) -> tuple[int, float, float]:
    """Run a command; returns (exit status, the peak RSS of its largest process, the peak sum over the
    process and its children, in MB), sampling VmHWM until it exits."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    peak = total = 0.0
    seen: dict[int, float] = {}
    last_tree = 0.0
    while proc.poll() is None:
        # The process's own high-water mark every 10 ms (one small read, as for mbsync's processes); the
        # walk over all of /proc for children only every 0.25 s: done every poll it took enough of this
        # 2-core machine's CPU to slow a short run measurably.
        now = time.monotonic()
        if now - last_tree > 0.25:
            pids, last_tree = _tree(proc.pid), now
        else:
            pids = list(seen) or [proc.pid]
        for pid in pids:
            seen[pid] = max(seen.get(pid, 0.0), hwm(pid))
        peak = max(seen.values(), default=0.0)
        total = max(total, sum(seen.values()))
        time.sleep(0.01)
    if proc.returncode != 0:
        sys.stderr.write(f"{cmd[0]} exited {proc.returncode}\n")
    return proc.returncode, peak, total


def _count(folder: Path) -> tuple[int, int]:
    n = size = 0
    for dirpath, _dirs, files in os.walk(folder):
        if os.path.basename(dirpath) in ("cur", "new"):
            for f in files:
                n += 1
                size += os.path.getsize(os.path.join(dirpath, f))
    return n, size





def bench_mailmig(work: Path, inst: DovecotInstance, users: dict[str, str], n: int) -> tuple[Path, Callable[[], tuple[float, float, float]]]:
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
    prefix = shlex.split(os.environ.get("BENCH_MAILMIG_PREFIX", ""))  # e.g. "py-spy record -o x.svg --subprocesses --"

    def run() -> tuple[float, float, float]:
        settle()
        start = time.monotonic()
        _code, rss, total = _run([*prefix, sys.executable, "-m", "mailmig_tui", "backup", str(path), "--dest", str(dest),
                                  "--workers", str(n), "--json"], env)
        return time.monotonic() - start, rss, total

    return dest / "users", run


def bench_mbsync(work: Path, inst: DovecotInstance, users: dict[str, str], n: int) -> tuple[Path, Callable[[], tuple[float, float, float]]]:
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
    return base, lambda: _pool("mbsync", n, [["mbsync", "-q", "-c", str(c), "-a"] for c in configs])


def _pool(tool: str, n: int, commands: list[list[str]]) -> tuple[float, float, float]:
    """Run commands N at a time; peak RSS is per process, total is the worst sum of N concurrent ones."""
    settle()
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
                peak[0] = max(peak[0], hwm(pid))
                continue
            running.pop(pid)
            if p.returncode != 0:
                sys.stderr.write(f"{tool} process {pid} exited {p.returncode}\n")
            rss.append(peak[0])
        time.sleep(0.005)
    secs = time.monotonic() - start
    return secs, max(rss) if rss else 0.0, sum(sorted(rss)[-n:])


def bench_offlineimap(work: Path, inst: DovecotInstance, users: dict[str, str], n: int) -> tuple[Path, Callable[[], tuple[float, float, float]]]:
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

    def run() -> tuple[float, float, float]:
        settle()
        start = time.monotonic()
        _code, rss, total = _run(["offlineimap", "-o", "-c", str(conf), "-u", "quiet"])
        return time.monotonic() - start, rss, total

    return base, run


TOOLS: dict[str, tuple[str, Callable[[Path, DovecotInstance, dict[str, str], int], tuple[Path, Callable[[], tuple[float, float, float]]]]]] = {
    "mailmig": ("mailmig backup", bench_mailmig), "mbsync": ("mbsync", bench_mbsync),
    "offlineimap": ("offlineimap3", bench_offlineimap)}


def _corpus(profile: str, messages: int, folders: int, seed: int) -> dict[tuple[str, ...], list[Any]]:
    return company_corpus(messages, seed=seed, folders=folders) if profile == "company" else bulk_corpus(messages, seed=seed)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", choices=["company", "small"], default="company")
    ap.add_argument("--users", type=int, default=10)
    ap.add_argument("--messages", type=int, default=1000, help="messages per user")
    ap.add_argument("--folders", type=int, default=35, help="folders per user (company profile)")
    ap.add_argument("--parallel", default="1,4", help="comma-separated parallelism levels")
    ap.add_argument("--rounds", type=int, default=1, help="repeat the whole interleaved sequence")
    ap.add_argument("--tools", default="mailmig,mbsync,offlineimap")
    ap.add_argument("--no-rerun", action="store_true", help="skip the re-run with nothing new")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    args = ap.parse_args()
    compile_package()
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
        total = sum(fill_mailbox("127.0.0.1", lab.old.imap_port, u, p, _corpus(args.profile, args.messages, args.folders, i + 1))
                    for i, (u, p) in enumerate(users.items()))
        print(f"corpus ({args.profile}): {args.users} users x {args.messages} messages = {total} messages "
              f"(appended in {time.monotonic() - t:.1f}s)", flush=True)
        for rnd in range(args.rounds):
            for n in [int(x) for x in args.parallel.split(",")]:
                for tool in args.tools.split(","):
                    if tool != "mailmig" and shutil.which("mbsync" if tool == "mbsync" else "offlineimap") is None:
                        print(f"{tool}: not installed, skipped")
                        continue
                    label, setup = TOOLS[tool]
                    sub = work / f"round{rnd}"
                    sub.mkdir(exist_ok=True)
                    out, run = setup(sub, lab.old, users, n)
                    secs, rss, total_rss = run()
                    msgs, size = _count(out)
                    again = 0.0
                    if not args.no_rerun:
                        again, rss2, total2 = run()
                        rss, total_rss = max(rss, rss2), max(total_rss, total2)
                    r = Result(label, n, msgs, size, secs, rss, total_rss, again)
                    results.append(r)
                    print(f"  {r.tool} x{n}: {r.messages} msgs in {r.seconds:.1f}s, re-run {again:.2f}s", flush=True)
                    shutil.rmtree(sub, ignore_errors=True)  # the disk is shared: do not keep 445 MB copies around
    finally:
        lab.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print(f"{'tool':<16} {'parallel':>8} {'messages':>9} {'MB':>7} {'seconds':>8} {'msgs/s':>8} {'MB/s':>7} "
          f"{'re-run s':>8} {'peak RSS MB':>11} {'all procs MB':>12}")
    for r in results:
        print(f"{r.tool:<16} {r.parallel:>8} {r.messages:>9} {r.bytes / 1e6:>7.1f} {r.seconds:>8.2f} "
              f"{r.messages / r.seconds:>8.0f} {r.bytes / 1e6 / r.seconds:>7.1f} {r.rerun_seconds:>8.2f} "
              f"{r.peak_rss_mb:>11.1f} {r.total_rss_mb:>12.1f}")
    ratios = _ratios(results)
    if ratios:
        print()
        for line in ratios:
            print(line)
    return 0


def _ratios(results: list[Result]) -> list[str]:
    """mailmig against mbsync at each parallelism (medians over rounds)."""
    import statistics

    out = []
    for n in sorted({r.parallel for r in results}):
        mm = [r for r in results if r.tool == "mailmig backup" and r.parallel == n]
        mb = [r for r in results if r.tool == "mbsync" and r.parallel == n]
        if not (mm and mb):
            continue
        rate = statistics.median(r.messages / r.seconds for r in mm) / statistics.median(r.messages / r.seconds for r in mb)
        line = f"x{n}: mailmig/mbsync msgs/s {rate:.2f}x"
        if all(r.rerun_seconds for r in mm + mb):
            rerun = statistics.median(r.rerun_seconds for r in mb) / statistics.median(r.rerun_seconds for r in mm)
            line += f"; re-run with nothing new: mailmig {rerun:.2f}x faster than mbsync"
        out.append(line)
    return out


if __name__ == "__main__":
    sys.exit(main())
