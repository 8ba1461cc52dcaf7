"""The backup engine: every user's mailbox from the old provider into one Maildir per user, plus an index.

Plain Python for the CLI and the TUI alike: `BackupEngine(...).run()` blocks; `Controls` pauses, resumes
and cancels it from another thread; `on_event` receives small frozen dataclasses (one per batch at most,
so they are cheap to forward or coalesce). Users run in parallel, one IMAP connection each, bounded by
the provider's `limits.max_connections`.

Crash safety (kill -9 at any moment): a message is written to `tmp/`, renamed into `cur/`, the file
system is synced, and only then is its row committed to the index. On start, each folder is reconciled:
files without a row are removed (fetched again), rows without a file are dropped (fetched again), tmp/
is emptied. So a run that is killed and started again ends with nothing missing and nothing twice.

Speed: the download threads only move bytes (socket → file, hashed on the way) and do as little Python
per message as possible; one committer thread makes every worker's finished messages durable with one
syncfs and one SQLite transaction, so the download never waits for the disk or for another worker's
commit. A re-run asks each user's server for every folder's STATUS in one round trip (LIST-STATUS) and
skips folders whose UIDVALIDITY, UIDNEXT, MESSAGES and HIGHESTMODSEQ are what they were after the last
complete pass; changed folders are scanned: new mail is fetched, flag and keyword changes are applied
to the file names and the index, and messages deleted on the server stay archived, marked in the index.

A server that is down, drops the connection or throttles logins is retried with capped exponential
backoff for `[backup] retry_for` (default 10 minutes) from the moment the trouble started; meanwhile
the user is reported as waiting for the server (a `Retrying` event with the reason and the next try).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import queue
import random
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
from imapclient.exceptions import IMAPClientError
from imapclient.imap_utf7 import decode as decode_utf7
from imapclient.imapclient import seq_to_parenstr_upper
from imapclient.response_parser import parse_fetch_response

from mailmig_tui.core.backup.config import DEFAULT_RETRY_MAX_DELAY, project_settings
from mailmig_tui.core.backup.index import FolderRow, Index, Row
from mailmig_tui.core.backup.maildir import HashingWriter, MaildirFolder, header_block, syncfs
from mailmig_tui.core.backup.names import folder_dirname, user_dirname
from mailmig_tui.core.credentials import Credentials
from mailmig_tui.core.errors import MailmigError, UsageError
from mailmig_tui.core.i18n import _
from mailmig_tui.core.imap.fetch import FetchFailed, Meta, stream_fetch, uid_set
from mailmig_tui.core.imap.listing import FolderStatus, list_status
from mailmig_tui.core.imap.logins import side_login_specs
from mailmig_tui.core.imap.session import TRANSIENT_ERRORS, FatalUserError, LoginSpec, close_quietly, connect
from mailmig_tui.core.model import Project, User
from mailmig_tui.core.runs import Cancelled as _Cancelled
from mailmig_tui.core.runs import (
    Controls,
    FolderStarted,
    Progress,
    Reconnected,
    Retrying,
    RunStarted,
    RunSummary,
    UserDone,
    UserPlanned,
    UserStarted,
)
from mailmig_tui.core.transactions import transaction

INDEX_NAME = "index.sqlite"
USERS_DIR = "users"
MANIFEST_NAME = "mailmig-folders.json"


# FetchFailed too: a NO to a FETCH usually means the folder changed under us; a rescan fixes that.
RETRYABLE: tuple[type[BaseException], ...] = (*TRANSIENT_ERRORS, FetchFailed)


class ArchiveWriteError(Exception):
    """The archive cannot be written (disk full, read-only, index broken): retrying the server cannot help."""


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
    retry_for: float | None = None  # seconds of trouble before a user fails; None: [backup] retry_for
    retry_max_delay: float | None = None  # the longest wait between tries; None: [backup] retry_max_delay
    backoff: float = 0.5  # the first wait; doubled each time up to retry_max_delay
    timeout: float = 60.0
    full_scan: bool = False  # scan every folder even when its STATUS says nothing changed
    # Repair: user -> folder raw name -> UIDs to fetch again whatever the index says (and nothing else).
    only: dict[str, dict[bytes, set[int]]] | None = None


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
            raise UsageError(_("{email} is not a user of this project").format(email=email)) from None
    return chosen


def login_specs(project: Project, credentials: Credentials, users: list[User]) -> dict[str, LoginSpec | str]:
    """Each user's login on the old provider, or the reason it cannot log in (that user fails alone)."""
    return side_login_specs(project, credentials, users, "old")


# --- the engine ------------------------------------------------------------------------------------

@dataclass
class _FolderPlan:
    raw: bytes
    name: str
    dirname: str
    uidvalidity: int
    on_server: int
    missing: list[tuple[int, int]] = field(default_factory=list)  # (uid, size)
    status: FolderStatus | None = None  # what LIST-STATUS said before the scan (recorded once complete)


class BackupEngine:
    def __init__(self, project: Project, credentials: Credentials, options: BackupOptions,
                 on_event: Callable[[Any], None] | None = None, controls: Controls | None = None) -> None:
        self.project = project
        self.credentials = credentials
        self.options = options
        self.on_event = on_event or (lambda event: None)
        self.controls = controls or Controls()
        self._emit_lock = threading.Lock()
        settings = project_settings(project)
        self.retry_for = options.retry_for if options.retry_for is not None else settings.retry_for
        self.retry_max_delay = options.retry_max_delay if options.retry_max_delay is not None else settings.retry_max_delay
        self.committer: _Committer | None = None

    def emit(self, event: Any) -> None:
        with self._emit_lock:  # callbacks need not be thread-safe
            self.on_event(event)

    def worker_count(self, n_users: int) -> int:
        limits = self.project.old.limits
        wanted = self.options.workers or limits.max_connections
        return max(1, min(wanted, limits.max_connections or wanted, n_users or 1))

    def run(self) -> RunSummary:
        users = select_users(self.project, self.options.users)
        if self.options.only is not None:
            users = [u for u in users if u.email in self.options.only]
        dest = self.options.dest.absolute()
        start = time.monotonic()
        with archive_lock(dest):
            (dest / USERS_DIR).mkdir(parents=True, exist_ok=True)
            Index(dest / INDEX_NAME).close()  # create the schema once, before threads race to
            specs = login_specs(self.project, self.credentials, users)
            workers = self.worker_count(len(users))
            self.emit(RunStarted(tuple(u.email for u in users), str(dest), workers))
            self.committer = _Committer(self, dest)
            try:
                with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="backup") as pool:
                    results = list(pool.map(lambda u: self._user(u, specs[u.email], dest), users))
            finally:
                self.committer.stop()
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
        except ArchiveWriteError as exc:
            done = UserDone(user.email, "failed", job.messages, job.bytes, time.monotonic() - start,
                            _("cannot write the archive: {error}").format(error=exc))
        except Exception as exc:  # one user's surprise must not stop the others
            done = UserDone(user.email, "failed", job.messages, job.bytes, time.monotonic() - start,
                            f"{type(exc).__name__}: {exc}")
        finally:
            job.close()
        self.emit(done)
        return done


# A row as the committer inserts it (the index's column order).
_RowTuple = tuple[str, bytes, int, int, int, str, str, str, str, str]


@dataclass
class _Batch:
    job: _UserJob
    folder: str
    rows: list[_RowTuple]
    nbytes: int
    done: threading.Event | None = None  # set once this batch (and all before it) is durable
    after: Callable[[Index], None] | None = None  # index work in the same transaction, after the rows


class _Committer:
    """One thread makes every worker's downloaded messages durable and indexed: one syncfs and one SQLite
    transaction for everything that is waiting. The workers keep downloading meanwhile (at most
    MAX_PENDING batches ahead each), and no worker ever waits for another's commit."""

    MAX_PENDING = 3

    def __init__(self, engine: BackupEngine, dest: Path) -> None:
        self.engine = engine
        self.dest = dest
        self.queue: queue.Queue[_Batch | None] = queue.Queue()
        self.error: BaseException | None = None
        self.index = Index(dest / INDEX_NAME)
        self.thread = threading.Thread(target=self._loop, name="backup-commit", daemon=True)
        self.thread.start()

    def submit(self, batch: _Batch) -> None:
        """Queue a batch (blocks while the job already has MAX_PENDING batches waiting)."""
        if self.error is not None:
            raise ArchiveWriteError(str(self.error))
        batch.job.pending.acquire()
        self.queue.put(batch)

    def flush(self, job: _UserJob) -> None:
        """Wait until everything `job` submitted is durable and indexed."""
        done = threading.Event()
        job.pending.acquire()
        self.queue.put(_Batch(job, "", [], 0, done))
        done.wait()
        if self.error is not None:
            raise ArchiveWriteError(str(self.error))

    def stop(self) -> None:
        self.queue.put(None)
        self.thread.join()
        self.index.close()

    def _loop(self) -> None:
        stopping = False
        while not stopping:
            first = self.queue.get()
            if first is None:
                break
            batches = [first]
            while True:  # everything already waiting goes into the same sync and transaction
                try:
                    more = self.queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                batches.append(more)
            rows = [r for b in batches for r in b.rows]
            afters = [b.after for b in batches if b.after is not None]
            if (rows or afters) and self.error is None:
                try:
                    if rows:
                        syncfs(self.dest)  # the files are durable before the index says they exist
                    with transaction(self.index.db):
                        self.index.insert_tuples_nocommit(rows)
                        for after in afters:
                            after(self.index)
                except Exception as exc:
                    self.error = exc
            for b in batches:
                try:
                    if b.rows and self.error is None:
                        b.job.messages += len(b.rows)
                        b.job.bytes += b.nbytes
                        self.engine.emit(Progress(b.job.user, b.folder, len(b.rows), b.nbytes))
                except Exception as exc:  # a caller's callback failed: the workers stop, this thread never does
                    self.error = exc
                finally:
                    b.job.pending.release()
                    if b.done is not None:
                        b.done.set()


class _UserJob:
    def __init__(self, engine: BackupEngine, user: str, dest: Path) -> None:
        self.engine = engine
        self.opt = engine.options
        self.controls = engine.controls
        self.user = user
        self.dest = dest
        self.user_dir = user_dirname(user)
        self.root = dest / USERS_DIR / self.user_dir
        self.index = Index(dest / INDEX_NAME)
        self.client: IMAPClient | None = None
        self.messages = 0  # durable and indexed (counted by the committer)
        self.bytes = 0
        self.submitted = 0
        self.pending = threading.Semaphore(_Committer.MAX_PENDING)
        self._reconciled: set[bytes] = set()
        self._touched: dict[bytes, str] = {}  # raw name -> dirname: folders this run listed or wrote
        self._dirty = False
        self._folders: dict[str, MaildirFolder] = {}
        self._tmp_counter = 0
        self._tmp_prefix = f"incoming.{os.getpid()}.{threading.get_ident()}."
        self.only = None if self.opt.only is None else self.opt.only.get(user, {})
        self.unchanged = 0
        self.deleted = 0

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

    def _flush(self) -> None:
        committer = self.engine.committer
        if committer is not None:
            committer.flush(self)

    # --- the retry loop ----------------------------------------------------------------------

    def run(self, spec: LoginSpec) -> None:
        try:
            self._run(spec)
        finally:
            with contextlib.suppress(ArchiveWriteError):
                self._flush()  # whatever happened, what was downloaded is made durable and counted

    def _run(self, spec: LoginSpec) -> None:
        plans: list[_FolderPlan] | None = None
        attempt = 0
        trouble_since: float | None = None  # monotonic
        trouble_wall = 0.0
        retry_for = self.engine.retry_for
        max_delay = max(0.1, self.engine.retry_max_delay or DEFAULT_RETRY_MAX_DELAY)
        while True:
            self.controls.checkpoint()
            try:
                if self.client is None:
                    self.client = connect(self.engine.project.old.imap, spec, self.opt.timeout)
                    if trouble_since is not None:
                        self.engine.emit(Reconnected(self.user, time.monotonic() - trouble_since))
                if plans is None:
                    plans = self._scan_all()
                    trouble_since, attempt = None, 0  # the server answers: a later drop gets the full retry_for
                    self.engine.emit(UserPlanned(self.user, len(plans), sum(len(p.missing) for p in plans),
                                                 sum(s for p in plans for _u, s in p.missing), self.unchanged,
                                                 self.deleted))
                while plans:
                    if self._download(plans[0]):
                        trouble_since, attempt = None, 0  # progress made
                    plans.pop(0)
                self._flush()
                self._write_manifest()
                self._settle()
                return
            except RETRYABLE as exc:
                self._drop_client()
                now = time.monotonic()
                if trouble_since is None:
                    trouble_since, trouble_wall = now, time.time()
                attempt += 1
                waited = now - trouble_since
                if waited >= retry_for:
                    raise FatalUserError(_("the server cannot be reached: {error} (retried for {seconds:.0f}s)").format(
                        error=_describe(exc), seconds=waited)) from None
                delay = min(self.opt.backoff * 2 ** min(attempt - 1, 30), max_delay, retry_for - waited)
                # Jitter, so users do not retry in step; never past the give-up time (one last try there).
                delay = min(max(0.05, delay * random.uniform(0.85, 1.0)), max(0.0, retry_for - waited))
                give_up = trouble_wall + retry_for
                self.engine.emit(Retrying(self.user, _describe(exc), attempt, delay, min(time.time() + delay, give_up),
                                          trouble_wall, give_up))
                self._flush()  # what was downloaded before the drop is kept
                if self.controls.cancelled.wait(delay):
                    raise _Cancelled from None
                if plans:
                    plans[0] = self._rescan(plans[0])

    # --- scanning ------------------------------------------------------------------------------

    def _scan_all(self) -> list[_FolderPlan]:
        assert self.client is not None
        plans = []
        self.unchanged = 0
        for st in list_status(self.client):
            raw_b = st.raw
            name = _decode_name(raw_b)
            parts = name.split(st.delimiter) if st.delimiter else [name]
            existing = self.index.folder(self.user, raw_b)
            dirname = self._dirname(existing, parts, raw_b)
            if not st.selectable:
                self.index.upsert_folder(FolderRow(self.user, raw_b, name, st.delimiter, dirname,
                                                   existing.uidvalidity if existing else 0, False))
                continue
            if self.only is not None:
                if raw_b not in self.only:
                    continue
            elif (not self.opt.full_scan and existing is not None and _unchanged(existing, st)
                  and existing.dirname == dirname and not self._reconcile_once(raw_b, dirname, existing)):
                self.unchanged += 1
                continue
            try:
                plan = self._scan_folder(raw_b, name, st.delimiter, dirname)
            except IMAPClientError as exc:
                if isinstance(exc, TRANSIENT_ERRORS):
                    raise
                continue  # deleted or renamed since LIST: nothing to back up under that name now
            plan.status = st
            plans.append(plan)
            self.controls.checkpoint()
        return plans

    def _dirname(self, existing: FolderRow | None, parts: list[str], raw: bytes) -> str:
        """The folder's directory: today's naming, after moving an archive written with an older naming."""
        new = folder_dirname(parts, raw)
        if existing is None or existing.dirname == new:
            return new
        old_path, new_path = self.root / existing.dirname, self.root / new
        if existing.dirname and old_path.exists() and not new_path.exists():
            os.rename(old_path, new_path)
        if existing.dirname and new_path.exists() and not old_path.exists():
            # Crash-safe in either order: a rename without the index update is finished on the next run.
            self.index.move_folder(self.user, raw, existing.dirname, new, f"{USERS_DIR}/{self.user_dir}")
            self._folders.pop(existing.dirname, None)
            return new
        if existing.dirname and old_path.exists():
            return existing.dirname  # both exist (should not happen): keep what the index points at
        return new

    def _rescan(self, plan: _FolderPlan) -> _FolderPlan:
        row = self.index.folder(self.user, plan.raw)
        fresh = _FolderPlan(plan.raw, plan.name, plan.dirname, 0, 0) if row is None else _LazyPlan(row)
        fresh.status = plan.status
        return fresh

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
        self._reconcile_once(raw, dirname, previous)
        if previous and previous.uidvalidity and previous.uidvalidity != uidvalidity:
            self._uidvalidity_changed(raw, folder, previous.uidvalidity, uidvalidity, exists)
        self.index.upsert_folder(FolderRow(self.user, raw, name, delimiter, dirname, uidvalidity, True))
        plan = _FolderPlan(raw, name, dirname, uidvalidity, exists)
        archived = self.index.uids(self.user, raw, uidvalidity)
        wanted = self.only.get(raw) if self.only is not None else None
        renames: list[tuple[str, str, str]] = []
        seen: set[int] = set()
        for uid, size, flags in self._metadata(exists):
            seen.add(uid)
            have = archived.get(uid)
            if wanted is not None:
                if uid in wanted:
                    plan.missing.append((uid, size))
                    continue
            elif have is None:
                plan.missing.append((uid, size))
                continue
            if have is None:
                continue
            flag_text = " ".join(flags)
            if have[0] != flag_text:  # flags changed on the server since the last run: follow them
                old_path = have[1]
                name_only = os.path.basename(old_path)
                new_name = name_only.split(":2,")[0] + ":2," + folder.info(list(flags))
                new_path = os.path.join(os.path.dirname(old_path), new_name)
                with contextlib.suppress(FileNotFoundError):
                    if new_path != old_path:
                        os.rename(self.dest / old_path, self.dest / new_path)
                    renames.append((flag_text, new_path, old_path))
        if renames:
            self.index.set_flags(renames)
        gone = [uid for uid in archived if uid not in seen]
        if gone and wanted is None:
            self.index.mark_deleted(self.user, raw, uidvalidity, gone, datetime.now().astimezone().isoformat(timespec="seconds"))
            self.deleted += len(gone)
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
                         on_message=lambda m, _w: out.append((m.uid, m.size, _flags_raw(m.flags_raw))) if m.uid else None)
            self._dirty = False
        return out

    def _reconcile_once(self, raw: bytes, dirname: str, row: FolderRow | None) -> bool:
        """Reconcile the folder the first time this run touches it (`row`: its index row, as the caller read
        it); True if that changed anything."""
        if raw in self._reconciled:
            return False
        self._reconciled.add(raw)
        self._touched[raw] = dirname
        if row is not None and row.settled and row.dirname == dirname and row.settled == _dir_stamp(self.root, dirname):
            return False  # nothing touched its files since the index last agreed with them
        return self._reconcile(raw, self._maildir(dirname))

    def _settle(self) -> None:
        """The run is done with this user and every file is committed: stamp the folders it listed or wrote,
        so the next run skips listing directories that nothing changed since. A directory changed within the
        file system's timestamp granularity of now is left unstamped (a change in the same tick would not
        show), and so is any that cannot be read."""
        now = time.time_ns()
        stamps = []
        for raw, dirname in self._touched.items():
            stamp = _dir_stamp(self.root, dirname)
            newest = max((int(x) for x in stamp.split(":")[:3]), default=now) if stamp else now
            stamps.append((raw, stamp if now - newest > _SETTLE_NS else ""))
        if stamps:
            self.index.set_settled(self.user, stamps)

    def _reconcile(self, raw: bytes, folder: MaildirFolder) -> bool:
        """Undo whatever a killed run left half done in this folder (see the module docstring): local work
        only (a directory listing and one query), so it runs even for folders the server says are
        unchanged. True if a row lost its file (the folder must be scanned to fetch it again).

        A file is matched to its row by the part of its name before the first comma (time, UIDVALIDITY,
        UID): another tool that opened the archive (Dovecot, mutt) may have renamed it to change its flags
        or add a size, and the row follows it; only files no row knows are removed (never committed)."""
        folder.clear_tmp()
        paths = self.index.paths(self.user, raw)
        by_key = {os.path.basename(p).split(",", 1)[0]: p for p in paths}
        present: set[str] = set()
        moved: list[tuple[str, str]] = []
        for sub in ("cur", "new"):
            for entry in os.scandir(folder.path / sub):
                key = entry.name.split(",", 1)[0]
                path = by_key.get(key)
                if path is not None and key not in present:
                    present.add(key)
                    if os.path.basename(path) != entry.name or os.path.basename(os.path.dirname(path)) != sub:
                        moved.append((f"{os.path.dirname(os.path.dirname(path))}/{sub}/{entry.name}", path))
                elif path is None and (entry.name.endswith(",") or ".mailmig," in entry.name):
                    os.unlink(entry.path)  # written but never committed: it will be fetched again
        if moved:
            self.index.move_paths(moved)
        gone = [p for k, p in by_key.items() if k not in present]
        if gone:
            self.index.delete_paths(self.user, gone)
        return bool(gone)

    def _uidvalidity_changed(self, raw: bytes, folder: MaildirFolder, old: int, new: int, exists: int) -> None:
        """The server renumbered the folder. Archived messages that are still there (same size, date and
        header bytes) are re-keyed to their new UIDs without a download; the rest stay archived under the
        old UIDVALIDITY (marked deleted on the server), so nothing is lost and nothing is fetched twice."""
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
            with transaction(self.index.db):
                self.index.rekey(self.user, raw, changes)
        left = [r.uid for rows in pool.values() for r in rows]
        if left:
            self.index.mark_deleted(self.user, raw, old, left, datetime.now().astimezone().isoformat(timespec="seconds"))
            self.deleted += len(left)

    # --- downloading ---------------------------------------------------------------------------

    def _download(self, plan: _FolderPlan) -> bool:
        assert self.client is not None
        status = plan.status
        if isinstance(plan, _LazyPlan) or plan.uidvalidity == 0:
            row = self.index.folder(self.user, plan.raw)
            name, delim, dirname = (row.name, row.delimiter, row.dirname) if row else (plan.name, "", plan.dirname)
            plan = self._scan_folder(plan.raw, name, delim, dirname)
        elif plan.missing:
            info = self.client.select_folder(plan.raw, readonly=True)
            if int(info[b"UIDVALIDITY"]) != plan.uidvalidity:
                row = self.index.folder(self.user, plan.raw)
                plan = self._scan_folder(plan.raw, plan.name, row.delimiter if row else "", plan.dirname)
        total_bytes = sum(s for _u, s in plan.missing)
        self.engine.emit(FolderStarted(self.user, plan.name, len(plan.missing), total_bytes, plan.on_server))
        before = self.submitted
        if plan.missing:
            folder = self._maildir(plan.dirname)
            uids = [u for u, _s in plan.missing]
            for i in range(0, len(uids), self.opt.uids_per_fetch):
                self.controls.checkpoint()
                self._fetch_stream(plan, folder, uids[i : i + self.opt.uids_per_fetch])
        if status is not None and self.only is None and status.uidvalidity == plan.uidvalidity:
            # Complete as of the STATUS taken before the scan: a later run may skip it if nothing changed.
            # Recorded by the committer, in the transaction after this folder's last rows, never before.
            user, raw, st = self.user, plan.raw, status
            committer = self.engine.committer
            assert committer is not None
            committer.submit(_Batch(self, plan.name, [], 0, after=lambda index: index.set_synced(
                user, raw, st.uidnext, st.highestmodseq, st.messages)))
        return self.submitted > before

    def _fetch_stream(self, plan: _FolderPlan, folder: MaildirFolder, uids: list[int]) -> None:
        """One UID FETCH for many messages; bodies stream to tmp/, are published to cur/ as they complete,
        and go to the committer every batch_messages / batch_bytes / commit_seconds."""
        assert self.client is not None
        committer = self.engine.committer
        assert committer is not None
        pending: list[_RowTuple] = []
        pending_bytes = 0
        last_commit = time.monotonic()
        current: list[HashingWriter] = []
        user, raw, uidvalidity = self.user, plan.raw, plan.uidvalidity
        rel_cur = f"{USERS_DIR}/{self.user_dir}/{plan.dirname}/cur/" if plan.dirname else f"{USERS_DIR}/{self.user_dir}/cur/"
        cur_dir, tmp_dir = folder.cur_dir, folder.tmp_dir
        prefix = tmp_dir + self._tmp_prefix
        opt = self.opt
        flag_cache: dict[bytes, tuple[tuple[str, ...], str, str]] = {}

        def open_body() -> HashingWriter:
            self._tmp_counter += 1
            try:
                writer = HashingWriter(f"{prefix}{self._tmp_counter}")
            except OSError as exc:
                raise ArchiveWriteError(str(exc)) from None
            current.append(writer)
            return writer

        def on_message(meta: Meta, writer: Any) -> None:
            nonlocal pending_bytes, last_commit
            if writer is None or not current:
                return  # an unsolicited FLAGS update, or a body we did not ask for
            w = current.pop()
            dated = meta.date()
            epoch, iso = dated if dated is not None else _now_date()
            try:
                w.finish(epoch)
                if meta.uid == 0:
                    os.unlink(w.path)
                    return
                flags = flag_cache.get(meta.flags_raw)
                if flags is None:
                    names = _flags_raw(meta.flags_raw)
                    flags = flag_cache[meta.flags_raw] = (names, " ".join(names), folder.info(names))
                final = f"{epoch}.V{uidvalidity}U{meta.uid}.mailmig,S={w.size}:2,{flags[2]}"
                os.rename(w.path, cur_dir + final)
            except OSError as exc:
                raise ArchiveWriteError(str(exc)) from None
            pending.append((user, raw, uidvalidity, meta.uid, w.size, iso, flags[1], w.message_id(),
                            w.sha.hexdigest(), rel_cur + final))
            pending_bytes += w.size
            now = time.monotonic()
            if len(pending) >= opt.batch_messages or pending_bytes >= opt.batch_bytes or now - last_commit > opt.commit_seconds:
                self._submit(plan, pending, pending_bytes)
                pending.clear()
                pending_bytes = 0
                last_commit = now
                self.controls.checkpoint()

        self._dirty = True  # until the tagged reply is read, the session cannot be logged out politely
        try:
            stream_fetch(self.client, uid_set(uids), "(UID RFC822.SIZE INTERNALDATE FLAGS BODY.PEEK[])",
                         open_body=open_body, on_message=on_message)
            self._dirty = False
        finally:
            for w in current:
                w.close()
            self._submit(plan, pending, pending_bytes)  # what is on disk is kept, even when interrupted

    def _submit(self, plan: _FolderPlan, rows: list[_RowTuple], written: int) -> None:
        if not rows:
            return
        committer = self.engine.committer
        assert committer is not None
        committer.submit(_Batch(self, plan.name, list(rows), written))
        self.submitted += len(rows)

    def _write_manifest(self) -> None:
        """A readable name map beside the Maildir, for people and tools that never open the index."""
        folders = [{"dir": f.dirname or ".", "name": f.name, "raw_name": f.raw_name.decode("ascii", "backslashreplace"),
                    "delimiter": f.delimiter, "uidvalidity": f.uidvalidity, "selectable": f.selectable}
                   for f in self.index.folders(self.user)]
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / (MANIFEST_NAME + ".tmp")
        tmp.write_text(json.dumps({"user": self.user, "folders": folders}, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, self.root / MANIFEST_NAME)


_SETTLE_NS = 50_000_000  # 50 ms: well over the kernel's timestamp tick (1-10 ms)


def _dir_stamp(root: Path, dirname: str) -> str:
    """cur/new/tmp mtimes (ns) and cur's inode: any file created, renamed or removed there changes it."""
    base = os.path.join(str(root), dirname) if dirname else str(root)
    try:
        cur, new, tmp = (os.stat(os.path.join(base, sub)) for sub in ("cur", "new", "tmp"))
    except OSError:
        return ""
    return f"{cur.st_mtime_ns}:{new.st_mtime_ns}:{tmp.st_mtime_ns}:{cur.st_ino}"


def _unchanged(row: FolderRow, st: FolderStatus) -> bool:
    """Nothing happened in the folder since its last complete pass (needs CONDSTORE: without
    HIGHESTMODSEQ a flag change is invisible to STATUS, so the folder is scanned)."""
    return (st.highestmodseq > 0 and st.uidvalidity > 0 and row.uidvalidity == st.uidvalidity
            and row.uidnext == st.uidnext and row.highestmodseq == st.highestmodseq
            and row.server_messages == st.messages)


def _now_date() -> tuple[int, str]:
    when = datetime.now().astimezone().replace(microsecond=0)
    return int(when.timestamp()), when.isoformat()


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


_FLAGS_CACHE: dict[bytes, tuple[str, ...]] = {}


def _flags_raw(raw: bytes) -> tuple[str, ...]:
    """_flags of a FETCH's FLAGS list as sent (b"\\Seen $Label1"), cached: mail has few distinct flag sets."""
    got = _FLAGS_CACHE.get(raw)
    if got is None:
        got = _flags(raw.split())
        if len(_FLAGS_CACHE) < 4096:
            _FLAGS_CACHE[raw] = got
    return got


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) < 200 else text[:200] + "…"
