"""The backup engine: every user's mailbox from the old provider into one Maildir per user, plus an index.

Plain Python for the CLI and the TUI alike: `BackupEngine(...).run()` blocks; `Controls` pauses, resumes
and cancels it from another thread; `on_event` receives small frozen dataclasses (one per batch at most,
so they are cheap to forward or coalesce). Users run in parallel, one IMAP connection each, bounded by
the provider's `limits.max_connections`.

Crash safety (kill -9 at any moment): a message is written to `tmp/`, renamed into `cur/`, the file
system is synced, and only then is its row committed to the index. On start, each folder is reconciled:
files without a row are removed (fetched again), rows without a file are dropped (fetched again), tmp/
is emptied. So a run that is killed and started again ends with nothing missing and nothing twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from imapclient import IMAPClient
from imapclient.imap_utf7 import decode as decode_utf7
from imapclient.imapclient import seq_to_parenstr_upper
from imapclient.response_parser import parse_fetch_response

from mailmig_tui.core.backup.index import FolderRow, Index, Row
from mailmig_tui.core.backup.maildir import HashingWriter, MaildirFolder, header_block, syncfs
from mailmig_tui.core.backup.names import folder_dirname, user_dirname
from mailmig_tui.core.credentials import Credentials
from mailmig_tui.core.errors import CredentialError, MailmigError
from mailmig_tui.core.i18n import _
from mailmig_tui.core.imap.fetch import FetchFailed, Meta, stream_fetch, uid_set
from mailmig_tui.core.imap.session import TRANSIENT_ERRORS, FatalUserError, LoginSpec, close_quietly, connect
from mailmig_tui.core.model import Project, User
from mailmig_tui.core.runs import Cancelled as _Cancelled
from mailmig_tui.core.runs import (
    Controls,
    FolderStarted,
    Progress,
    Retrying,
    RunStarted,
    RunSummary,
    UserDone,
    UserPlanned,
    UserStarted,
)

INDEX_NAME = "index.sqlite"
USERS_DIR = "users"
MANIFEST_NAME = "mailmig-folders.json"


# FetchFailed too: a NO to a FETCH usually means the folder changed under us; a rescan fixes that.
RETRYABLE: tuple[type[BaseException], ...] = (*TRANSIENT_ERRORS, FetchFailed)


@dataclass
class BackupOptions:
    dest: Path
    workers: int = 0  # 0: the provider's limits.max_connections
    users: list[str] | None = None
    batch_messages: int = 500  # messages per index commit (and per progress event)
    batch_bytes: int = 16 << 20  # bytes per index commit
    commit_seconds: float = 1.0  # and at least this often, so progress keeps moving with big messages
    uids_per_fetch: int = 5000  # messages per streamed UID FETCH command
    meta_chunk: int = 5000  # sequence numbers per FETCH when matching after a UIDVALIDITY change
    max_attempts: int = 6
    backoff: float = 0.5
    timeout: float = 60.0


class ArchiveBusyError(MailmigError):
    exit_code = 4


@contextlib.contextmanager
def archive_lock(dest: Path) -> Iterator[None]:
    dest.mkdir(parents=True, exist_ok=True)
    with open(dest / ".mailmig-archive.lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise ArchiveBusyError(_("another mailmig is using the archive {dest}").format(dest=dest)) from None
        yield


def default_dest(project_path: Path, project: Project) -> Path:
    configured = project.sections.get("backup", {}).get("dest") if isinstance(project.sections.get("backup"), dict) else None
    if isinstance(configured, str) and configured:
        path = Path(configured).expanduser()
        return path if path.is_absolute() else project_path.absolute().parent / path
    return project_path.absolute().parent / f"{project.domain}-backup"


def select_users(project: Project, wanted: list[str] | None) -> list[User]:
    if not wanted:
        return list(project.users)
    chosen = []
    for email in wanted:
        try:
            chosen.append(project.user(email))
        except KeyError:
            raise MailmigError(_("{email} is not a user of this project").format(email=email)) from None
    return chosen


def login_specs(project: Project, credentials: Credentials, users: list[User]) -> dict[str, LoginSpec | str]:
    """Each user's login, or the reason it cannot log in (a missing password fails that user only).
    Read here, on the calling thread: keyring backends are not all thread-safe."""
    auth = project.old.auth
    if auth.method == "oauth2":
        from mailmig_tui.core.oauth.logins import oauth_login_specs

        return oauth_login_specs(project, "old", credentials, {u.email: u.effective_old_login for u in users})
    out: dict[str, LoginSpec | str] = {}
    admin_secret: str | None = None
    if auth.method != "user":
        admin_secret = credentials.get(project.domain, "old", auth.master_user)
    for user in users:
        login = user.effective_old_login
        if auth.method != "user":
            out[user.email] = (LoginSpec(login, admin_secret, auth) if admin_secret is not None else
                               _("no password stored for the admin login {login}").format(login=auth.master_user))
            continue
        try:
            secret = credentials.get(project.domain, "old", login)
        except CredentialError as exc:
            out[user.email] = str(exc)
            continue
        out[user.email] = LoginSpec(login, secret, auth) if secret is not None else _(
            "no old-provider password stored for {login} (import it with `mailmig users import`)").format(login=login)
    return out


# --- the engine ------------------------------------------------------------------------------------

@dataclass
class _FolderPlan:
    raw: bytes
    name: str
    dirname: str
    uidvalidity: int
    on_server: int
    missing: list[tuple[int, int]] = field(default_factory=list)  # (uid, size)


class BackupEngine:
    def __init__(self, project: Project, credentials: Credentials, options: BackupOptions,
                 on_event: Callable[[Any], None] | None = None, controls: Controls | None = None) -> None:
        self.project = project
        self.credentials = credentials
        self.options = options
        self.on_event = on_event or (lambda event: None)
        self.controls = controls or Controls()
        self._emit_lock = threading.Lock()

    def emit(self, event: Any) -> None:
        with self._emit_lock:  # callbacks need not be thread-safe
            self.on_event(event)

    def worker_count(self, n_users: int) -> int:
        limits = self.project.old.limits
        wanted = self.options.workers or limits.max_connections
        return max(1, min(wanted, limits.max_connections or wanted, n_users or 1))

    def run(self) -> RunSummary:
        users = select_users(self.project, self.options.users)
        dest = self.options.dest.absolute()
        start = time.monotonic()
        with archive_lock(dest):
            (dest / USERS_DIR).mkdir(parents=True, exist_ok=True)
            Index(dest / INDEX_NAME).close()  # create the schema once, before threads race to
            specs = login_specs(self.project, self.credentials, users)
            workers = self.worker_count(len(users))
            self.emit(RunStarted(tuple(u.email for u in users), str(dest), workers))
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="backup") as pool:
                results = list(pool.map(lambda u: self._user(u, specs[u.email], dest), users))
        summary = RunSummary(
            users_ok=sum(r.state == "done" for r in results),
            users_failed=sum(r.state == "failed" for r in results),
            users_cancelled=sum(r.state == "cancelled" for r in results),
            messages=sum(r.messages for r in results),
            bytes=sum(r.bytes for r in results),
            seconds=time.monotonic() - start,
            errors=tuple((r.user, r.error) for r in results if r.state == "failed"),
            dest=str(dest),
        )
        self.emit(summary)
        return summary

    def _user(self, user: User, spec: LoginSpec | str, dest: Path) -> UserDone:
        self.emit(UserStarted(user.email))
        job = _UserJob(self, user.email, dest)
        start = time.monotonic()
        try:
            if isinstance(spec, str):
                raise FatalUserError(spec)
            job.run(spec)
            done = UserDone(user.email, "done", job.messages, job.bytes, time.monotonic() - start)
        except _Cancelled:
            done = UserDone(user.email, "cancelled", job.messages, job.bytes, time.monotonic() - start, _("cancelled"))
        except FatalUserError as exc:
            done = UserDone(user.email, "failed", job.messages, job.bytes, time.monotonic() - start, str(exc))
        except Exception as exc:  # one user's surprise must not stop the others
            done = UserDone(user.email, "failed", job.messages, job.bytes, time.monotonic() - start,
                            f"{type(exc).__name__}: {exc}")
        finally:
            job.close()
        self.emit(done)
        return done


class _UserJob:
    def __init__(self, engine: BackupEngine, user: str, dest: Path) -> None:
        self.engine = engine
        self.opt = engine.options
        self.controls = engine.controls
        self.user = user
        self.dest = dest
        self.root = dest / USERS_DIR / user_dirname(user)
        self.index = Index(dest / INDEX_NAME)
        self.client: IMAPClient | None = None
        self.messages = 0
        self.bytes = 0
        self._reconciled: set[bytes] = set()
        self._dirty = False
        self._folders: dict[str, MaildirFolder] = {}

    def close(self) -> None:
        self._drop_client()
        self.index.close()

    def _drop_client(self) -> None:
        if self.client is not None and self._dirty:
            # Interrupted in the middle of a FETCH: LOGOUT would first read the rest of the response.
            with contextlib.suppress(Exception):
                self.client.shutdown()
        else:
            close_quietly(self.client)
        self.client = None
        self._dirty = False

    # --- the retry loop ----------------------------------------------------------------------

    def run(self, spec: LoginSpec) -> None:
        plans: list[_FolderPlan] | None = None
        attempt = 0
        ever_connected = False
        while True:
            self.controls.checkpoint()
            try:
                if self.client is None:
                    self.client = connect(self.engine.project.old.imap, spec, self.opt.timeout)
                    ever_connected = True
                if plans is None:
                    plans = self._scan_all()
                    self.engine.emit(UserPlanned(self.user, len(plans), sum(len(p.missing) for p in plans),
                                                 sum(s for p in plans for _u, s in p.missing)))
                while plans:
                    if self._download(plans[0]):
                        attempt = 0  # progress made: a later drop gets a fresh set of retries
                    plans.pop(0)
                self._write_manifest()
                return
            except RETRYABLE as exc:
                self._drop_client()
                attempt += 1
                limit = self.opt.max_attempts if ever_connected else min(3, self.opt.max_attempts)
                if attempt > limit:
                    raise FatalUserError(_("the server cannot be reached: {error}").format(error=_describe(exc))) from None
                delay = min(self.opt.backoff * 2 ** (attempt - 1), 15.0)
                self.engine.emit(Retrying(self.user, _describe(exc), attempt, delay))
                if self.controls.cancelled.wait(delay):
                    raise _Cancelled from None
                if plans:
                    plans[0] = self._rescan(plans[0])

    # --- scanning ------------------------------------------------------------------------------

    def _scan_all(self) -> list[_FolderPlan]:
        assert self.client is not None
        plans = []
        listing = self.client.list_folders()
        for flags, delim, raw in listing:
            raw_b = raw if isinstance(raw, bytes) else str(raw).encode()
            delimiter = delim.decode() if isinstance(delim, bytes) else (delim or "")
            name = _decode_name(raw_b)
            parts = name.split(delimiter) if delimiter else [name]
            dirname = folder_dirname(parts, raw_b)
            lowered = {f.lower() for f in flags}
            selectable = b"\\noselect" not in lowered and b"\\nonexistent" not in lowered
            existing = self.index.folder(self.user, raw_b)
            if not selectable:
                self.index.upsert_folder(FolderRow(self.user, raw_b, name, delimiter, dirname,
                                                   existing.uidvalidity if existing else 0, False))
                continue
            plans.append(self._scan_folder(raw_b, name, delimiter, dirname))
            self.controls.checkpoint()
        return plans

    def _rescan(self, plan: _FolderPlan) -> _FolderPlan:
        row = self.index.folder(self.user, plan.raw)
        return _FolderPlan(plan.raw, plan.name, plan.dirname, 0, 0) if row is None else _LazyPlan(row)

    def _maildir(self, dirname: str) -> MaildirFolder:
        folder = self._folders.get(dirname)
        if folder is None:
            folder = MaildirFolder(self.root / dirname if dirname else self.root, bool(dirname))
            folder.ensure()
            self._folders[dirname] = folder
        return folder

    def _scan_folder(self, raw: bytes, name: str, delimiter: str, dirname: str) -> _FolderPlan:
        assert self.client is not None
        info = self.client.select_folder(raw, readonly=True)
        uidvalidity = int(info[b"UIDVALIDITY"])
        exists = int(info.get(b"EXISTS", 0))
        folder = self._maildir(dirname)
        previous = self.index.folder(self.user, raw)
        if raw not in self._reconciled:
            self._reconcile(raw, folder)
            self._reconciled.add(raw)
        if previous and previous.uidvalidity and previous.uidvalidity != uidvalidity:
            self._uidvalidity_changed(raw, folder, previous.uidvalidity, uidvalidity, exists)
        self.index.upsert_folder(FolderRow(self.user, raw, name, delimiter, dirname, uidvalidity, True))
        plan = _FolderPlan(raw, name, dirname, uidvalidity, exists)
        archived = self.index.uids(self.user, raw, uidvalidity)
        renames: list[tuple[str, str, str]] = []
        for uid, size, flags in self._metadata(exists):
            have = archived.get(uid)
            if have is None:
                plan.missing.append((uid, size))
                continue
            flag_text = " ".join(flags)
            if have[0] != flag_text:  # flags changed on the server since the last run: follow them
                old_path = have[1]
                name_only = os.path.basename(old_path)
                new_name = name_only.split(":2,")[0] + ":2," + folder.info(list(flags))
                new_path = os.path.join(os.path.dirname(old_path), new_name)
                with contextlib.suppress(FileNotFoundError):
                    os.rename(self.dest / old_path, self.dest / new_path)
                    renames.append((flag_text, new_path, old_path))
        if renames:
            self.index.set_flags(renames)
        plan.missing.sort()
        return plan

    def _metadata(self, exists: int) -> list[tuple[int, int, tuple[str, ...]]]:
        """(uid, size, flags) for every message of the selected folder, streamed (no per-message objects
        from a generic parser: a 100,000-message folder costs a list of tuples)."""
        assert self.client is not None
        out: list[tuple[int, int, tuple[str, ...]]] = []
        if exists:
            self._dirty = True
            stream_fetch(self.client, "1:*", "(UID RFC822.SIZE FLAGS)",
                         on_message=lambda m, _w: out.append((m.uid, m.size, _flags(m.flags))) if m.uid else None)
            self._dirty = False
        return out

    def _reconcile(self, raw: bytes, folder: MaildirFolder) -> None:
        """Undo whatever a killed run left half done in this folder (see the module docstring)."""
        folder.clear_tmp()
        rows = self.index.rows(self.user, raw)
        known = {os.path.basename(r.path) for r in rows}
        present: set[str] = set()
        for sub in ("cur", "new"):
            for entry in os.scandir(folder.path / sub):
                if entry.name in known:
                    present.add(entry.name)
                elif entry.name.endswith(",") or ".mailmig," in entry.name:
                    os.unlink(entry.path)  # written but never committed: it will be fetched again
        gone = [r.path for r in rows if os.path.basename(r.path) not in present]
        if gone:
            self.index.delete_paths(self.user, gone)

    def _uidvalidity_changed(self, raw: bytes, folder: MaildirFolder, old: int, new: int, exists: int) -> None:
        """The server renumbered the folder. Archived messages that are still there (same size, date and
        header bytes) are re-keyed to their new UIDs without a download; the rest stay archived under the
        old UIDVALIDITY, so nothing is lost and nothing is fetched twice."""
        assert self.client is not None
        old_rows = self.index.rows(self.user, raw, old)
        pool: dict[tuple[int, str, str], list[Row]] = defaultdict(list)
        for r in old_rows:
            try:
                head = header_block(self.dest / r.path)
            except FileNotFoundError:
                continue
            pool[(r.size, r.internaldate, hashlib.sha256(head).hexdigest())].append(r)
        changes: list[tuple[int, int, str, str]] = []
        self.client.use_uid = False
        try:
            for first in range(1, exists + 1, self.opt.meta_chunk):
                last = min(exists, first + self.opt.meta_chunk - 1)
                resp = _fetch_range(self.client, f"{first}:{last}", ["UID", "RFC822.SIZE", "INTERNALDATE", "BODY.PEEK[HEADER]"])
                for data in resp.values():
                    head = bytes(data.get(b"BODY[HEADER]") or b"")
                    if head.endswith(b"\r\n\r\n"):
                        head = head[:-4]
                    key = (int(data[b"RFC822.SIZE"]), _iso(data[b"INTERNALDATE"]), hashlib.sha256(head).hexdigest())
                    if pool.get(key):
                        r = pool[key].pop()
                        uid = int(data[b"UID"])
                        base = os.path.basename(r.path)
                        epoch, _rest = base.split(".", 1)
                        info = base.split(":2,", 1)[1] if ":2," in base else ""
                        new_name = f"{epoch}.V{new}U{uid}.mailmig,S={r.size}:2,{info}"
                        new_path = os.path.join(os.path.dirname(r.path), new_name)
                        os.rename(self.dest / r.path, self.dest / new_path)
                        changes.append((new, uid, new_path, r.path))
        finally:
            self.client.use_uid = True
        if changes:
            syncfs(self.dest)
            with self.index.db:
                self.index.rekey(self.user, raw, changes)

    # --- downloading ---------------------------------------------------------------------------

    def _download(self, plan: _FolderPlan) -> bool:
        assert self.client is not None
        if isinstance(plan, _LazyPlan) or plan.uidvalidity == 0:
            row = self.index.folder(self.user, plan.raw)
            name, delim, dirname = (row.name, row.delimiter, row.dirname) if row else (plan.name, "", plan.dirname)
            plan = self._scan_folder(plan.raw, name, delim, dirname)
        else:
            info = self.client.select_folder(plan.raw, readonly=True)
            if int(info[b"UIDVALIDITY"]) != plan.uidvalidity:
                plan = self._scan_folder(plan.raw, plan.name, "", plan.dirname)
        total_bytes = sum(s for _u, s in plan.missing)
        self.engine.emit(FolderStarted(self.user, plan.name, len(plan.missing), total_bytes, plan.on_server))
        folder = self._maildir(plan.dirname)
        before = self.messages
        uids = [u for u, _s in plan.missing]
        for i in range(0, len(uids), self.opt.uids_per_fetch):
            self.controls.checkpoint()
            self._fetch_stream(plan, folder, uids[i : i + self.opt.uids_per_fetch])
        return self.messages > before

    def _fetch_stream(self, plan: _FolderPlan, folder: MaildirFolder, uids: list[int]) -> None:
        """One UID FETCH for many messages; bodies stream to tmp/, and every batch_messages or batch_bytes
        the published files are synced and committed to the index together."""
        assert self.client is not None
        pending: list[Row] = []
        pending_bytes = 0
        counter = [0]
        last_commit = [time.monotonic()]
        current: list[tuple[str, HashingWriter]] = []

        def open_body() -> HashingWriter:
            counter[0] += 1
            name = f"incoming.{os.getpid()}.{threading.get_ident()}.{counter[0]}"
            writer = HashingWriter(folder.tmp_path(name))
            current.append((name, writer))
            return writer

        def on_message(meta: Meta, writer: Any) -> None:
            nonlocal pending_bytes
            if writer is None or not current:
                return  # an unsolicited FLAGS update, or a body we did not ask for
            tmp_name, w = current.pop()
            w.close()
            if meta.uid == 0:
                os.unlink(folder.tmp_path(tmp_name))
                return
            pending.append(self._publish(plan, folder, meta, tmp_name, w))
            pending_bytes += w.size
            if (len(pending) >= self.opt.batch_messages or pending_bytes >= self.opt.batch_bytes
                    or time.monotonic() - last_commit[0] > self.opt.commit_seconds):
                self._commit(plan, pending, pending_bytes)
                pending.clear()
                pending_bytes = 0
                last_commit[0] = time.monotonic()
                self.controls.checkpoint()

        self._dirty = True  # until the tagged reply is read, the session cannot be logged out politely
        try:
            stream_fetch(self.client, uid_set(uids), "(UID RFC822.SIZE INTERNALDATE FLAGS BODY.PEEK[])",
                         open_body=open_body, on_message=on_message)
            self._dirty = False
        finally:
            for _name, w in current:
                w.close()
            self._commit(plan, pending, pending_bytes)  # what is on disk is kept, even when interrupted

    def _publish(self, plan: _FolderPlan, folder: MaildirFolder, meta: Meta, tmp_name: str, w: HashingWriter) -> Row:
        when = meta.internaldate or datetime.now().astimezone()
        epoch = int(when.timestamp())
        flags = list(_flags(meta.flags))
        final_name = folder.filename(epoch, plan.uidvalidity, meta.uid, w.size, flags)
        path = folder.publish(tmp_name, final_name, epoch)
        return Row(self.user, plan.raw, plan.uidvalidity, meta.uid, w.size, _iso(when), " ".join(flags),
                   w.message_id(), w.sha.hexdigest(), str(path.relative_to(self.dest)))

    def _commit(self, plan: _FolderPlan, rows: list[Row], written: int) -> None:
        if not rows:
            return
        syncfs(self.dest)  # the files are durable before the index says they exist
        self.index.insert_many(rows)
        self.messages += len(rows)
        self.bytes += written
        self.engine.emit(Progress(self.user, plan.name, len(rows), written))

    def _write_manifest(self) -> None:
        """A readable name map beside the Maildir, for people and tools that never open the index."""
        folders = [{"dir": f.dirname or ".", "name": f.name, "raw_name": f.raw_name.decode("ascii", "backslashreplace"),
                    "delimiter": f.delimiter, "uidvalidity": f.uidvalidity, "selectable": f.selectable}
                   for f in self.index.folders(self.user)]
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / (MANIFEST_NAME + ".tmp")
        tmp.write_text(json.dumps({"user": self.user, "folders": folders}, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, self.root / MANIFEST_NAME)


class _LazyPlan(_FolderPlan):
    """A folder to re-scan after a reconnect (its plan is stale)."""

    def __init__(self, row: FolderRow) -> None:
        super().__init__(row.raw_name, row.name, row.dirname, row.uidvalidity, 0)


def _fetch_range(client: IMAPClient, sequence_set: str, items: list[Any]) -> dict[int, dict[bytes, Any]]:
    """FETCH by a sequence range such as `1:5000` (IMAPClient.fetch only takes lists of numbers, and a
    list of 5,000 numbers makes a command line some servers refuse)."""
    tag = client._imap._command("FETCH", sequence_set, seq_to_parenstr_upper(items))
    typ, data = client._imap._command_complete("FETCH", tag)
    client._checkok("fetch", typ, data)
    typ, data = client._imap._untagged_response(typ, data, "FETCH")
    return dict(parse_fetch_response(data, client.normalise_times, False))


def _decode_name(raw: bytes) -> str:
    try:
        return str(decode_utf7(raw))
    except Exception:
        return raw.decode("utf-8", "replace")


def _flags(flags: Any) -> tuple[str, ...]:
    # \Recent belongs to the server session, not the message: it cannot be restored, so it is not kept.
    out = (f.decode("utf-8", "replace") if isinstance(f, bytes) else str(f) for f in flags)
    return tuple(sorted(f for f in out if f.lower() != "\\recent"))


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) < 200 else text[:200] + "…"
