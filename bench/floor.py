#!/usr/bin/env python3
"""What a re-run with nothing new cannot go below on this machine, whatever the tool does.

A re-run must still log every user in (on both servers for a copy) and ask each server for its folders'
state: that is what tells "nothing new" apart from "something changed". This script does only that,
with bare sockets (Python's ssl, the lab's certificate verified, no imapclient, no project, no SQLite):
LOGIN, one `LIST "" "*" RETURN (STATUS (MESSAGES UIDNEXT UIDVALIDITY HIGHESTMODSEQ))`, LOGOUT, per user,
N at a time, best of several rounds. It prints the wall time, the CPU the whole machine spent (most of
it the lab's Dovecot: a TLS handshake, an imap-login and an imap process per login) and the CPU of the
client itself; then the fixed costs of any `mailmig` run here: starting the interpreter and deriving
the credential file's key (scrypt, at the cost the credential store uses).

    python bench/floor.py [--users 20] [--folders 35] [--parallel 1,4] [--rounds 5]
                          [--peer backup=0.52 --peer copy=8.23]   # peers' re-run seconds: targets

The backup re-run is `--users` logins on the old server; the copy re-run twice that (old and new).
"""

from __future__ import annotations

import os
import sys

sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import argparse
import hashlib
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import compile_package, settle
from mailmig_tui.core.credentials import SCRYPT_MAXMEM, SCRYPT_N, SCRYPT_P, SCRYPT_R
from mailmig_tui.lab.corpus import company_corpus, fill_mailbox
from mailmig_tui.lab.dovecot import DovecotInstance, Lab

DOMAIN = "floor.example"
TARGETS = {"backup": 3.0, "copy": 20.0}  # issue 12: 3x faster than mbsync; issue 7: 20x faster than imapsync


def machine_cpu() -> float:
    with open("/proc/stat") as handle:
        fields = [int(x) for x in handle.readline().split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait


def one_login(ctx: ssl.SSLContext, port: int, login: str, password: str) -> None:
    with socket.create_connection(("127.0.0.1", port)) as raw, ctx.wrap_socket(raw, server_hostname="localhost") as s:
        reader = s.makefile("rb")
        reader.readline()

        def command(tag: bytes, text: bytes) -> None:
            s.sendall(tag + b" " + text + b"\r\n")
            while True:
                line = reader.readline()
                if not line:
                    raise RuntimeError("the server closed the connection")
                if line.startswith(tag + b" "):
                    if not line[len(tag) + 1:].startswith(b"OK"):
                        raise RuntimeError(line.decode(errors="replace"))
                    return

        command(b"a", b'LOGIN "' + login.encode() + b'" "' + password.encode() + b'"')
        command(b"b", b'LIST "" "*" RETURN (STATUS (MESSAGES UIDNEXT UIDVALIDITY HIGHESTMODSEQ))')
        command(b"c", b"LOGOUT")


def measure(jobs: list[tuple[ssl.SSLContext, int, str, str]], parallel: int, rounds: int) -> tuple[float, float, float]:
    """Best of `rounds`: (wall seconds, machine CPU seconds, client CPU seconds) of that round."""
    best = (float("inf"), 0.0, 0.0)
    for _ in range(rounds):
        settle()
        cpu0, own0, start = machine_cpu(), time.process_time(), time.perf_counter()
        with ThreadPoolExecutor(parallel) as pool:
            list(pool.map(lambda job: one_login(*job), jobs))
        wall = time.perf_counter() - start
        if wall < best[0]:
            best = (wall, machine_cpu() - cpu0, time.process_time() - own0)
    return best


def spawn_seconds(args: list[str], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--folders", type=int, default=35)
    ap.add_argument("--parallel", default="1,4")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--peer", action="append", default=[], metavar="KIND=SECONDS",
                    help="a peer's re-run time from the same session (backup=mbsync's, copy=imapsync's)")
    args = ap.parse_args()
    compile_package()
    peers = {k: float(v) for k, v in (p.split("=", 1) for p in args.peer)}
    work = Path(tempfile.mkdtemp(prefix="mailmig-bench-floor-"))
    work.chmod(0o711)
    lab = Lab.create(work / "lab")
    old_users = {f"u{i:02d}@{DOMAIN}": f"pw{i}" for i in range(args.users)}
    new_users = {f"n{i:02d}@{DOMAIN}": f"npw{i}" for i in range(args.users)}
    lab.old.users.update(old_users)
    lab.new.users.update(new_users)
    for inst in (lab.old, lab.new):
        inst.write_users()
    lab.save()
    lab.start()
    try:
        def fill(item: tuple[DovecotInstance, str, str, int]) -> int:
            inst, login, password, seed = item
            return fill_mailbox("127.0.0.1", inst.imap_port, login, password,
                                company_corpus(args.folders * 3, seed=seed, folders=args.folders))

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(fill, [(lab.old, u, p, i) for i, (u, p) in enumerate(old_users.items())]
                          + [(lab.new, u, p, i) for i, (u, p) in enumerate(new_users.items())]))
        ctx = {inst.name: ssl.create_default_context(cafile=str(inst.cert)) for inst in (lab.old, lab.new)}
        for c in ctx.values():
            c.check_hostname = False  # the lab's certificate names localhost; verified against it all the same
        old_jobs = [(ctx[lab.old.name], lab.old.imaps_port, u, p) for u, p in old_users.items()]
        new_jobs = [(ctx[lab.new.name], lab.new.imaps_port, u, p) for u, p in new_users.items()]
        shapes = {"backup": old_jobs[: max(1, args.users // 2)], "copy": old_jobs + new_jobs}
        print(f"{os.cpu_count()} CPUs; {args.folders} folders a user; best of {args.rounds} rounds\n")
        print(f"{'re-run shape':<14} {'logins':>6} {'par':>3} {'wall s':>7} {'machine CPU s':>13} {'client CPU s':>12}")
        walls: dict[tuple[str, int], float] = {}
        for kind, jobs in shapes.items():
            for n in (int(x) for x in args.parallel.split(",")):
                wall, cpu, own = measure(jobs, n, args.rounds)
                walls[kind, n] = wall
                print(f"{kind:<14} {len(jobs):>6} {n:>3} {wall:>7.3f} {cpu:>13.2f} {own:>12.3f}")
        start_bare = spawn_seconds([sys.executable, "-S", "-c", "pass"], args.rounds)
        start_site = spawn_seconds([sys.executable, "-c", "pass"], args.rounds)
        t = time.perf_counter()
        hashlib.scrypt(b"bench", salt=b"0" * 16, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, maxmem=SCRYPT_MAXMEM, dklen=32)
        kdf = time.perf_counter() - t
        print(f"\ninterpreter start: {start_bare:.3f} s bare (-S), {start_site:.3f} s with site-packages; "
              f"credential key (scrypt N=2^{SCRYPT_N.bit_length() - 1}, r={SCRYPT_R}): {kdf:.3f} s")
        for kind, peer in peers.items():
            n = max(int(x) for x in args.parallel.split(","))
            floor = walls.get((kind, n), 0.0) + start_site
            target = peer / TARGETS[kind]
            print(f"{kind} re-run x{n}: peer {peer:.2f} s, target {TARGETS[kind]:g}x faster = {target:.3f} s; "
                  f"bare logins + interpreter start = {floor:.3f} s, + scrypt = {floor + kdf:.3f} s "
                  f"({'below' if floor + kdf < target else 'above'} the target)")
    finally:
        lab.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
