"""Benchmark: the whole test matrix (8 checks) for N users on the mail lab, and the send step against swaks.

    MAILMIG_DNS_LAB_PREFIX=127.0.63. .venv/bin/python bench/matrix.py --users 200 --workers 4,16

Starts the mail lab (Dovecot old/new, Postfix old/new, OpenDKIM, NSD/Unbound on loopback), creates N
users with a few messages on both sides (the copy already ran), then, interleaved in one run so load
affects both alike:

- mailmig: the full matrix (every check, every user) with W users at a time, and `--checks send` alone;
- swaks: the SMTP test tool admins use by hand, one process per user (W at a time), doing what the Send
  cell does (STARTTLS, AUTH, one message); it checks nothing else, so only the send row compares.

Prints a table, and what 5,000 users would take at the measured rate.
"""

from __future__ import annotations

import os
import sys

# bench/copy.py is named like the standard library's `copy`, and Python puts this folder first on sys.path:
# take it off before anything imports `copy` (dataclasses does).
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mailmig_tui.core.credentials import Credentials
from mailmig_tui.core.dns.config import parse_dns_section
from mailmig_tui.core.matrix.checks import PASSED
from mailmig_tui.core.matrix.config import parse_matrix_section
from mailmig_tui.core.matrix.engine import MatrixEngine
from mailmig_tui.core.model import User
from mailmig_tui.lab.corpus import bulk_corpus, fill_mailbox
from mailmig_tui.lab.dns import lab_project
from mailmig_tui.lab.mail import MailLab, missing_binaries


class Memory:
    description = "memory (bench)"

    def __init__(self) -> None:
        self.data: dict[tuple[str, str], str] = {}

    def get(self, service: str, login: str) -> str | None:
        return self.data.get((service, login))

    def set(self, service: str, login: str, secret: str) -> None:
        self.data[(service, login)] = secret

    def delete(self, service: str, login: str) -> None:
        self.data.pop((service, login), None)


def run_mailmig(lab: MailLab, emails: list[str], workers: int, checks: list[str] | None) -> tuple[float, int, int, list[float]]:
    project = lab_project()
    lab.point_project(project)
    project.users = [User(e, role="pilot") for e in emails]
    project.old.limits.max_connections = project.new.limits.max_connections = workers
    creds = Credentials(Memory())  # type: ignore[arg-type]
    for e in emails:
        creds.set(project.domain, "old", e, lab.old.users[e])
        creds.set(project.domain, "new", e, lab.new.users[e])
    config = parse_matrix_section(project.sections["matrix"])
    config.probe_timeout = 120
    config.poll_interval = 0.5
    engine = MatrixEngine(project, creds, users=project.users, checks=checks, config=config,
                          dns=parse_dns_section(project.sections["dns"]))
    t0 = time.monotonic()
    cells = engine.run()
    seconds = time.monotonic() - t0
    delivery = [c.seconds for c in cells if c.check == "receive" and c.status == PASSED]
    return seconds, len(cells), sum(c.status != PASSED for c in cells), delivery


def run_swaks(lab: MailLab, emails: list[str], workers: int) -> tuple[float, int, int]:
    def one(email: str) -> int:
        result = subprocess.run(
            ["swaks", "--silent", "2", "--server", "127.0.0.1", "--port", str(lab.new_smtp.submission_port), "--tls",
             "--auth", "PLAIN", "--auth-user", email,
             "--auth-password", lab.new.users[email], "--from", email, "--to", email,
             "--header", "Subject: swaks probe"], capture_output=True, timeout=60)
        return result.returncode

    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        codes = list(pool.map(one, emails))
    return time.monotonic() - t0, len(codes), sum(c != 0 for c in codes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--messages", type=int, default=5, help="messages per user on each side")
    parser.add_argument("--workers", default="4,16", help="users at a time (comma-separated)")
    args = parser.parse_args()
    missing = missing_binaries() + ([] if shutil.which("swaks") else ["swaks"])
    if missing:
        print(f"missing: {', '.join(missing)} (scripts/install-system-packages.sh)")
        return 2
    root = Path(tempfile.mkdtemp(prefix="mailmig-bench-matrix-"))
    root.chmod(0o711)
    lab = MailLab.create(root / "lab")
    emails = [f"user{i:04d}@corp.test" for i in range(args.users)]
    for e in emails:
        lab.add_user(e, "old-" + e.split("@")[0], "new-" + e.split("@")[0])
    lab.start()
    try:
        t0 = time.monotonic()

        def fill(pair: tuple[int, str]) -> None:
            i, e = pair
            corpus = bulk_corpus(args.messages, seed=i + 1)
            fill_mailbox("127.0.0.1", lab.old.imap_port, e, lab.old.users[e], corpus)
            fill_mailbox("127.0.0.1", lab.new.imap_port, e, lab.new.users[e], corpus)

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(fill, enumerate(emails)))
        print(f"lab ready: {args.users} users x {args.messages} messages on both sides in {time.monotonic() - t0:.1f} s")
        rows = []
        for workers in (int(w) for w in args.workers.split(",")):
            seconds, cells, bad, delivery = run_mailmig(lab, emails, workers, None)
            median = statistics.median(delivery) if delivery else float("nan")
            rows.append(("mailmig test (8 checks)", workers, args.users, cells, bad, seconds, median))
            seconds, cells, bad, _ = run_mailmig(lab, emails, workers, ["send"])
            rows.append(("mailmig test --checks send", workers, args.users, cells, bad, seconds, float("nan")))
            seconds, cells, bad = run_swaks(lab, emails, workers)
            rows.append(("swaks (send only)", workers, args.users, cells, bad, seconds, float("nan")))
        print()
        print(f"{'tool':<28}{'users at once':>14}{'users':>7}{'cells':>7}{'not ok':>8}{'seconds':>9}"
              f"{'cells/s':>9}{'median delivery s':>19}")
        for tool, workers, users, cells, bad, seconds, median in rows:
            print(f"{tool:<28}{workers:>14}{users:>7}{cells:>7}{bad:>8}{seconds:>9.1f}{cells / seconds:>9.1f}"
                  f"{median:>19.2f}")
        best = min((r for r in rows if r[0].startswith("mailmig test (")), key=lambda r: r[5])
        print(f"\n5,000 users x 8 checks at the best measured rate ({best[1]} users at once): "
              f"{5000 / best[2] * best[5] / 60:.1f} minutes")
    finally:
        lab.stop()
        if not os.environ.get("KEEP_LAB"):
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
