"""Prove a backup: what the server has (per folder: count, UIDs, sizes) against the archive, and every
archived file against its sha256 in the index; and repair what differs.

`verify_archive` only reads. Each difference it finds that the server can fix (a message missing from
the archive, a file missing or not matching its checksum, a size that differs) is listed in
`UserCheck.repairs`; `repair_archive` fetches exactly those messages again (a corrupt file is replaced
by the server's copy) and the caller verifies again. Messages deleted on the server stay in the archive
and are counted as such, never as a difference."""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mailmig_tui.core.backup.engine import (
    INDEX_NAME,
    TRANSIENT_ERRORS,
    BackupEngine,
    BackupOptions,
    Controls,
    RunSummary,
    _decode_name,
    _fetch_range,
    login_specs,
    select_users,
)
from mailmig_tui.core.backup.index import Index
from mailmig_tui.core.credentials import Credentials
from mailmig_tui.core.i18n import _
from mailmig_tui.core.imap.session import FatalUserError, LoginSpec, close_quietly, connect
from mailmig_tui.core.model import Project


@dataclass(frozen=True, slots=True)
class FolderCheck:
    user: str
    folder: str
    on_server: int
    archived: int
    missing: int  # on the server, not in the archive
    size_mismatch: int
    problem: str = ""


@dataclass
class UserCheck:
    user: str
    folders: int = 0
    on_server: int = 0
    archived: int = 0  # of the server's messages, how many the archive holds
    archived_only: int = 0  # in the archive but no longer on the server (kept, not a difference)
    missing: int = 0
    size_mismatch: int = 0
    missing_files: int = 0
    corrupt_files: int = 0
    error: str = ""
    details: list[str] = field(default_factory=list)
    deleted_on_server: int = 0  # rows a backup run marked as gone from the server (kept in the archive)
    # What `repair_archive` can fetch again: (folder raw name, UID, path of a bad file to replace or "").
    repairs: list[tuple[bytes, int, str]] = field(default_factory=list)
    unrepairable: int = 0  # bad files of messages the server no longer has: only the archive had them
    _server: dict[bytes, tuple[int, set[int]]] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return not (self.error or self.missing or self.size_mismatch or self.missing_files or self.corrupt_files)


def verify_archive(project: Project, credentials: Credentials, dest: Path, users: list[str] | None = None,
                   workers: int = 0, on_event: Callable[[Any], None] | None = None) -> list[UserCheck]:
    chosen = select_users(project, users)
    specs = login_specs(project, credentials, chosen)
    emit_lock = threading.Lock()

    def emit(event: Any) -> None:
        if on_event:
            with emit_lock:
                on_event(event)

    if not (dest / INDEX_NAME).exists():
        return [UserCheck(u.email, error=_("no backup archive at {dest}").format(dest=dest)) for u in chosen]
    n = max(1, min(workers or project.old.limits.max_connections, project.old.limits.max_connections or 1, len(chosen) or 1))
    with ThreadPoolExecutor(max_workers=n, thread_name_prefix="verify") as pool:
        results = list(pool.map(lambda u: _verify_user(project, dest, u.email, specs[u.email], emit), chosen))
    return results


def _verify_user(project: Project, dest: Path, user: str, spec: LoginSpec | str, emit: Callable[[Any], None]) -> UserCheck:
    check = UserCheck(user)
    index = Index(dest / INDEX_NAME)
    try:
        _check_server(project, index, user, spec, check, emit)
        _check_files(index, dest, user, check)
    finally:
        index.close()
    emit(check)
    return check


def _check_server(project: Project, index: Index, user: str, spec: LoginSpec | str, check: UserCheck,
                  emit: Callable[[Any], None]) -> None:
    if isinstance(spec, str):
        check.error = spec
        return
    client = None
    try:
        client = connect(project.old.imap, spec)
        known = {f.raw_name: f for f in index.folders(user)}
        for flags, _delim, raw in client.list_folders():
            raw_b = raw if isinstance(raw, bytes) else str(raw).encode()
            if {f.lower() for f in flags} & {b"\\noselect", b"\\nonexistent"}:
                continue
            name = _decode_name(raw_b)
            info = client.select_folder(raw_b, readonly=True)
            uidvalidity, exists = int(info[b"UIDVALIDITY"]), int(info.get(b"EXISTS", 0))
            server: dict[int, int] = {}
            client.use_uid = False
            for first in range(1, exists + 1, 5000):
                resp = _fetch_range(client, f"{first}:{min(exists, first + 4999)}", ["UID", "RFC822.SIZE"])
                server.update({int(d[b"UID"]): int(d[b"RFC822.SIZE"]) for d in resp.values() if b"UID" in d})
            client.use_uid = True
            archived = {r.uid: r.size for r in index.rows(user, raw_b, uidvalidity)}
            problem = ""
            if raw_b not in known:
                problem = _("folder not in the archive")
            elif known[raw_b].uidvalidity != uidvalidity:
                problem = _("UIDVALIDITY changed since the backup (run the backup again)")
            missing = [u for u in server if u not in archived]
            mismatch = [u for u, s in server.items() if u in archived and archived[u] != s]
            check._server[raw_b] = (uidvalidity, set(server))
            check.repairs += [(raw_b, u, "") for u in missing + mismatch]
            check.folders += 1
            check.on_server += len(server)
            check.archived += len(server) - len(missing)
            check.archived_only += len([u for u in archived if u not in server])
            check.missing += len(missing)
            check.size_mismatch += len(mismatch)
            if problem or missing or mismatch:
                check.details.append(_("{folder}: {missing} missing, {mismatch} size differences {problem}").format(
                    folder=name, missing=len(missing), mismatch=len(mismatch), problem=problem).strip())
            emit(FolderCheck(user, name, len(server), len(server) - len(missing), len(missing), len(mismatch), problem))
    except FatalUserError as exc:
        check.error = str(exc)
    except TRANSIENT_ERRORS as exc:
        check.error = _("the server cannot be reached: {error}").format(error=exc)
    finally:
        close_quietly(client)


def _check_files(index: Index, dest: Path, user: str, check: UserCheck) -> None:
    for row in index.user_rows(user):
        if row.deleted_on_server:
            check.deleted_on_server += 1
        path = dest / row.path
        try:
            sha = hashlib.sha256()
            with open(path, "rb") as handle:
                while chunk := handle.read(1 << 20):
                    sha.update(chunk)
        except FileNotFoundError:
            check.missing_files += 1
            check.details.append(_("missing file {path}").format(path=row.path))
            _to_repair(check, row.folder, row.uidvalidity, row.uid, "")
            continue
        if sha.hexdigest() != row.sha256 or os.path.getsize(path) != row.size:
            check.corrupt_files += 1
            check.details.append(_("file differs from its checksum: {path}").format(path=row.path))
            _to_repair(check, row.folder, row.uidvalidity, row.uid, row.path)


def _to_repair(check: UserCheck, folder: bytes, uidvalidity: int, uid: int, path: str) -> None:
    on_server = check._server.get(folder)
    if on_server is not None and on_server[0] == uidvalidity and uid in on_server[1]:
        check.repairs.append((folder, uid, path))
    else:
        check.unrepairable += 1
        check.details.append(_("cannot be repaired: the server no longer has this message (UID {uid})").format(uid=uid))


def repair_archive(project: Project, credentials: Credentials, dest: Path, checks: list[UserCheck], workers: int = 0,
                   on_event: Callable[[Any], None] | None = None, controls: Controls | None = None) -> RunSummary | None:
    """Fetch again exactly the messages `checks` found missing or different (None: nothing to repair).

    A bad file is removed first (the server's copy, seen by the verify, replaces it); the index row of
    a removed or missing file is dropped by the engine's reconcile step; then the engine fetches just
    those UIDs. Verify again afterwards to prove the repair."""
    only: dict[str, dict[bytes, set[int]]] = {}
    for check in checks:
        for folder, uid, path in check.repairs:
            only.setdefault(check.user, {}).setdefault(folder, set()).add(uid)
            if path:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(dest / path)
    if not only:
        return None
    engine = BackupEngine(project, credentials, BackupOptions(dest, workers, users=list(only), only=only),
                          on_event=on_event, controls=controls)
    return engine.run()
