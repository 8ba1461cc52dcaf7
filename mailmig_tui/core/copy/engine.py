"""The copy engine: every user's mail from the old provider (or the local backup) to the new provider.

`CopyEngine(project, credentials, options, controls, on_event).run() -> RunSummary` blocks; `Controls`
pauses, resumes and cancels it from another thread; `on_event` receives the run vocabulary of
core/runs.py plus `UserFolders` (the folder plan) and `FolderCopied` (a folder's tally). Users run in
parallel, each with one source and one target connection, bounded by both providers'
`limits.max_connections`.

Per folder: the source's messages (UID, size, flags, INTERNALDATE) are compared with the identity map
(idmap.py). Messages not in it are fetched in batches (streamed into spooled temp files, sha256 on the
way), recorded as intents, and sent with one streaming APPEND (MULTIAPPEND, LITERAL+ where the target
has them; APPENDUID gives the new UIDs, else each is found again by size and sha256). Flags changed on
the source since the last run are set on the target with STORE. Byte-identical messages are each
copied: the map counts them one row per source message.

Recovery, whatever stopped the last run (kill -9 included):
- intents without a target UID are looked up on the target (same size, then sha256, among messages no
  other row claims) and completed, or dropped and sent again;
- the source's UIDVALIDITY changed: rows of the old generation form a pool by sha256; a fetched
  message whose hash is in the pool re-keys that row instead of being sent again;
- the target folder's UIDVALIDITY changed (re-created, renumbered): its messages are hashed and the
  rows re-pointed at them; rows whose message is gone are dropped so the message is sent again.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

from imapclient import IMAPClient

from mailmig_tui.core.backup.engine import default_dest, select_users
from mailmig_tui.core.copy.config import CopyConfig
from mailmig_tui.core.copy.folders import (
    FolderMapping,
    SourceFolder,
    TargetFolder,
    TargetInfo,
    decode_name,
    plan_folders,
)
from mailmig_tui.core.copy.idmap import FolderState, IdentityMap, MapRow
from mailmig_tui.core.copy.sources import (
    ArchiveSource,
    Body,
    HashSink,
    OldServerSource,
    SourceMsg,
    list_source_folders,
    norm_flags,
    personal_prefix,
    spool_dir_for,
)
from mailmig_tui.core.credentials import Credentials
from mailmig_tui.core.errors import MailmigError
from mailmig_tui.core.i18n import _
from mailmig_tui.core.imap.append import AppendFailed, Capabilities, Outgoing, append_messages, valid_flag
from mailmig_tui.core.imap.fetch import FetchFailed, Meta, stream_fetch, uid_set
from mailmig_tui.core.imap.listing import FolderStatus, list_status
from mailmig_tui.core.imap.logins import side_login_specs
from mailmig_tui.core.imap.session import TRANSIENT_ERRORS, FatalUserError, LoginSpec, close_quietly, connect
from mailmig_tui.core.model import Project, User
from mailmig_tui.core.runs import (
    Cancelled,
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

IDMAP_NAME = "idmap.sqlite"
RETRYABLE: tuple[type[BaseException], ...] = (*TRANSIENT_ERRORS, FetchFailed)
SOURCES = ("old", "archive")


FIRST_BATCH_MESSAGES = 25  # a folder's first batch (then twice as many each time, up to batch_messages)
FIRST_BATCH_BYTES = 1 << 20


@dataclass
class CopyOptions:
    users: list[str] | None = None
    workers: int = 0  # 0: the smaller of the providers' limits.max_connections
    source: str = "old"  # old | archive
    since: date | None = None  # only messages with INTERNALDATE on or after this day
    dry_run: bool = False  # scan and count, write nothing (neither target nor map)
    copy_dir: Path | None = None  # identity map folder (see config.default_copy_dir)
    archive: Path | None = None  # the backup archive (default: backup's default_dest)
    project_path: Path | None = None
    config: CopyConfig = field(default_factory=CopyConfig)
    phase: str = "auto"  # prestage | delta | auto (by the plan's MX cutover date)
    batch_messages: int = 500  # messages per FETCH + MULTIAPPEND (one intent commit, one target transaction)
    batch_bytes: int = 16 << 20  # and at most this many bytes (bodies up to 1 MiB are spooled in memory)
    max_attempts: int = 6
    backoff: float = 0.5
    timeout: float = 60.0
    # Source messages with these contents are left out (the rollback's reverse copy: what the forward copy
    # put on the new side is already on the old side).
    skip_sha256: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class UserFolders:
    """The folder plan of one user (emitted once the two sides are listed)."""

    user: str
    mappings: tuple[FolderMapping, ...]


@dataclass(frozen=True, slots=True)
class FolderCopied:
    user: str
    folder: str
    target: str
    copied: int  # APPENDed in this run
    already: int  # already on the target (in the map)
    rekeyed: int  # matched after a source UIDVALIDITY change, not sent again
    flags_updated: int
    recovered: int  # intents of a killed run found on the target


class CopyBusyError(MailmigError):
    exit_code = 4


@contextlib.contextmanager
def copy_lock(copy_dir: Path) -> Iterator[None]:
    copy_dir.mkdir(parents=True, exist_ok=True)
    with open(copy_dir / ".mailmig-copy.lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise CopyBusyError(_("another mailmig is copying with {dir}").format(dir=copy_dir)) from None
        yield


def resolve_phase(project: Project, wanted: str) -> str:
    if wanted in ("prestage", "delta"):
        return wanted
    from mailmig_tui.core.model import now

    cutover = project.plan.dates.get("mx_cutover")
    return "delta" if isinstance(cutover, datetime) and cutover <= now() else "prestage"



def connect_side(project: Project, side: str, spec: LoginSpec, timeout: float) -> IMAPClient:
    endpoint = project.old.imap if side == "old" else project.new.imap
    try:
        return connect(endpoint, spec, timeout)
    except FatalUserError as exc:
        where = _("old provider") if side == "old" else _("new provider")
        raise FatalUserError(f"{where}: {exc}") from None


def list_target(client: IMAPClient) -> TargetInfo:
    prefix, ns_sep = personal_prefix(client)
    folders = []
    separator = ns_sep
    for st in list_status(client):
        if st.delimiter and not separator:
            separator = st.delimiter
        lowered = frozenset(f.decode("utf-8", "replace").lower() for f in st.flags)
        folders.append(TargetFolder(st.raw, decode_name(st.raw), lowered, st.uidvalidity))
    return TargetInfo(separator or "/", prefix, tuple(folders))


def worker_count(project: Project, options: CopyOptions, n_users: int) -> int:
    limits = [project.new.limits.max_connections]
    if options.source == "old":
        limits.append(project.old.limits.max_connections)
    cap = min(x for x in limits if x) if any(limits) else 4
    wanted = options.workers or cap
    return max(1, min(wanted, cap, n_users or 1))


class CopyEngine:
    def __init__(self, project: Project, credentials: Credentials, options: CopyOptions,
                 controls: Controls | None = None, on_event: Callable[[Any], None] | None = None) -> None:
        if options.source not in SOURCES:
            raise MailmigError(_("--source must be old or archive, not {value!r}").format(value=options.source))
        self.project = project
        self.credentials = credentials
        self.options = options
        self.controls = controls or Controls()
        self.on_event = on_event or (lambda event: None)
        self._emit_lock = threading.Lock()
        self.copy_dir = (options.copy_dir or _fallback_dir(options.project_path, project, options.config)).absolute()
        self.archive = (options.archive or (default_dest(options.project_path, project) if options.project_path
                                            else Path(f"{project.domain}-backup"))).absolute()
        self.phase = resolve_phase(project, options.phase)
        self.run_id = f"{os.getpid()}-{time.time_ns()}"
        self.results: dict[str, UserDone] = {}

    def emit(self, event: Any) -> None:
        with self._emit_lock:
            self.on_event(event)

    def run(self) -> RunSummary:
        users = select_users(self.project, self.options.users)
        start = time.monotonic()
        with copy_lock(self.copy_dir):
            IdentityMap(self.copy_dir / IDMAP_NAME).close()  # the schema, once, before threads race to make it
            old_specs = side_login_specs(self.project, self.credentials, users, "old") if self.options.source == "old" else {}
            new_specs = side_login_specs(self.project, self.credentials, users, "new")
            workers = worker_count(self.project, self.options, len(users))
            self.emit(RunStarted(tuple(u.email for u in users), str(self.copy_dir), workers, self.phase))
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="copy") as pool:
                results = list(pool.map(lambda u: self._user(u, old_specs.get(u.email), new_specs[u.email]), users))
        summary = RunSummary(
            users_ok=sum(r.state == "done" for r in results),
            users_failed=sum(r.state == "failed" for r in results),
            users_cancelled=sum(r.state == "cancelled" for r in results),
            messages=sum(r.messages for r in results), bytes=sum(r.bytes for r in results),
            seconds=time.monotonic() - start,
            errors=tuple((r.user, r.error) for r in results if r.state == "failed"),
            dest=str(self.copy_dir),
        )
        self.emit(summary)
        return summary

    def _user(self, user: User, old_spec: LoginSpec | str | None, new_spec: LoginSpec | str) -> UserDone:
        self.emit(UserStarted(user.email))
        job = _UserJob(self, user.email)
        start = time.monotonic()
        try:
            if isinstance(old_spec, str):
                raise FatalUserError(f"{_('old provider')}: {old_spec}")
            if isinstance(new_spec, str):
                raise FatalUserError(f"{_('new provider')}: {new_spec}")
            job.run(old_spec, new_spec)
            if job.problems:
                done = UserDone(user.email, "failed", job.messages, job.bytes, time.monotonic() - start,
                                "; ".join(job.problems[:3]) + (f" (+{len(job.problems) - 3})" if len(job.problems) > 3 else ""))
            else:
                done = UserDone(user.email, "done", job.messages, job.bytes, time.monotonic() - start)
        except Cancelled:
            done = UserDone(user.email, "cancelled", job.messages, job.bytes, time.monotonic() - start, _("cancelled"))
        except FatalUserError as exc:
            done = UserDone(user.email, "failed", job.messages, job.bytes, time.monotonic() - start, str(exc))
        except Exception as exc:  # one user's surprise must not stop the others
            done = UserDone(user.email, "failed", job.messages, job.bytes, time.monotonic() - start,
                            f"{type(exc).__name__}: {exc}")
        finally:
            job.close()
        self.results[user.email] = done
        self.emit(done)
        return done


def _fallback_dir(project_path: Path | None, project: Project, config: CopyConfig) -> Path:
    """`[copy] dir` of the options' config, else `<project>.copy` beside the project: whoever builds the
    options (CLI, TUI, go-live) gets the same identity map, never a second one."""
    if project_path is not None:
        from mailmig_tui.core.copy.config import default_copy_dir

        return default_copy_dir(project_path, config)
    return Path(f"{project.domain}.copy")


@dataclass
class _Batch:
    msgs: list[SourceMsg]
    bytes: int


@dataclass
class _Prepared:
    """One batch between the reader and the sender: bodies to send (intents already committed)."""

    bodies: dict[int, Body]
    send: list[tuple[SourceMsg, Body]] = field(default_factory=list)
    rows: list[MapRow] = field(default_factory=list)
    flag_fix: list[tuple[MapRow, str]] = field(default_factory=list)
    rekeyed: int = 0
    adopted: int = 0

    def close(self) -> None:
        for body in self.bodies.values():
            body.close()


class _UserJob:
    def __init__(self, engine: CopyEngine, user: str) -> None:
        self.engine = engine
        self.opt = engine.options
        self.controls = engine.controls
        self.user = user
        self.idmap = IdentityMap(engine.copy_dir / IDMAP_NAME)
        self.spool_dir = spool_dir_for(engine.copy_dir)
        self.source: OldServerSource | ArchiveSource | None = None
        self.target: IMAPClient | None = None
        self.caps: Capabilities | None = None
        self.target_dirty = False
        self.messages = 0
        self.bytes = 0
        self.problems: list[str] = []
        self.done_folders: set[bytes] = set()
        self._scanned: dict[bytes, tuple[int, list[SourceMsg]]] = {}  # from _announce, used once by _folder
        self._unchanged: set[bytes] = set()  # folders _announce found with nothing to do on either side
        self._quick: dict[bytes, int] = {}  # of those, the ones the listing's STATUS alone cleared: messages
        self._target_info: TargetInfo | None = None  # the target's folder list, read while logging in

    # --- connections ---------------------------------------------------------------------------

    def close(self) -> None:
        self._drop()
        if isinstance(self.source, ArchiveSource):
            self.source.close()
        self.idmap.close()

    def _drop(self) -> None:
        if isinstance(self.source, OldServerSource):
            if self.source.dirty:
                with contextlib.suppress(Exception):
                    self.source.client.shutdown()
            else:
                close_quietly(self.source.client)
            self.source = None
        if self.target is not None:
            if self.target_dirty:
                with contextlib.suppress(Exception):
                    self.target.shutdown()
            else:
                close_quietly(self.target)
            self.target = None
            self.target_dirty = False

    def _connect(self, old_spec: LoginSpec | None, new_spec: LoginSpec) -> None:
        """Both sides at once: the target's login (and, the first time, its folder list) in a helper
        thread while this one logs in to the source. Each login is a TLS handshake and an IMAP process
        started on the server: doing them side by side halves that wait for every user."""
        project = self.engine.project
        box: dict[str, Any] = {}
        helper: threading.Thread | None = None
        if self.target is None:
            want_list = self._target_info is None

            def target_side() -> None:
                try:
                    client = connect_side(project, "new", new_spec, self.opt.timeout)
                    box["client"] = client
                    box["caps"] = Capabilities.of(client)
                    if want_list:
                        box["info"] = list_target(client)
                except BaseException as exc:  # raised below, in this thread
                    box["error"] = exc

            helper = threading.Thread(target=target_side, name=f"copy-login-{self.user}", daemon=True)
            helper.start()
        try:
            if self.source is None:
                if self.opt.source == "archive":
                    self.source = ArchiveSource(self.engine.archive, self.user)
                else:
                    assert old_spec is not None
                    self.source = OldServerSource(connect_side(project, "old", old_spec, self.opt.timeout), self.spool_dir)
        finally:
            if helper is not None:
                helper.join()
                if "client" in box:
                    self.target = box["client"]
                    self.caps = box.get("caps")
                    self._target_info = box.get("info", self._target_info)
        if "error" in box:
            raise box["error"]

    # --- the retry loop ------------------------------------------------------------------------

    def run(self, old_spec: LoginSpec | None, new_spec: LoginSpec) -> None:
        attempt = 0
        ever = False
        plan: list[FolderMapping] | None = None
        planned = False
        while True:
            self.controls.checkpoint()
            try:
                self._connect(old_spec, new_spec)
                ever = True
                assert self.source is not None and self.target is not None
                if plan is None:
                    info = self._target_info or list_target(self.target)
                    plan = plan_folders(self.source.folders(), info, self.opt.config)
                    self.engine.emit(UserFolders(self.user, tuple(plan)))
                if not planned:
                    self._announce(plan)
                    planned = True
                for mapping in plan:
                    if mapping.action != "copy" or mapping.source_raw in self.done_folders:
                        continue
                    before = self.messages
                    self._folder(mapping)
                    self.done_folders.add(mapping.source_raw)
                    if self.messages > before:
                        attempt = 0
                if isinstance(self.source, ArchiveSource) and self.source.corrupt:
                    self.problems.extend(self.source.corrupt)
                return
            except RETRYABLE as exc:
                self._drop()
                attempt += 1
                limit = self.opt.max_attempts if ever else min(3, self.opt.max_attempts)
                if attempt > limit:
                    raise FatalUserError(_("the server cannot be reached: {error}").format(error=_describe(exc))) from None
                delay = min(self.opt.backoff * 2 ** (attempt - 1), 15.0)
                self.engine.emit(Retrying(self.user, _describe(exc), attempt, delay))
                if self.controls.cancelled.wait(delay):
                    raise Cancelled from None

    def _announce(self, plan: list[FolderMapping]) -> None:
        """UserPlanned: how many messages this run still has to send (a scan of every folder's metadata
        against the map; bodies are not read)."""
        assert self.source is not None
        folders = messages = size = 0
        writing: list[FolderMapping] = []
        unchanged: list[tuple[FolderMapping, int]] = []
        statuses = self.source.statuses if isinstance(self.source, OldServerSource) else {}
        target_uidv = {f.raw: f.uidvalidity for f in (self._target_info.folders if self._target_info else ())}
        for mapping in plan:
            if mapping.action != "copy":
                continue
            st = statuses.get(mapping.source_raw)
            stamp = self._stamp(st)
            state = self.idmap.folder(self.user, mapping.source_raw)
            if (st is not None and stamp and state is not None and state.source_stamp == stamp and mapping.exists
                    and state.target_raw == mapping.target_raw
                    and target_uidv.get(mapping.target_raw) == state.target_uidvalidity
                    and self.idmap.inflight(self.user, mapping.target_raw) is None):
                # The source folder's STATUS is what it was before the last complete pass (no new, gone or
                # re-flagged message: HIGHESTMODSEQ), the target folder is the one written then: nothing
                # to do, known without selecting either folder.
                self._unchanged.add(mapping.source_raw)
                self._quick[mapping.source_raw] = st.messages
                folders += 1
                continue
            folder = _source_folder(mapping)
            uidvalidity, exists = self.source.open_folder(folder)
            metas = self._since(self.source.metadata(exists))
            self._scanned[mapping.source_raw] = (uidvalidity, metas)
            rows = self.idmap.rows(self.user, mapping.source_raw)
            have = {r.source_uid: r for r in rows if r.source_uidvalidity == uidvalidity and r.state == "done"}
            todo = [m for m in metas if m.uid not in have]
            if (not todo and state is not None and state.source_uidvalidity == uidvalidity and mapping.exists
                    and state.target_raw == mapping.target_raw and len(have) == len(rows)
                    and all(have[m.uid].flags == " ".join(m.flags) for m in metas)):
                unchanged.append((mapping, state.target_uidvalidity))
            folders += 1
            messages += len(todo)
            size += sum(max(m.size, 0) for m in todo)
            if todo:
                writing.append(mapping)
            self.controls.checkpoint()
        if writing and not self.opt.dry_run:
            self._mark_inflight(writing)
        # Nothing new, no flag change, nothing pending, and the target folder is the one we wrote to (same
        # UIDVALIDITY, a STATUS away): the folder is skipped without selecting it on either side again.
        assert self.target is not None
        for mapping, t_uidv in unchanged:
            listed = target_uidv.get(mapping.target_raw, 0)
            if not listed:
                listed = int(self.target.folder_status(mapping.target_raw, [b"UIDVALIDITY"])[b"UIDVALIDITY"])
            if listed == t_uidv and self.idmap.inflight(self.user, mapping.target_raw) is None:
                self._unchanged.add(mapping.source_raw)
        self.engine.emit(UserPlanned(self.user, folders, messages, size))

    def _stamp(self, st: FolderStatus | None) -> str:
        """What a source folder's STATUS must equal for the last complete pass to still cover it ('' when
        STATUS cannot tell: no CONDSTORE, so a flag change would not show)."""
        if st is None or st.highestmodseq <= 0 or st.uidvalidity <= 0 or st.messages < 0:
            return ""
        since = self.opt.since.isoformat() if self.opt.since else ""
        return f"{st.uidvalidity}:{st.uidnext}:{st.messages}:{st.highestmodseq}:{since}"

    def _mark_inflight(self, mappings: list[FolderMapping]) -> None:
        """Before the first APPEND of this run: each target folder's UIDNEXT, durably (see idmap.py)."""
        assert self.target is not None
        marks = []
        for mapping in mappings:
            if mapping.target_raw.upper() == b"INBOX" or self.target.folder_exists(mapping.target_raw):
                st = self.target.folder_status(mapping.target_raw, [b"UIDNEXT", b"UIDVALIDITY"])
                marks.append((mapping.target_raw, int(st[b"UIDVALIDITY"]), int(st[b"UIDNEXT"])))
            else:
                marks.append((mapping.target_raw, 0, 1))
        self.idmap.mark_inflight(self.user, marks, self.engine.run_id)

    def _since(self, metas: list[SourceMsg]) -> list[SourceMsg]:
        since = self.opt.since
        if since is None:
            return metas
        return [m for m in metas if m.internaldate is None or m.internaldate.date() >= since]

    # --- one folder ----------------------------------------------------------------------------

    def _folder(self, mapping: FolderMapping) -> None:
        assert self.source is not None and self.target is not None
        if mapping.source_raw in self._unchanged:
            n = self._quick.get(mapping.source_raw, -1)
            if n < 0:
                n = len(self._scanned.pop(mapping.source_raw, (0, []))[1])
            self.engine.emit(FolderStarted(self.user, mapping.source_name, 0, 0, n))
            self.engine.emit(FolderCopied(self.user, mapping.source_name, mapping.target_name, 0, n, 0, 0, 0))
            return
        source_folder = _source_folder(mapping)
        problems_before = len(self.problems)
        s_uidv, exists = self.source.open_folder(source_folder)
        scanned = self._scanned.pop(mapping.source_raw, None)
        metas = scanned[1] if scanned and scanned[0] == s_uidv else self._since(self.source.metadata(exists))
        rows = self.idmap.rows(self.user, mapping.source_raw)
        dry = self.opt.dry_run

        # The target folder: made when missing (not in a dry run), selected read-write.
        t_uidv = 0
        permanent: set[str] = {"\\*"}
        if not dry or self._target_exists(mapping.target_raw):
            t_uidv, permanent = self._select_target(mapping.target_raw, create=not dry)
        recovered = 0
        orphans: dict[str, list[int]] = {}
        if not dry:
            if any(r.target_raw == mapping.target_raw and r.target_uidvalidity != t_uidv for r in rows):
                self._target_changed(mapping.target_raw, t_uidv)
                rows = self.idmap.rows(self.user, mapping.source_raw)
            intents = [r for r in rows if r.state == "intent"]
            if intents:
                recovered = self._recover(intents, mapping.target_raw, t_uidv)
                rows = self.idmap.rows(self.user, mapping.source_raw)
            orphans = self._orphans(mapping.target_raw, t_uidv)
            self.idmap.set_folder(FolderState(self.user, mapping.source_raw, s_uidv, mapping.target_raw, t_uidv))

        current = {r.source_uid: r for r in rows if r.source_uidvalidity == s_uidv and r.state == "done"}
        pool: dict[str, list[MapRow]] = defaultdict(list)
        for r in sorted(rows, key=lambda r: (r.source_uidvalidity, r.source_uid)):
            if r.source_uidvalidity != s_uidv and r.state == "done":
                pool[r.sha256].append(r)
        todo = [m for m in metas if m.uid not in current]
        already = len(metas) - len(todo)
        self.engine.emit(FolderStarted(self.user, mapping.source_name, len(todo), sum(max(m.size, 0) for m in todo),
                                       len(metas)))
        flags_updated = self._sync_flags(mapping, metas, current, permanent, dry)
        copied = rekeyed = 0
        if not dry:
            copied, rekeyed, adopted = self._pipeline(mapping, s_uidv, t_uidv, todo, pool, orphans, permanent)
            recovered += adopted
            self.idmap.clear_inflight(self.user, mapping.target_raw)
            stamp = self._stamp(self.source.statuses.get(mapping.source_raw)
                                if isinstance(self.source, OldServerSource) else None)
            if stamp and len(self.problems) == problems_before:
                self.idmap.set_stamp(self.user, mapping.source_raw, stamp)
        self.engine.emit(FolderCopied(self.user, mapping.source_name, mapping.target_name, copied, already, rekeyed,
                                      flags_updated, recovered))

    def _target_exists(self, raw: bytes) -> bool:
        assert self.target is not None
        return bool(self.target.folder_exists(raw))

    def _select_target(self, raw: bytes, create: bool) -> tuple[int, set[str]]:
        assert self.target is not None
        if create and raw.upper() != b"INBOX" and not self.target.folder_exists(raw):
            try:
                self.target.create_folder(raw)
            except Exception as exc:  # e.g. a name the server still refuses
                if isinstance(exc, RETRYABLE):
                    raise
                if not self.target.folder_exists(raw):
                    raise FatalUserError(_("the new provider refused to create the folder {name}: {error}").format(
                        name=raw.decode("ascii", "replace"), error=exc)) from None
            with contextlib.suppress(Exception):
                self.target.subscribe_folder(raw)
        info = self.target.select_folder(raw)
        permanent = {(f.decode() if isinstance(f, bytes) else str(f)) for f in info.get(b"PERMANENTFLAGS", (b"\\*",))}
        return int(info[b"UIDVALIDITY"]), permanent

    def _batches(self, todo: list[SourceMsg]) -> Iterator[_Batch]:
        """Batches that start small and double up to batch_messages / batch_bytes: the APPEND of a folder's
        first batch begins while the rest is still being fetched (with one full-size batch a folder of a few
        hundred messages would be fetched whole, then sent whole, the two stages never overlapping)."""
        batch: list[SourceMsg] = []
        size = 0
        max_msgs = min(self.opt.batch_messages, FIRST_BATCH_MESSAGES)
        max_bytes = min(self.opt.batch_bytes, FIRST_BATCH_BYTES)
        for m in todo:
            if batch and (len(batch) >= max_msgs or size + max(m.size, 0) > max_bytes):
                yield _Batch(batch, size)
                batch, size = [], 0
                max_msgs = min(self.opt.batch_messages, max_msgs * 2)
                max_bytes = min(self.opt.batch_bytes, max_bytes * 2)
            batch.append(m)
            size += max(m.size, 0)
        if batch:
            yield _Batch(batch, size)

    def _flags_for_target(self, flags: tuple[str, ...], permanent: set[str]) -> tuple[str, ...]:
        keep_keywords = "\\*" in permanent
        allowed = {p.lower() for p in permanent}
        return tuple(f for f in flags if valid_flag(f) and (f.startswith("\\") or keep_keywords or f.lower() in allowed))

    def _pipeline(self, mapping: FolderMapping, s_uidv: int, t_uidv: int, todo: list[SourceMsg],
                  pool: dict[str, list[MapRow]], orphans: dict[str, list[int]], permanent: set[str]
                  ) -> tuple[int, int, int]:
        """Copy `todo` in batches, two stages overlapping: a reader thread fetches batch k+1 from the source
        (bodies spooled, hashed, intents committed) while this thread APPENDs batch k to the target. At
        most two batches are in memory; an error in either stage stops both and reaches the retry loop."""
        handoff: queue.Queue[_Prepared | BaseException | None] = queue.Queue(maxsize=1)
        stop = threading.Event()

        def reader() -> None:
            idmap = IdentityMap(self.engine.copy_dir / IDMAP_NAME)  # a connection of its own thread
            try:
                for batch in self._batches(todo):
                    if stop.is_set():
                        return
                    self.controls.checkpoint()
                    prepared = self._prepare(idmap, mapping, s_uidv, t_uidv, batch.msgs, pool, orphans)
                    while not stop.is_set():
                        try:
                            handoff.put(prepared, timeout=0.2)
                            break
                        except queue.Full:
                            continue
                    else:
                        prepared.close()
                        return
                handoff.put(None)
            except BaseException as exc:  # handed to the sending thread, which raises it
                handoff.put(exc)
            finally:
                idmap.close()

        thread = threading.Thread(target=reader, name=f"copy-read-{self.user}", daemon=True)
        thread.start()
        copied = rekeyed = adopted = 0
        try:
            while True:
                item = handoff.get()
                if item is None:
                    break
                if isinstance(item, BaseException):
                    raise item
                try:
                    self._deliver(mapping, t_uidv, item, permanent)
                    copied += len(item.send)
                    rekeyed += item.rekeyed
                    adopted += item.adopted
                finally:
                    item.close()
        finally:
            stop.set()
            while thread.is_alive() or not handoff.empty():
                try:
                    left = handoff.get(timeout=0.1)
                except queue.Empty:
                    continue
                if isinstance(left, _Prepared):
                    left.close()
            thread.join()
        return copied, rekeyed, adopted

    def _prepare(self, idmap: IdentityMap, mapping: FolderMapping, s_uidv: int, t_uidv: int, msgs: list[SourceMsg],
                 pool: dict[str, list[MapRow]], orphans: dict[str, list[int]]) -> _Prepared:
        """The reader's stage: bodies fetched; re-keyed rows (after a source UIDVALIDITY change) updated;
        intents of the rest committed, durable before any of them is sent."""
        assert self.source is not None
        bodies = self.source.bodies(msgs)
        prepared = _Prepared(bodies)
        try:
            rekeys: list[tuple[MapRow, int, int]] = []
            adopt: list[MapRow] = []
            for m in msgs:
                body = bodies.get(m.uid)
                if body is None:
                    continue  # expunged meanwhile, or an archive file that failed its checksum (reported)
                if body.sha256 in self.opt.skip_sha256:
                    continue
                if orphans.get(body.sha256):
                    # Sent by a run whose last commits a power cut lost: adopt it, with today's flags.
                    row = MapRow(self.user, mapping.source_raw, s_uidv, m.uid, mapping.target_raw, t_uidv,
                                 orphans[body.sha256].pop(0), body.sha256, body.size, body.message_id, "", "done")
                    adopt.append(row)
                    prepared.flag_fix.append((row, " ".join(m.flags)))
                    continue
                if pool.get(body.sha256):
                    row = pool[body.sha256].pop(0)
                    rekeys.append((row, s_uidv, m.uid))
                    if row.flags != " ".join(m.flags):
                        prepared.flag_fix.append((replace(row, source_uidvalidity=s_uidv, source_uid=m.uid), " ".join(m.flags)))
                    continue
                prepared.send.append((m, body))
            if rekeys:
                idmap.rekey_source(rekeys)
                prepared.rekeyed = len(rekeys)
            if adopt:
                idmap.add_done(adopt)
                prepared.adopted = len(adopt)
            prepared.rows = [MapRow(self.user, mapping.source_raw, s_uidv, m.uid, mapping.target_raw, t_uidv, 0, b.sha256,
                                    b.size, b.message_id, " ".join(m.flags), "intent") for m, b in prepared.send]
            if prepared.rows:
                idmap.add_intents(prepared.rows)  # durable before a byte of the APPEND leaves
        except BaseException:
            prepared.close()
            raise
        return prepared

    def _deliver(self, mapping: FolderMapping, t_uidv: int, prepared: _Prepared, permanent: set[str]) -> None:
        """The sender's stage: flags of re-keyed messages, then one APPEND for the batch, then the map."""
        if prepared.flag_fix:
            self._store_flags([(r.target_uid, tuple(f.split())) for r, f in prepared.flag_fix], permanent)
            self.idmap.set_flags(prepared.flag_fix)
        if prepared.send:
            self._send(mapping, t_uidv, prepared.send, prepared.rows, permanent)

    def _send(self, mapping: FolderMapping, t_uidv: int, send: list[tuple[SourceMsg, Body]], rows: list[MapRow],
              permanent: set[str]) -> None:
        assert self.target is not None and self.caps is not None
        outgoing = [Outgoing(b.size, self._flags_for_target(m.flags, permanent), m.internaldate, b.open, b.close_after_send,
                             m.date_raw) for m, b in send]
        try:
            self.target_dirty = True
            result = append_messages(self.target, mapping.target_raw, outgoing, self.caps)
            self.target_dirty = False
        except AppendFailed as exc:
            self.target_dirty = False
            if len(send) > 1:
                # MULTIAPPEND is all or none: send one by one to find the message the server refuses.
                for one, row in zip(send, rows, strict=True):
                    self._send(mapping, t_uidv, [one], [row], permanent)
                return
            self.idmap.drop(rows)
            m, _b = send[0]
            self.problems.append(_("the new provider refused UID {uid} of {folder}: {error}").format(
                uid=m.uid, folder=mapping.source_name, error=exc))
            return
        if result is not None:
            uidvalidity, uids = result
            self.idmap.complete([(r, uidvalidity, u) for r, u in zip(rows, uids, strict=True)])
        else:
            # No UIDPLUS: find each message again by size and sha256, among the UIDs no row claims yet.
            claimed = self.idmap.claimed(self.user, mapping.target_raw, t_uidv)
            done: list[tuple[MapRow, int, int]] = []
            for r in rows:
                uid = self._find(r.size, r.sha256, claimed)
                if uid is None:
                    raise FatalUserError(_("a message sent to {folder} cannot be found there again").format(folder=mapping.target_name))
                claimed.add(uid)
                done.append((r, t_uidv, uid))
            self.idmap.complete(done)
        n = len(send)
        size = sum(b.size for _m, b in send)
        self.messages += n
        self.bytes += size
        self.engine.emit(Progress(self.user, mapping.source_name, n, size))

    # --- flags ---------------------------------------------------------------------------------

    def _sync_flags(self, mapping: FolderMapping, metas: list[SourceMsg], current: dict[int, MapRow],
                    permanent: set[str], dry: bool) -> int:
        changes = [(current[m.uid], m.flags) for m in metas if m.uid in current and current[m.uid].flags != " ".join(m.flags)]
        if not changes or dry:
            return len(changes)
        self._store_flags([(r.target_uid, flags) for r, flags in changes], permanent)
        self.idmap.set_flags([(r, " ".join(flags)) for r, flags in changes])
        return len(changes)

    def _store_flags(self, items: list[tuple[int, tuple[str, ...]]], permanent: set[str]) -> None:
        assert self.target is not None
        by_flags: dict[tuple[str, ...], list[int]] = defaultdict(list)
        for uid, flags in items:
            by_flags[self._flags_for_target(flags, permanent)].append(uid)
        for flags, uids in by_flags.items():
            uids.sort()
            for i in range(0, len(uids), 500):
                self.target.set_flags(uids[i:i + 500], list(flags), silent=True)

    # --- recovery ------------------------------------------------------------------------------

    def _hash_target(self, uids: list[int] | None) -> list[tuple[int, str, int]]:
        """(uid, sha256, size) of target messages (all of the selected folder when uids is None)."""
        assert self.target is not None
        out: list[tuple[int, str, int]] = []
        current: list[HashSink] = []

        def open_body() -> HashSink:
            sink = HashSink(keep=False)
            current.append(sink)
            return sink

        def on_message(meta: Meta, writer: Any) -> None:
            if writer is not None and current:
                sink = current.pop()
                if meta.uid:
                    out.append((meta.uid, sink.sha.hexdigest(), sink.size))

        if uids == []:
            return out
        self.target_dirty = True
        stream_fetch(self.target, "1:*" if uids is None else uid_set(sorted(uids)), "(UID BODY.PEEK[])",
                     open_body=open_body, on_message=on_message)
        self.target_dirty = False
        return out

    def _find(self, size: int, sha: str, claimed: set[int]) -> int | None:
        assert self.target is not None
        candidates = [u for u in self.target.search(["LARGER", str(max(size - 1, 0)), "SMALLER", str(size + 1)])
                      if u not in claimed]
        for uid, got, _size in sorted(self._hash_target(candidates)):
            if got == sha:
                return uid
        return None

    def _recover(self, intents: list[MapRow], target_raw: bytes, t_uidv: int) -> int:
        """Intents a killed run left: complete those whose message reached the target, drop the rest."""
        claimed = self.idmap.claimed(self.user, target_raw, t_uidv)
        done: list[tuple[MapRow, int, int]] = []
        gone: list[MapRow] = []
        for r in sorted(intents, key=lambda r: r.source_uid):
            uid = self._find(r.size, r.sha256, claimed) if r.target_uidvalidity == t_uidv else None
            if uid is None:
                gone.append(r)
            else:
                claimed.add(uid)
                done.append((r, t_uidv, uid))
        self.idmap.complete(done)
        self.idmap.drop(gone)
        return len(done)

    def _orphans(self, target_raw: bytes, t_uidv: int) -> dict[str, list[int]]:
        """sha256 -> target UIDs that an earlier, interrupted run may have sent without the map knowing
        (its in-flight marker is still there): unclaimed messages at or above the UIDNEXT it recorded."""
        assert self.target is not None
        marker = self.idmap.inflight(self.user, target_raw)
        if marker is None or marker[2] == self.engine.run_id:
            return {}
        uidvalidity, uidnext, _run = marker
        if uidvalidity != t_uidv:
            uidnext = 1  # the folder is new (or was re-created) since: all of it
        claimed = self.idmap.claimed(self.user, target_raw, t_uidv)
        candidates = [u for u in self.target.search(["UID", f"{max(uidnext, 1)}:*"]) if u >= uidnext and u not in claimed]
        out: dict[str, list[int]] = defaultdict(list)
        for uid, sha, _size in sorted(self._hash_target(candidates)):
            out[sha].append(uid)
        return out

    def _target_changed(self, target_raw: bytes, t_uidv: int) -> None:
        """The target folder was re-created or renumbered: re-point every row at what is really there."""
        rows = self.idmap.target_rows(self.user, target_raw)
        there: dict[str, list[int]] = defaultdict(list)
        for uid, sha, _size in sorted(self._hash_target(None)):
            there[sha].append(uid)
        done: list[tuple[MapRow, int, int]] = []
        gone: list[MapRow] = []
        for r in sorted(rows, key=lambda r: (r.state != "done", r.source_uidvalidity, r.source_uid)):
            if there.get(r.sha256):
                done.append((r, t_uidv, there[r.sha256].pop(0)))
            else:
                gone.append(r)
        self.idmap.complete(done)
        self.idmap.drop(gone)


def _source_folder(mapping: FolderMapping) -> SourceFolder:
    return SourceFolder(mapping.source_raw, mapping.source_name, "")


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) < 200 else text[:200] + "…"


def plan_user(project: Project, credentials: Credentials, email: str, options: CopyOptions) -> list[FolderMapping]:
    """The folder plan of one user (both sides listed, nothing written): what `--plan` prints and the
    Copy tab shows for the highlighted user. Raises FatalUserError with the reason when a side fails."""
    user = select_users(project, [email])[0]
    new_spec = side_login_specs(project, credentials, [user], "new")[email]
    if isinstance(new_spec, str):
        raise FatalUserError(f"{_('new provider')}: {new_spec}")
    source_client: IMAPClient | None = None
    archive: ArchiveSource | None = None
    target: IMAPClient | None = None
    try:
        if options.source == "archive":
            dest = (options.archive or default_dest(options.project_path or Path("."), project)).absolute()
            archive = ArchiveSource(dest, email)
            folders = archive.folders()
        else:
            old_spec = side_login_specs(project, credentials, [user], "old")[email]
            if isinstance(old_spec, str):
                raise FatalUserError(f"{_('old provider')}: {old_spec}")
            source_client = connect_side(project, "old", old_spec, options.timeout)
            folders = list_source_folders(source_client)
        target = connect_side(project, "new", new_spec, options.timeout)
        return plan_folders(folders, list_target(target), options.config)
    except TRANSIENT_ERRORS as exc:
        raise FatalUserError(_("the server cannot be reached: {error}").format(error=_describe(exc))) from None
    finally:
        close_quietly(source_client)
        close_quietly(target)
        if archive is not None:
            archive.close()


__all__ = ["CopyEngine", "CopyOptions", "FolderCopied", "UserFolders", "norm_flags", "plan_user", "side_login_specs"]
