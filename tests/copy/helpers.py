"""Projects pointed at the copy lab, and what is really on a server (sha256 of every message)."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path
from typing import Any

from imapclient import IMAPClient

from mailmig_tui.core.copy.engine import CopyEngine, CopyOptions
from mailmig_tui.core.copy.folders import decode_name
from mailmig_tui.core.model import Endpoint, User
from mailmig_tui.core.project_factory import new_project
from mailmig_tui.core.runs import Controls
from mailmig_tui.core.store import ProjectStore, load_project
from tests.backup_helpers import credentials


def copy_project(tmp_path: Path, old: Any, new: Any, users: dict[str, tuple[str, str, str]], *,
                 copy_section: dict[str, Any] | None = None) -> Path:
    """users: email -> (old password, new login, new password). Both sides over IMAPS with pinned certs."""
    project = new_project("corp.example", "generic-imap", "generic-imap")
    project.old.imap = Endpoint("localhost", old.imaps_port, "ssl", tls_fingerprint=old.fingerprint)
    project.new.imap = Endpoint("localhost", new.imaps_port, "ssl", tls_fingerprint=new.fingerprint)
    project.old.limits.max_connections = 4
    project.new.limits.max_connections = 4
    project.users = [User(email, new_login=login) for email, (_o, login, _n) in users.items()]
    if copy_section:
        project.sections["copy"] = copy_section
    path = tmp_path / "corp.example.mailmig.toml"
    ProjectStore.create(path, project, overwrite=True).close()
    creds = credentials(tmp_path)
    entries = [("old", e, o) for e, (o, _l, _n) in users.items()] + [("new", login, n) for _e, (_o, login, n) in users.items()]
    creds.set_many("corp.example", entries)
    return path


def engine(tmp_path: Path, project_path: Path, events: list[Any] | None = None, controls: Controls | None = None,
           **opts: Any) -> CopyEngine:
    sink = events if events is not None else []
    return CopyEngine(load_project(project_path), credentials(tmp_path),
                      CopyOptions(project_path=project_path, **opts), controls, sink.append)


def mailbox(inst: Any, login: str, password: str | None = None) -> dict[str, list[tuple[str, tuple[str, ...], Any, int]]]:
    """folder (decoded) -> [(sha256, flags without \\Recent, INTERNALDATE, uid)] read from the server."""
    out: dict[str, list[tuple[str, tuple[str, ...], Any, int]]] = {}
    with IMAPClient("127.0.0.1", inst.imap_port, ssl=False) as c:
        c.login(login, password or inst.users[login])
        c.folder_encode = False
        c.normalise_times = False
        for flags, _delim, raw in c.list_folders():
            if b"\\Noselect" in flags:
                continue
            info = c.select_folder(raw, readonly=True)
            msgs = []
            if info[b"EXISTS"]:
                for uid, d in sorted(c.fetch(c.search("ALL"), ["BODY.PEEK[]", "FLAGS", "INTERNALDATE"]).items()):
                    flags_t = tuple(sorted(f.decode() for f in d[b"FLAGS"] if f != b"\\Recent"))
                    msgs.append((hashlib.sha256(d[b"BODY[]"]).hexdigest(), flags_t, d[b"INTERNALDATE"], uid))
            out[decode_name(raw)] = msgs
    return out


def hashes(box: dict[str, list[tuple[str, tuple[str, ...], Any, int]]]) -> Counter[str]:
    out: Counter[str] = Counter()
    for msgs in box.values():
        out.update(m[0] for m in msgs)
    return out


def by_folder(box: dict[str, list[tuple[str, tuple[str, ...], Any, int]]]) -> dict[str, Counter[tuple[str, tuple[str, ...]]]]:
    return {f: Counter((m[0], m[1]) for m in msgs) for f, msgs in box.items() if msgs}
