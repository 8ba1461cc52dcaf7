#!/usr/bin/env python3
"""Benchmark: `mailmig copy` (from the old server, and from the local backup) against imapsync.

Starts the Dovecot lab on 127.0.0.1 (old: separator `/`; new: separator `.`), fills USERS mailboxes
with MESSAGES messages each over IMAP APPEND (office-sized mail, 1% of it 1-5 MB attachments), backs
them up once with `mailmig backup` (for `--source archive`), then copies every mailbox old → new over
IMAPS with each tool at each parallelism, every time into fresh, empty accounts on the new server:
mailmig with N users in parallel in one process; imapsync one process per user, N at a time. Then a
re-run with nothing new, for both, on the targets of the last fresh run. Runs are interleaved so load
on the shared machine affects all alike. Prints messages/s, MB/s, peak RSS and what reached the target.

    python bench/copy.py [--users 20] [--messages 500] [--parallel 1,4] [--big-share 0.01]
                         [--server-fsync optimized|never]

imapsync: ../shared/anchors/imapsync/imapsync (or $IMAPSYNC), run with --nofoldersizes
--nofoldersizesatend (its fastest settings) and TLS on both sides with the lab's certificate.
"""

from __future__ import annotations

import os
import sys

# This file is named like the standard library's `copy`, and Python puts its folder first on sys.path:
# take it off before anything imports `copy` (dataclasses does).
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import argparse
import random
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from imapclient import IMAPClient

from bench.common import compile_package, hwm, settle
from mailmig_tui.core.credentials import Credentials, EncryptedFileBackend
from mailmig_tui.core.model import Endpoint, User
from mailmig_tui.core.project_factory import new_project
from mailmig_tui.core.store import ProjectStore
from mailmig_tui.lab.corpus import Message, _with_attachment, bulk_corpus, fill_mailbox
from mailmig_tui.lab.dovecot import DovecotInstance, Lab

DOMAIN = "bench.example"
IMAPSYNC = Path(os.environ.get("IMAPSYNC", ROOT.parent.parent / "shared" / "anchors" / "imapsync" / "imapsync"))
if not IMAPSYNC.exists():
    IMAPSYNC = Path("/work/shared/anchors/imapsync/imapsync")


@dataclass
class Result:
    tool: str
    parallel: int
    run: str  # fresh | re-run
    messages: int  # on the target afterwards
    bytes: int
    copied: int  # messages this run sent (mailmig's own count; for imapsync: target after - before)
    seconds: float
    peak_rss_mb: float  # the largest single process
    total_rss_mb: float  # the worst sum of N concurrent processes (imapsync runs one per user)
    engine_seconds: float = 0.0  # mailmig: the engine's own time, without process start and credentials


def corpus(n: int, seed: int, big_share: float) -> dict[tuple[str, ...], list[Message]]:
    """bulk_corpus, with `big_share` of the messages replaced by 1-5 MB attachments (in INBOX)."""
    out = bulk_corpus(n, seed=seed)
    rng = random.Random(seed * 31 + 7)
    every = int(1 / big_share) if big_share > 0 else 0
    if every:
        inbox = out[("INBOX",)]
        for i in range(every // 2, len(inbox), max(1, int(every * 0.6))):
            m = inbox[i]
            size = int(rng.randrange(1_000_000, 5_000_000) * 0.74)  # base64 makes it 4/3 bigger
            inbox[i] = Message(_with_attachment(seed * 100_000 + i, size, m.date), m.flags, m.date)
    return out


def _pool(commands: list[tuple[list[str], dict[str, str]]], n: int, label: str) -> tuple[float, float, float]:
    """Run commands N at a time; (seconds, largest peak RSS, worst sum of N concurrent peaks)."""
    settle()
    start = time.monotonic()
    running: dict[int, tuple[subprocess.Popen[bytes], list[float]]] = {}
    peaks: list[float] = []
    pending = list(commands)
    while pending or running:
        while pending and len(running) < n:
            cmd, env = pending.pop(0)
            p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
            running[p.pid] = (p, [0.0])
        for pid, (p, peak) in list(running.items()):
            if p.poll() is None:
                peak[0] = max(peak[0], hwm(pid))
                continue
            running.pop(pid)
            if p.returncode != 0:
                err = p.stderr.read().decode(errors="replace")[-500:] if p.stderr else ""
                sys.stderr.write(f"{label}: process exited {p.returncode}: {err}\n")
            peaks.append(peak[0])
        time.sleep(0.01)
    secs = time.monotonic() - start
    return secs, max(peaks) if peaks else 0.0, sum(sorted(peaks)[-n:])


def count_target(inst: DovecotInstance, logins: dict[str, str]) -> tuple[int, int]:
    def one(item: tuple[str, str]) -> tuple[int, int]:
        login, pw = item
        n = size = 0
        with IMAPClient("127.0.0.1", inst.imap_port, ssl=False) as c:
            c.login(login, pw)
            for flags, _d, name in c.list_folders():
                if b"\\Noselect" in flags:
                    continue
                info = c.select_folder(name, readonly=True)
                if info[b"EXISTS"]:
                    sizes = c.fetch(c.search("ALL"), ["RFC822.SIZE"])
                    n += len(sizes)
                    size += sum(d[b"RFC822.SIZE"] for d in sizes.values())
        return n, size

    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(one, logins.items()))
    return sum(g[0] for g in got), sum(g[1] for g in got)


class Bench:
    def __init__(self, work: Path, lab: Lab, users: dict[str, str], parallel_max: int) -> None:
        self.work = work
        self.lab = lab
        self.users = users
        self.creds_file = work / "creds.enc"
        self.creds = Credentials(EncryptedFileBackend(self.creds_file, "bench"))
        self.creds.set_many(DOMAIN, [("old", u, p) for u, p in users.items()])
        self.env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring", "MAILMIG_PASSPHRASE": "bench",
                    "MAILMIG_CREDENTIALS_FILE": str(self.creds_file), "PYTHONPATH": str(ROOT), "MAILMIG_LANG": "en"}
        self.parallel_max = parallel_max
        self.archive = work / "archive"
        self.targets: dict[str, dict[str, str]] = {}  # label -> {new login: password}

    def new_accounts(self, label: str) -> dict[str, str]:
        """Fresh, empty accounts on the new server for one run: old user -> new login."""
        logins = {}
        for u in self.users:
            login = f"{label}-{u}"
            logins[u] = login
            self.lab.new.users[login] = f"pw-{label}"
        self.targets[label] = {logins[u]: f"pw-{label}" for u in self.users}
        return logins

    def project(self, label: str, logins: dict[str, str], n: int) -> Path:
        project = new_project(DOMAIN, "generic-imap", "generic-imap")
        old, new = self.lab.old, self.lab.new
        project.old.imap = Endpoint("localhost", old.imaps_port, "ssl", tls_fingerprint=old.fingerprint)
        project.new.imap = Endpoint("localhost", new.imaps_port, "ssl", tls_fingerprint=new.fingerprint)
        project.old.limits.max_connections = max(n, 4)
        project.new.limits.max_connections = max(n, 4)
        project.users = [User(u, new_login=logins[u]) for u in self.users] if logins else [User(u) for u in self.users]
        path = self.work / label / "bench.mailmig.toml"
        path.parent.mkdir(parents=True, exist_ok=True)
        ProjectStore.create(path, project, overwrite=True).close()
        if logins:
            self.creds.set_many(DOMAIN, [("new", logins[u], f"pw-{label}") for u in self.users])
        return path

    def backup(self) -> float:
        path = self.project("backup", {}, 4)
        secs, _peak, _total = _pool([([sys.executable, "-m", "mailmig_tui", "backup", str(path), "--dest", str(self.archive),
                                       "--workers", "4", "--json"], self.env)], 1, "backup")
        return secs

    def mailmig(self, label: str, n: int, source: str, rerun_of: str = "") -> Result:
        path = self.work / (rerun_of or label) / "bench.mailmig.toml"
        cmd = [sys.executable, "-m", "mailmig_tui", "copy", str(path), "--workers", str(n), "--source", source,
               "--archive", str(self.archive), "--json"]
        out = self.work / f"{label}.jsonl"
        with open(out, "wb") as handle:
            settle()
            start = time.monotonic()
            p = subprocess.Popen(cmd, stdout=handle, stderr=subprocess.PIPE, env=self.env)
            peak = 0.0
            while p.poll() is None:
                peak = max(peak, hwm(p.pid))
                time.sleep(0.01)
            secs = time.monotonic() - start
        if p.returncode != 0:
            sys.stderr.write(f"{label}: mailmig exited {p.returncode}: {p.stderr.read().decode()[-500:] if p.stderr else ''}\n")
        import json

        summary = [json.loads(line) for line in out.read_text().splitlines() if '"summary"' in line]
        copied = summary[-1]["messages"] if summary else 0
        engine = summary[-1]["seconds"] if summary else 0.0
        msgs, size = count_target(self.lab.new, self.targets[rerun_of or label])
        tool = f"mailmig copy ({source})"
        return Result(tool, n, "re-run" if rerun_of else "fresh", msgs, size, copied, secs, peak, peak, engine)

    def imapsync(self, label: str, n: int, rerun_of: str = "") -> Result:
        targets = self.targets[rerun_of or label]
        logins = {u: login for u, login in zip(self.users, targets, strict=True)}
        before = count_target(self.lab.new, targets)[0] if rerun_of else 0
        old, new = self.lab.old, self.lab.new
        cmds = []
        for u, pw in self.users.items():
            cmds.append((["perl", str(IMAPSYNC), "--noreleasecheck", "--nolog", "--nofoldersizes", "--nofoldersizesatend",
                          "--host1", "localhost", "--port1", str(old.imaps_port), "--user1", u, "--password1", pw, "--ssl1",
                          "--sslargs1", f"SSL_ca_file={old.cert}",
                          "--host2", "localhost", "--port2", str(new.imaps_port), "--user2", logins[u],
                          "--password2", targets[logins[u]], "--ssl2", "--sslargs2", f"SSL_ca_file={new.cert}"],
                         {**os.environ, "HOME": str(self.work)}))
        secs, peak, total = _pool(cmds, n, label)
        msgs, size = count_target(new, targets)
        return Result("imapsync", n, "re-run" if rerun_of else "fresh", msgs, size, msgs - before, secs, peak, total)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--messages", type=int, default=500)
    ap.add_argument("--parallel", default="1,4", help="comma-separated parallelism levels")
    ap.add_argument("--big-share", type=float, default=0.01, help="share of messages with a 1-5 MB attachment")
    ap.add_argument("--no-imapsync", action="store_true")
    ap.add_argument("--server-fsync", choices=["optimized", "never"], default="optimized",
                    help="the lab Dovecots' mail_fsync: optimized (default, every APPEND waits for the disk) or never "
                         "(measures the tools rather than this machine's disk latency)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    args = ap.parse_args()
    compile_package()
    levels = [int(x) for x in args.parallel.split(",")]
    use_imapsync = not args.no_imapsync and IMAPSYNC.exists() and shutil.which("perl") is not None
    if not use_imapsync and not args.no_imapsync:
        print(f"imapsync not found at {IMAPSYNC}: skipped")
    work = Path(tempfile.mkdtemp(prefix="mailmig-bench-copy-"))
    work.chmod(0o711)
    lab = Lab.create(work / "lab")
    for inst in (lab.old, lab.new):
        inst.mail_fsync = args.server_fsync
        inst.write_config()
    users = {f"user{i:02d}@{DOMAIN}": f"pw{i}" for i in range(1, args.users + 1)}
    lab.old.users.update(users)
    lab.old.write_users()
    bench = Bench(work, lab, users, max(levels))
    plan: list[tuple[str, int, str]] = []  # (kind, parallel, label)
    for n in levels:
        plan += [("mailmig-old", n, f"mo{n}"), ("imapsync", n, f"is{n}"), ("mailmig-archive", n, f"ma{n}")]
    for _kind, n, label in plan:
        logins = bench.new_accounts(label)
        bench.project(label, logins, n)
    lab.new.write_users()
    lab.save()
    lab.start()
    results: list[Result] = []
    try:
        t = time.monotonic()
        with ThreadPoolExecutor(4) as pool:
            total = sum(pool.map(lambda item: fill_mailbox("127.0.0.1", lab.old.imap_port, item[1][0], item[1][1],
                                                           corpus(args.messages, item[0] + 1, args.big_share)),
                                 enumerate(users.items())))
        msgs, size = count_target(lab.old, users)
        print(f"corpus: {args.users} users x {args.messages} messages = {total} messages, {size / 1e6:.1f} MB "
              f"(appended in {time.monotonic() - t:.1f}s)", flush=True)
        print(f"backup for --source archive: {bench.backup():.1f}s", flush=True)
        for kind, n, label in plan:
            if kind == "imapsync":
                if not use_imapsync:
                    continue
                r = bench.imapsync(label, n)
            else:
                r = bench.mailmig(label, n, "old" if kind == "mailmig-old" else "archive")
            results.append(r)
            print(f"  {r.tool} x{n}: {r.messages} msgs on the target in {r.seconds:.1f}s", flush=True)
        n = max(levels)
        for _ in range(1):
            r = bench.mailmig(f"mo{n}-rerun", n, "old", rerun_of=f"mo{n}")
            results.append(r)
            print(f"  re-run {r.tool} x{n}: {r.seconds:.2f}s", flush=True)
            if use_imapsync:
                r = bench.imapsync(f"is{n}-rerun", n, rerun_of=f"is{n}")
                results.append(r)
                print(f"  re-run {r.tool} x{n}: {r.seconds:.2f}s", flush=True)
    finally:
        lab.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print(f"corpus: {args.users} users x {args.messages} messages = {msgs} messages, {size / 1e6:.1f} MB; "
          f"Dovecot mail_fsync = {args.server_fsync}")
    header = (f"{'tool':<22} {'par':>3} {'run':<7} {'on target':>9} {'sent':>6} {'MB':>7} {'seconds':>8} {'msgs/s':>7} "
              f"{'MB/s':>6} {'peak RSS MB':>11} {'all procs MB':>12} {'engine s':>8}")
    print(header)
    for r in results:
        rate = r.messages / r.seconds if r.run == "fresh" else 0
        mbs = r.bytes / 1e6 / r.seconds if r.run == "fresh" else 0
        print(f"{r.tool:<22} {r.parallel:>3} {r.run:<7} {r.messages:>9} {r.copied:>6} {r.bytes / 1e6:>7.1f} {r.seconds:>8.2f} "
              f"{rate:>7.0f} {mbs:>6.1f} {r.peak_rss_mb:>11.1f} {r.total_rss_mb:>12.1f} "
              f"{f'{r.engine_seconds:.2f}' if r.engine_seconds else '-':>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
