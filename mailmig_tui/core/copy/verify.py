"""Prove a copy: per user and folder, the source's messages against the target's, by content.

Both sides are read again (bodies streamed through sha256, nothing kept): the source server's folder
(or, with source "archive", the backup index's recorded hashes) and the target folder the plan maps it
to. Messages are paired by sha256, one for one (byte-identical duplicates count); a pair whose flags or
INTERNALDATE differ is *different*; a source message without a partner is *missing*; a target message
without one is *extra* (a duplicate, or mail that reached the new side another way). The identity map
is not consulted: this is evidence from the servers, not from our own notes.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from imapclient import IMAPClient

from mailmig_tui.core.backup.engine import select_users
from mailmig_tui.core.copy.engine import (
    CopyEngine,
    CopyOptions,
    connect_side,
    list_target,
    side_login_specs,
    worker_count,
)
from mailmig_tui.core.copy.folders import FolderMapping, plan_folders
from mailmig_tui.core.copy.sources import ArchiveSource, HashSink, list_source_folders, norm_flags
from mailmig_tui.core.credentials import Credentials
from mailmig_tui.core.i18n import _
from mailmig_tui.core.imap.fetch import FetchFailed, Meta, stream_fetch
from mailmig_tui.core.imap.session import TRANSIENT_ERRORS, FatalUserError, LoginSpec, close_quietly
from mailmig_tui.core.model import Project

RETRYABLE: tuple[type[BaseException], ...] = (*TRANSIENT_ERRORS, FetchFailed)
MAX_LISTED = 200  # per folder and kind; the counts are always complete


@dataclass(slots=True)
class _Item:
    uid: int
    sha: str
    size: int
    flags: tuple[str, ...]
    internaldate: datetime | None
    message_id: str

    def label(self, side: str) -> str:
        mid = f" {self.message_id}" if self.message_id else ""
        return _("{side} UID {uid}{mid}, {size} bytes").format(side=side, uid=self.uid, mid=mid, size=self.size)


@dataclass
class FolderCopyCheck:
    user: str
    source_folder: str
    target_folder: str
    source_count: int = 0
    target_count: int = 0
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    different: list[str] = field(default_factory=list)
    n_missing: int = 0
    n_extra: int = 0
    n_different: int = 0

    @property
    def ok(self) -> bool:
        return not (self.n_missing or self.n_extra or self.n_different)


@dataclass
class CopyCheck:
    user: str
    folders: int = 0
    source_messages: int = 0
    target_messages: int = 0
    missing: int = 0
    extra: int = 0
    different: int = 0
    error: str = ""
    details: list[str] = field(default_factory=list)
    folder_checks: list[FolderCopyCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.error or self.missing or self.extra or self.different)


def verify_copy(project: Project, credentials: Credentials, options: CopyOptions,
                on_event: Callable[[Any], None] | None = None) -> list[CopyCheck]:
    """One CopyCheck per user (in project order). Uses the same folder plan as the copy."""
    engine = CopyEngine(project, credentials, options)  # for its resolved archive and settings
    users = select_users(project, options.users)
    old_specs = side_login_specs(project, credentials, users, "old") if options.source == "old" else {}
    new_specs = side_login_specs(project, credentials, users, "new")
    lock = threading.Lock()

    def emit(event: Any) -> None:
        if on_event is not None:
            with lock:
                on_event(event)

    def one(email: str) -> CopyCheck:
        check = CopyCheck(email)
        try:
            _verify_user(engine, email, old_specs.get(email), new_specs[email], check, emit)
        except FatalUserError as exc:
            check.error = str(exc)
        except RETRYABLE as exc:
            check.error = _("the server cannot be reached: {error}").format(error=exc)
        emit(check)
        return check

    with ThreadPoolExecutor(max_workers=worker_count(project, options, len(users)), thread_name_prefix="verify-copy") as pool:
        return list(pool.map(lambda u: one(u.email), users))


def _fetch_items(client: IMAPClient, exists: int) -> list[_Item]:
    out: list[_Item] = []
    if not exists:
        return out
    sinks: list[HashSink] = []

    def open_body() -> HashSink:
        sinks.append(HashSink(keep=False))
        return sinks[-1]

    def on_message(meta: Meta, writer: Any) -> None:
        if writer is not None and sinks:
            sink = sinks.pop()
            if meta.uid:
                out.append(_Item(meta.uid, sink.sha.hexdigest(), sink.size, norm_flags(meta.flags), meta.internaldate,
                                 sink.message_id()))

    stream_fetch(client, "1:*", "(UID FLAGS INTERNALDATE BODY.PEEK[])", open_body=open_body, on_message=on_message)
    out.sort(key=lambda i: i.uid)
    return out


def _verify_user(engine: CopyEngine, email: str, old_spec: LoginSpec | str | None, new_spec: LoginSpec | str,
                 check: CopyCheck, emit: Callable[[Any], None]) -> None:
    project, options = engine.project, engine.options
    if isinstance(old_spec, str):
        raise FatalUserError(f"{_('old provider')}: {old_spec}")
    if isinstance(new_spec, str):
        raise FatalUserError(f"{_('new provider')}: {new_spec}")
    source: IMAPClient | None = None
    archive: ArchiveSource | None = None
    target: IMAPClient | None = None
    try:
        if options.source == "archive":
            archive = ArchiveSource(engine.archive, email)
            folders = archive.folders()
        else:
            assert old_spec is not None
            source = connect_side(project, "old", old_spec, options.timeout)
            folders = list_source_folders(source)
        target = connect_side(project, "new", new_spec, options.timeout)
        plan = plan_folders(folders, list_target(target), options.config)
        for mapping in plan:
            if mapping.action != "copy":
                continue
            fc = _verify_folder(mapping, source, archive, target, options, email)
            check.folders += 1
            check.source_messages += fc.source_count
            check.target_messages += fc.target_count
            check.missing += fc.n_missing
            check.extra += fc.n_extra
            check.different += fc.n_different
            check.folder_checks.append(fc)
            for kind, items in ((_("missing"), fc.missing), (_("extra"), fc.extra), (_("different"), fc.different)):
                for text in items:
                    check.details.append(f"{fc.source_folder} → {fc.target_folder}: {kind}: {text}")
            emit(fc)
    finally:
        close_quietly(source)
        close_quietly(target)
        if archive is not None:
            archive.close()


def _verify_folder(mapping: FolderMapping, source: IMAPClient | None, archive: ArchiveSource | None, target: IMAPClient,
                   options: CopyOptions, email: str) -> FolderCopyCheck:
    fc = FolderCopyCheck(email, mapping.source_name, mapping.target_name)
    if archive is not None:
        from mailmig_tui.core.copy.folders import SourceFolder

        archive.open_folder(SourceFolder(mapping.source_raw, mapping.source_name, ""))
        src = [_Item(m.uid, m.sha256, m.size, m.flags, m.internaldate, "") for m in archive.metadata(-1)]
    else:
        assert source is not None
        info = source.select_folder(mapping.source_raw, readonly=True)
        src = _fetch_items(source, int(info.get(b"EXISTS", 0)))
    if options.since is not None:
        src = [i for i in src if i.internaldate is None or i.internaldate.date() >= options.since]
    if target.folder_exists(mapping.target_raw):
        info = target.select_folder(mapping.target_raw, readonly=True)
        tgt = _fetch_items(target, int(info.get(b"EXISTS", 0)))
    else:
        tgt = []
    fc.source_count, fc.target_count = len(src), len(tgt)
    by_sha: dict[str, list[_Item]] = defaultdict(list)
    for t in tgt:
        by_sha[t.sha].append(t)
    missing: list[_Item] = []
    for s in src:
        partners = by_sha.get(s.sha)
        if not partners:
            missing.append(s)
            continue
        t = partners.pop(0)
        problems = []
        if s.flags != t.flags:
            problems.append(_("flags {src} on the source, {dst} on the target").format(
                src="(" + " ".join(s.flags) + ")", dst="(" + " ".join(t.flags) + ")"))
        if s.internaldate and t.internaldate and s.internaldate != t.internaldate:
            problems.append(_("INTERNALDATE {src} on the source, {dst} on the target").format(
                src=s.internaldate.isoformat(), dst=t.internaldate.isoformat()))
        if problems:
            fc.n_different += 1
            if len(fc.different) < MAX_LISTED:
                fc.different.append(f"{s.label(_('source'))} → {t.label(_('target'))}: " + "; ".join(problems))
    extra = sorted((t for ts in by_sha.values() for t in ts), key=lambda t: t.uid)
    fc.n_missing, fc.n_extra = len(missing), len(extra)
    fc.missing = [s.label(_("source")) for s in missing[:MAX_LISTED]]
    fc.extra = [t.label(_("target")) for t in extra[:MAX_LISTED]]
    return fc
