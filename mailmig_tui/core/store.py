"""The one place that reads and writes a project file.

Saves keep the file's comments, blank lines, key order and unknown keys (core/toml_style.py). Writes are atomic (temp file in the same folder, fsync, os.replace, fsync of the folder), keep the
previous version as `<file>.bak`, and happen only while this process holds the project's lock
(`<file>.lock`, an flock). A second mailmig on the same file gets a read-only store and a message
naming who holds the lock. A file that fails to parse is never written over.
"""

from __future__ import annotations

import contextlib
import copy
import errno
import fcntl
import functools
import hashlib
import json
import os
import re
import socket
import tempfile
import threading
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import tomli_w

from mailmig_tui.core import toml_style
from mailmig_tui.core.errors import ProjectChangedOnDiskError, ProjectFileError, ProjectLockedError
from mailmig_tui.core.i18n import _
from mailmig_tui.core.model import Project, SchemaError

SECRET_KEY_PATTERN = re.compile(r"(pass(word|wd|phrase)?|secret|token|api_?key|credential)s?$", re.IGNORECASE)


def format_key_path(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def locate_key(text: str, path: tuple[str | int, ...]) -> int | None:
    """Best-effort line number (1-based) of the key `path` in TOML `text`, for error messages.

    tomllib gives no positions for values, so we follow table headers: `[a.b]` and `[[a]]` (counting
    array-of-tables entries), then find `key =` inside the table the path points at.
    """
    if not path:
        return None
    *table_path, last = path
    header_re = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
    counts: dict[str, int] = {}
    current: tuple[str | int, ...] = ()
    target = tuple(table_path)
    best: int | None = None
    for lineno, line in enumerate(text.splitlines(), start=1):
        m = header_re.match(line)
        if m:
            name = m.group(2).replace('"', "")
            parts: list[str | int] = list(name.split("."))
            if m.group(1) == "[[":
                counts[name] = counts.get(name, -1) + 1
                parts.append(counts[name])
            current = tuple(parts)
            if current == tuple(path):
                best = lineno  # the path names a whole table
            continue
        key_match = re.match(r"^\s*([A-Za-z0-9_\-\"]+)\s*=", line)
        if key_match and key_match.group(1).strip('"') == str(last) and current == target:
            return lineno
        if key_match and key_match.group(1).strip('"') == str(table_path[0] if table_path else last) and current == ():
            best = best or lineno
    return best


@functools.lru_cache(maxsize=4096)
def _secret_looking(key: str) -> bool:
    return bool(SECRET_KEY_PATTERN.search(key))  # the same few key names, thousands of times: cached


def find_secret_keys(data: Any, path: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Keys that look like they hold a secret: the project file must never contain one."""
    found: list[tuple[str | int, ...]] = []
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(key, str) and _secret_looking(key) and isinstance(value, str) and value:
                found.append((*path, key))
            found.extend(find_secret_keys(value, (*path, key)))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found.extend(find_secret_keys(value, (*path, i)))
    return found


def parse_project_text(text: str, filename: str) -> Project:
    return parse_project_data(text, filename)[0]


def parse_project_data(text: str, filename: str) -> tuple[Project, dict[str, Any]]:
    """The project in `text`, and the plain data tomllib read (what a style-preserving save starts from)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProjectFileError(_("{file}: not valid TOML: {error}").format(file=filename, error=exc)) from None
    try:
        return Project.from_dict(data), data
    except SchemaError as exc:
        raise schema_error(text, filename, exc) from None


def schema_error(text: str, filename: str, exc: SchemaError) -> ProjectFileError:
    """A ProjectFileError naming the file, the line (where we can find it) and the key."""
    # Inline tables have no header of their own: fall back to the nearest enclosing key's line.
    line = next((found for n in range(len(exc.path), 0, -1) if (found := locate_key(text, exc.path[:n]))), None)
    key = format_key_path(exc.path)
    if line:
        message = _("{file}: line {line}, key {key}: {message}").format(
            file=filename, line=line, key=key, message=exc.message)
    else:
        message = _("{file}: key {key}: {message}").format(file=filename, key=key, message=exc.message)
    return ProjectFileError(message)


def load_project(path: Path) -> Project:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProjectFileError(_("{file}: no such project file").format(file=path)) from None
    except UnicodeDecodeError as exc:
        raise ProjectFileError(_("{file}: not UTF-8 text ({error})").format(file=path, error=exc)) from None
    except OSError as exc:
        raise ProjectFileError(_("{file}: cannot read: {error}").format(file=path, error=exc.strerror)) from None
    return parse_project_text(text, str(path))


def project_data(project: Project, unchanged_since: dict[str, Any] | None = None) -> dict[str, Any]:
    """The project as plain TOML data, refusing anything that looks like a secret.

    `unchanged_since`: data already checked (the last save); only the top-level keys that differ from it
    are searched again, so a tick in a 5,000-user project does not walk every user."""
    data = project.to_dict()
    if unchanged_since is None:
        secrets = find_secret_keys(data)
    else:
        secrets = [found for key, value in data.items() if unchanged_since.get(key) != value
                   for found in find_secret_keys(value, (key,))]
    if secrets:
        # A hard stop, not a warning: writing a password into a file we tell users is secret-free would
        # be the worst possible bug.
        raise ProjectFileError(
            _("refusing to write a project file with secret-looking keys: {keys}").format(
                keys=", ".join(format_key_path(p) for p in secrets)
            )
        )
    return data


def dump_project(project: Project) -> str:
    """A new project file's text (an existing file is saved by `ProjectStore.save`, keeping its layout)."""
    header = (
        "# mailmig project file: edit with care, or with `mailmig`.\n"
        "# Passwords are never stored here; they live in the keyring.\n"
    )
    return header + tomli_w.dumps(project_data(project), multiline_strings=True)


def atomic_write(path: Path, text: str, keep_backup: bool = True) -> None:
    """Replace `path` with `text` so a crash leaves the old or the new file, never half of one."""
    folder = path.parent
    mode = 0o600
    with contextlib.suppress(FileNotFoundError):
        mode = path.stat().st_mode & 0o777
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, mode)
        if keep_backup and path.exists():
            backup = path.with_name(path.name + ".bak")
            with contextlib.suppress(FileNotFoundError):
                os.unlink(backup)
            os.link(path, backup)  # a hard link: the .bak is the old file itself, at no copying cost
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class ProjectLock:
    """An exclusive flock on `<project>.lock`, holding who took it for the message others see."""

    def __init__(self, project_path: Path) -> None:
        self.path = project_path.with_name(project_path.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise ProjectLockedError(
                        _("{file} is open in another mailmig ({holder}); opened read-only").format(
                            file=self.path.with_suffix("").name, holder=self.holder() or _("unknown process")
                        )
                    ) from None
                raise
            # The holder we waited behind removes the lock file when it lets go: if the file we locked is no
            # longer the one at that path, our lock guards nothing; take the new one.
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        info = {"pid": os.getpid(), "host": socket.gethostname()}
        os.write(fd, json.dumps(info).encode())
        self._fd = fd

    def holder(self) -> str:
        try:
            info = json.loads(self.path.read_text() or "{}")
            return _("pid {pid} on {host}").format(pid=info.get("pid", "?"), host=info.get("host", "?"))
        except (OSError, ValueError):
            return ""

    def release(self) -> None:
        if self._fd is not None:
            # Remove the lock file while still holding the lock (so no one can hold it meanwhile); anyone who
            # opened it before we unlinked sees the inode change after locking and starts over.
            with contextlib.suppress(OSError):
                if os.fstat(self._fd).st_ino == os.stat(self.path).st_ino:
                    os.unlink(self.path)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class ProjectStore:
    """An open project: its model, its lock, and the only way to save it.

    Use `store.update(fn)` to change the project: it runs `fn(project)` and saves at once. Listeners
    (the TUI) are told after each save. Thread-safe: engines may record results from worker threads.
    """

    def __init__(self, path: Path, project: Project, lock: ProjectLock | None, disk_text: str,
                 lock_message: str = "", disk_data: dict[str, Any] | None = None) -> None:
        self.path = path
        self.project = project
        self._lock = lock
        self._disk_digest = _digest(disk_text)
        # What the file holds, as text and as data: a save edits this text (see core/toml_style.py).
        self._disk_text = disk_text
        self._disk_data = disk_data if disk_data is not None else tomllib.loads(disk_text)
        self._styled: toml_style.StyledText | None = None
        # The data of the last save, known to hold no secret-looking key (None: check everything).
        self._checked_data: dict[str, Any] | None = None
        self.lock_message = lock_message
        self._mutex = threading.RLock()
        self._listeners: list[Callable[[Project], None]] = []

    @classmethod
    def open(cls, path: Path, *, readonly: bool = False, allow_readonly_fallback: bool = True) -> ProjectStore:
        path = Path(path).absolute()
        lock: ProjectLock | None = None
        message = ""
        if not path.is_file():
            # Before taking the lock: `mailmig bogus` must not leave a `bogus.lock` behind.
            raise ProjectFileError((_("{file}: is a folder, not a project file") if path.is_dir()
                                    else _("{file}: no such project file")).format(file=path))
        if not readonly:
            candidate = ProjectLock(path)
            try:
                candidate.acquire()
                lock = candidate
            except ProjectLockedError as exc:
                if not allow_readonly_fallback:
                    raise
                message = str(exc)
            except OSError as exc:
                if not allow_readonly_fallback:
                    raise ProjectFileError(_("{file}: cannot lock: {error}").format(file=path, error=exc.strerror)) from None
                message = _("cannot lock {file} ({error}); opened read-only").format(file=path.name, error=exc.strerror)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            if lock:
                lock.release()
            raise ProjectFileError(_("{file}: no such project file").format(file=path)) from None
        except (OSError, UnicodeDecodeError) as exc:
            if lock:
                lock.release()
            raise ProjectFileError(_("{file}: cannot read: {error}").format(file=path, error=exc)) from None
        try:
            project, data = parse_project_data(text, str(path))
        except ProjectFileError:
            if lock:
                lock.release()
            raise
        return cls(path, project, lock, text, message, data)

    @classmethod
    def create(cls, path: Path, project: Project, *, overwrite: bool = False) -> ProjectStore:
        path = Path(path).absolute()
        if path.exists() and not overwrite:
            raise ProjectFileError(_("{file} already exists; not overwriting it").format(file=path))
        text = dump_project(project)
        lock = ProjectLock(path)
        try:
            lock.acquire()
            atomic_write(path, text, keep_backup=overwrite)
        except OSError as exc:
            lock.release()
            raise ProjectFileError(_("cannot write {file}: {error}").format(
                file=path, error=exc.strerror or exc)) from None
        except BaseException:
            lock.release()
            raise
        return cls(path, project, lock, text)

    @property
    def readonly(self) -> bool:
        return self._lock is None or not self._lock.held

    def subscribe(self, listener: Callable[[Project], None]) -> None:
        self._listeners.append(listener)

    def save(self) -> None:
        with self._mutex:
            if self.readonly:
                raise ProjectLockedError(self.lock_message or _("the project is open read-only"))
            try:
                on_disk = self.path.read_text(encoding="utf-8")
            except FileNotFoundError:
                on_disk = None
            if on_disk is not None and _digest(on_disk) != self._disk_digest:
                raise ProjectChangedOnDiskError(
                    _("{file} was changed outside mailmig since it was opened; not overwriting it "
                      "(reopen it to see the changes)").format(file=self.path.name)
                )
            data = project_data(self.project, self._checked_data)
            try:
                text, self._styled = toml_style.restyle(self._disk_text, self._disk_data, data, self._styled)
                atomic_write(self.path, text)
            except BaseException:
                self._styled = None  # may have been edited for a text that was not written: cut afresh
                raise
            self._disk_text, self._disk_data = text, data
            self._checked_data = data
            self._disk_digest = _digest(text)
        for listener in list(self._listeners):
            listener(self.project)

    def reload(self) -> None:
        """Read the file again (after an outside edit), keeping the lock: nothing of the old state is kept.
        A file that does not parse raises ProjectFileError and leaves the store as it was."""
        with self._mutex:
            try:
                text = self.path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ProjectFileError(_("{file}: cannot read: {error}").format(file=self.path, error=exc)) from None
            project, data = parse_project_data(text, str(self.path))
            self.project = project
            self._disk_text, self._disk_data, self._styled = text, data, None
            self._checked_data = None
            self._disk_digest = _digest(text)
        for listener in list(self._listeners):
            listener(self.project)

    def changed_on_disk(self) -> bool:
        """Whether the file is no longer what this store read or wrote last."""
        try:
            return _digest(self.path.read_text(encoding="utf-8")) != self._disk_digest
        except (OSError, UnicodeDecodeError):
            return True

    def update(self, change: Callable[[Project], Any], log: str | None = None) -> Any:
        """Apply `change` and save; on any failure the in-memory project is rolled back too (to the state
        of the last save, which is what the project holds between updates)."""
        with self._mutex:
            if self.readonly:
                raise ProjectLockedError(self.lock_message or _("the project is open read-only"))
            # The state to go back to, as data (cheap); rebuilt into a Project only if the change fails.
            before = copy.deepcopy(self.project.to_dict()) if self._checked_data is None else None
            try:
                result = change(self.project)
                if log:
                    self.project.log(log)
                self.save()
            except BaseException:
                # After a save the project is exactly the data last written (which is never mutated).
                self.project = Project.from_dict(before if before is not None else self._checked_data or {})
                raise
            return result

    def close(self) -> None:
        if self._lock is not None:
            self._lock.release()

    def __enter__(self) -> ProjectStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def open_for_update(path: Path) -> Iterator[ProjectStore]:
    """For CLI commands that change the project: fail (never fall back) if another mailmig has it."""
    store = ProjectStore.open(path, allow_readonly_fallback=False)
    try:
        yield store
    finally:
        store.close()
