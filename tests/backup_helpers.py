"""Helpers shared by the backup tests: projects pointed at the lab, server-side truth, CLI runs."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from imapclient import IMAPClient

from mailmig_tui.core.backup.names import user_dirname
from mailmig_tui.core.credentials import Credentials, EncryptedFileBackend
from mailmig_tui.core.model import Auth, Endpoint, Project, User
from mailmig_tui.core.project_factory import new_project
from mailmig_tui.core.store import ProjectStore, load_project

PASSPHRASE = "test passphrase"
ROOT = Path(__file__).resolve().parent.parent


def make_project(tmp_path: Path, inst: Any, users: dict[str, str], *, tls: str = "ssl", host: str = "localhost",
                 verify: bool = True, pin: bool = True, auth: Auth | None = None,
                 extra_secrets: dict[str, str] | None = None) -> Path:
    """A project whose old provider is lab instance `inst`, with `users` (email -> password) in an
    encrypted credential file at tmp_path/creds.enc."""
    project = new_project("corp.example", "generic-imap", "generic-imap")
    port = inst.imaps_port if tls == "ssl" else inst.imap_port
    project.old.imap = Endpoint(host, port, tls, tls_verify=verify, tls_fingerprint=inst.fingerprint if pin else "")
    project.old.limits.max_connections = 4
    if auth:
        project.old.auth = auth
    project.users = [User(email) for email in users]
    path = tmp_path / "corp.example.mailmig.toml"
    ProjectStore.create(path, project, overwrite=True).close()
    creds = credentials(tmp_path)
    creds.set_many("corp.example", [("old", e, pw) for e, pw in {**users, **(extra_secrets or {})}.items()])
    return path


def credentials(tmp_path: Path) -> Credentials:
    return Credentials(EncryptedFileBackend(tmp_path / "creds.enc", PASSPHRASE))


def cli_env(tmp_path: Path) -> dict[str, str]:
    import os

    return {**os.environ, "MAILMIG_CREDENTIALS_FILE": str(tmp_path / "creds.enc"), "MAILMIG_PASSPHRASE": PASSPHRASE,
            "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring", "PYTHONPATH": str(ROOT), "MAILMIG_LANG": "en"}


def run_cli(tmp_path: Path, *args: str) -> tuple[int, list[dict[str, Any]], str]:
    proc = subprocess.run([sys.executable, "-m", "mailmig_tui", *args], capture_output=True, text=True,
                          env=cli_env(tmp_path), cwd=tmp_path, timeout=300)
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return proc.returncode, events, proc.stdout + proc.stderr


def server_state(inst: Any, login: str) -> dict[bytes, dict[str, Any]]:
    """raw folder name -> {uidvalidity, delimiter, messages: {uid: (size, flags, internaldate)}} from the server."""
    out: dict[bytes, dict[str, Any]] = {}
    with IMAPClient("127.0.0.1", inst.imap_port, ssl=False) as c:
        c.login(login, inst.users[login])
        c.folder_encode = False
        c.normalise_times = False
        for flags, delim, raw in c.list_folders():
            if b"\\Noselect" in flags:
                continue
            info = c.select_folder(raw, readonly=True)
            msgs = {}
            if info[b"EXISTS"]:
                for uid, d in c.fetch(c.search("ALL"), ["RFC822.SIZE", "FLAGS", "INTERNALDATE"]).items():
                    msgs[uid] = (d[b"RFC822.SIZE"], tuple(f.decode() for f in d[b"FLAGS"]), d[b"INTERNALDATE"])
            out[raw] = {"uidvalidity": info[b"UIDVALIDITY"], "delimiter": delim.decode(), "messages": msgs}
    return out


def project_users(path: Path) -> list[User]:
    return load_project(path).users


def as_project(path: Path) -> Project:
    return load_project(path)


def archive_hashes(dest: Path, user: str) -> dict[tuple[str, ...], Counter[str]]:
    """{folder path: Counter of sha256} of every message FILE in `user`'s Maildir, hashed here from the
    bytes on disk (not the index's own sha256). The index is read only for the folder-name map; a file
    in a folder the map does not know lands under ("?", dirname), so it cannot go unnoticed."""
    db = sqlite3.connect(dest / "index.sqlite")
    try:
        names = {dirname: tuple(name.split(delimiter)) if delimiter else (name,)
                 for name, delimiter, dirname in db.execute(
                     "SELECT name, delimiter, dirname FROM folders WHERE user=?", (user,))}
    finally:
        db.close()
    root = dest / "users" / user_dirname(user)
    out: dict[tuple[str, ...], Counter[str]] = {}
    for sub in ("cur", "new"):
        for path in root.rglob(f"{sub}/*"):
            dirname = "" if path.parent.parent == root else path.parent.parent.name
            key = names.get(dirname, ("?", dirname))
            out.setdefault(key, Counter())[hashlib.sha256(path.read_bytes()).hexdigest()] += 1
    return out


def assert_archive_matches_corpus(dest: Path, user: str,
                                  extra: dict[tuple[str, ...], list[bytes]] | None = None) -> None:
    """Every archived message of `user` is byte for byte one the corpus generated (sha256 recorded at
    generation, before mailmig touched it), each exactly once, in its folder; `extra` are messages the
    test appended itself."""
    from mailmig_tui.lab.corpus import expected_hashes, nonempty

    expected = expected_hashes(user)
    for path, raws in (extra or {}).items():
        expected.setdefault(path, Counter()).update(hashlib.sha256(r).hexdigest() for r in raws)
    archived = archive_hashes(dest, user)
    assert set(nonempty(archived)) == set(nonempty(expected)), "folders differ"
    for path, want in nonempty(expected).items():
        got = archived[path]
        assert got == want, (f"{'/'.join(path)}: {sum((got - want).values())} archived message(s) the corpus "
                             f"never generated, {sum((want - got).values())} generated message(s) not archived")
