#!/usr/bin/env python3
"""Benchmark: what an OAuth2 login costs, on the OAuth2 lab Dovecot (JWTs validated locally).

1. Login latency, interleaved rounds on one server: password (LOGIN), XOAUTH2 with a cached token, and
   XOAUTH2 with the token fetched for that login by the token command (a Python script: a process start
   per login, the worst case of the `token-command` flavour), each through mailmig's own connect().
2. A backup over XOAUTH2: `mailmig backup` with the token command, `mailmig backup` with passwords, and
   offlineimap3 with `auth_mechanisms = XOAUTH2` and a ready-made token, on the same corpus.

    python bench/oauth_login.py [--logins 40] [--users 4] [--messages 300] [--parallel 4]
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
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.backup import Result, _count, _run
from mailmig_tui.core.credentials import Credentials, EncryptedFileBackend
from mailmig_tui.core.imap.session import LoginSpec, close_quietly, connect
from mailmig_tui.core.model import Auth, Endpoint, User
from mailmig_tui.core.oauth.command import CommandFetcher
from mailmig_tui.core.oauth.settings import OAuthSettings
from mailmig_tui.core.oauth.tokens import Token, TokenSource
from mailmig_tui.core.project_factory import new_project
from mailmig_tui.core.store import ProjectStore
from mailmig_tui.lab.corpus import bulk_corpus, fill_mailbox
from mailmig_tui.lab.dovecot import DovecotInstance
from mailmig_tui.lab.oauth import lab_token, read_key, write_token_command

DOMAIN = "bench.example"


class _Fixed:
    def __init__(self, token: str) -> None:
        self.token = token

    def fetch(self, login: str) -> Token:
        return Token(self.token, time.time() + 3600)


def login_latency(inst: DovecotInstance, user: str, password: str, command: str, rounds: int) -> dict[str, list[float]]:
    endpoint = Endpoint("localhost", inst.imaps_port, "ssl", tls_fingerprint=inst.fingerprint)
    auth = Auth("oauth2", extra={"oauth2": "token-command", "token_command": command})
    settings = OAuthSettings.from_auth(auth)
    cached = TokenSource(settings, _Fixed(lab_token(read_key(inst.oauth2_keys_dir), user, 3600)))
    fetcher = CommandFetcher(settings, "old")

    class Fresh:  # a new token from the command for every login
        def fetch(self, login: str) -> Token:
            return Token(fetcher.fetch(login).value, None)

    kinds = {
        "password (LOGIN)": LoginSpec(user, password, Auth()),
        "XOAUTH2, cached token": LoginSpec(user, "", auth, cached),
        "XOAUTH2, token command each login": LoginSpec(user, "", auth, TokenSource(settings, Fresh())),
    }
    times: dict[str, list[float]] = {k: [] for k in kinds}
    for _ in range(rounds):
        for name, spec in kinds.items():
            t = time.perf_counter()
            close_quietly(connect(endpoint, spec, timeout=30))
            times[name].append(time.perf_counter() - t)
    return times


def bench_mailmig(work: Path, inst: DovecotInstance, users: dict[str, str], n: int, command: str | None) -> Result:
    project = new_project(DOMAIN, "generic-imap", "generic-imap")
    project.old.imap = Endpoint("localhost", inst.imaps_port, "ssl", tls_fingerprint=inst.fingerprint)
    project.old.limits.max_connections = n
    if command:
        project.old.auth = Auth("oauth2", extra={"oauth2": "token-command", "token_command": command})
    project.users = [User(u) for u in users]
    label = "xoauth2" if command else "password"
    path = work / f"mailmig-{label}" / "bench.mailmig.toml"
    path.parent.mkdir(parents=True)
    ProjectStore.create(path, project).close()
    Credentials(EncryptedFileBackend(work / "creds.enc", "bench")).set_many(DOMAIN, [("old", u, p) for u, p in users.items()])
    env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring", "MAILMIG_PASSPHRASE": "bench",
           "MAILMIG_CREDENTIALS_FILE": str(work / "creds.enc"), "PYTHONPATH": str(ROOT)}
    dest = path.parent / "archive"
    start = time.monotonic()
    _code, rss = _run([sys.executable, "-m", "mailmig_tui", "backup", str(path), "--dest", str(dest), "--workers",
                       str(n), "--json"], env)
    secs = time.monotonic() - start
    msgs, size = _count(dest / "users")
    return Result(f"mailmig {label}", n, msgs, size, secs, rss, rss)


def bench_offlineimap(work: Path, inst: DovecotInstance, users: dict[str, str], n: int) -> Result:
    base = work / "offlineimap-xoauth2"
    base.mkdir()
    key = read_key(inst.oauth2_keys_dir)
    names = [f"u{i}" for i in range(len(users))]
    parts = [f"[general]\naccounts = {', '.join(names)}\nmaxsyncaccounts = {n}\nmetadata = {base}/meta\nui = quiet\n"]
    for name, user in zip(names, users, strict=True):
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
auth_mechanisms = XOAUTH2
oauth2_access_token = {lab_token(key, user, 3600)}
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
    return Result("offlineimap3 xoauth2", n, msgs, size, secs, rss, rss)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--logins", type=int, default=40, help="rounds of the login comparison")
    ap.add_argument("--users", type=int, default=4)
    ap.add_argument("--messages", type=int, default=300)
    ap.add_argument("--parallel", type=int, default=4)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mailmig-bench-oauth-"))
    work.chmod(0o711)
    inst = DovecotInstance("bench-oauth", work / "dovecot", oauth2=True)
    users = {f"user{i:02d}@{DOMAIN}": f"pw{i}" for i in range(1, args.users + 1)}
    inst.users.update(users)
    inst.root.mkdir(parents=True)
    inst.root.chmod(0o711)
    inst.write_config()
    inst.start()
    results: list[Result] = []
    try:
        command, _deny = write_token_command(work / "token", inst.oauth2_keys_dir, ttl=3600)
        first, pw = next(iter(users.items()))
        times = login_latency(inst, first, pw, command, args.logins)
        total = sum(fill_mailbox("127.0.0.1", inst.imap_port, u, p, bulk_corpus(args.messages, seed=i))
                    for i, (u, p) in enumerate(users.items()))
        print(f"corpus: {args.users} users x {args.messages} messages = {total} messages", flush=True)
        results.append(bench_mailmig(work, inst, users, args.parallel, command))
        if shutil.which("offlineimap"):
            results.append(bench_offlineimap(work, inst, users, args.parallel))
        results.append(bench_mailmig(work, inst, users, args.parallel, None))
    finally:
        inst.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nlogin over IMAPS to {inst.name} ({args.logins} interleaved rounds, mailmig connect(): TCP+TLS+login)")
    print(f"{'login':<36} {'median ms':>10} {'p90 ms':>8}")
    for name, values in times.items():
        values.sort()
        print(f"{name:<36} {statistics.median(values) * 1000:>10.1f} {values[int(len(values) * 0.9) - 1] * 1000:>8.1f}")
    print(f"\n{'backup':<22} {'parallel':>8} {'messages':>9} {'MB':>7} {'seconds':>8} {'msgs/s':>8} {'peak RSS MB':>11}")
    for r in results:
        print(f"{r.tool:<22} {r.parallel:>8} {r.messages:>9} {r.bytes / 1e6:>7.1f} {r.seconds:>8.2f} "
              f"{r.messages / r.seconds:>8.0f} {r.peak_rss_mb:>11.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
