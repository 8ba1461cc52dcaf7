"""The new provider's bulk-user import file, from the project's users and (when stored) their new
passwords: `mailmig accounts export PROJECT --format PRESET|generic`.

Each provider's columns, order and encoding come from its `[<preset>.bulk_import]` table in
`core/presets.toml`, which cites the documentation they were taken from. A provider whose format could not
be found in its documentation says so there (`documented = false`) and the export refuses rather than
guess. The file is created with mode 0600 before anything is written to it, and replaced atomically.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import tempfile
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mailmig_tui.core.credentials import Credentials
from mailmig_tui.core.errors import MailmigError, UsageError
from mailmig_tui.core.i18n import _
from mailmig_tui.core.model import Project, User
from mailmig_tui.core.presets import bulk_import_format, preset_names

# The generic file: the columns `mailmig users import` reads, so it round-trips.
GENERIC: dict[str, Any] = {
    "documented": True,
    "source": "mailmig users import (README: Users CSV)",
    "encoding": "utf-8",
    "columns": [
        {"header": "email", "value": "email", "required": True},
        {"header": "display_name", "value": "display_name"},
        {"header": "department", "value": "department"},
        {"header": "old_login", "value": "old_login"},
        {"header": "new_login", "value": "new_login"},
        {"header": "new_password", "value": "new_password"},
    ],
}
ENCODINGS = ("utf-8", "utf-8-sig", "gbk")


@dataclass(frozen=True)
class ExportFormat:
    name: str
    source: str
    encoding: str
    columns: list[tuple[str, str, bool]]  # (header, value key, required)
    max_rows: int = 0

    @property
    def has_password_column(self) -> bool:
        return any(value == "new_password" for _h, value, _r in self.columns)

    @property
    def password_required(self) -> bool:
        return any(value == "new_password" and required for _h, value, required in self.columns)


@dataclass
class ExportResult:
    path: Path
    format: ExportFormat
    users: int
    passwords: int  # rows that hold a password
    warnings: list[str] = field(default_factory=list)


def export_formats() -> list[str]:
    """Every preset with a bulk-import table (documented or not), and generic."""
    return [name for name in preset_names() if bulk_import_format(name) is not None] + ["generic"]


def load_format(name: str) -> ExportFormat:
    table = GENERIC if name == "generic" else bulk_import_format(name)
    if table is None:
        raise UsageError(_("no bulk-import format for {name!r}; choose one of: {names}").format(
            name=name, names=", ".join(export_formats())))
    if not table.get("documented"):
        raise UsageError(_("{name}: the provider's bulk-import format is not published in a source mailmig could cite "
                           "({source}); download the template from its admin console and fill it from "
                           "`--format generic`").format(name=name, source=table.get("source", "?")))
    columns = [(str(c["header"]), str(c.get("value", "")), bool(c.get("required", False))) for c in table["columns"]]
    return ExportFormat(name, str(table.get("source", "")), str(table.get("encoding", "utf-8")), columns,
                        int(table.get("max_rows", 0)))


def _is_cjk(text: str) -> bool:
    return any(unicodedata.east_asian_width(ch) in ("W", "F") for ch in text)


def split_name(user: User) -> tuple[str, str]:
    """(first, last) from the display name: "Alice Wong" → (Alice, Wong); "张伟" → (伟, 张) (family name
    first); no display name → the mailbox's local part as both, which the caller warns about."""
    name = user.display_name.strip()
    if not name:
        local = user.email.partition("@")[0]
        return local, local
    if " " in name:
        first, _sp, last = name.rpartition(" ")
        return first.strip(), last.strip()
    if _is_cjk(name) and len(name) >= 2:
        return name[1:], name[0]
    return name, name


def _value(key: str, user: User, password: str | None) -> str:
    if key.startswith("const:"):
        return key.removeprefix("const:")
    if key == "email":
        return user.effective_new_login if "@" in user.effective_new_login else user.email
    if key == "local_part":
        return user.email.partition("@")[0]
    if key == "display_name":
        return user.display_name
    if key == "display_name_or_local":
        return user.display_name or user.email.partition("@")[0]
    if key == "first_name":
        return split_name(user)[0]
    if key == "last_name":
        return split_name(user)[1]
    if key == "department":
        return user.department
    if key == "old_login":
        return user.old_login
    if key == "new_login":
        return user.new_login
    if key == "new_password":
        return password or ""
    return ""


def render(fmt: ExportFormat, project: Project, credentials: Credentials | None) -> tuple[bytes, int, list[str]]:
    """The file's bytes, how many rows hold a password, and what the admin should know."""
    warnings: list[str] = []
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([header for header, _v, _r in fmt.columns])
    passwords = 0
    missing_password: list[str] = []
    nameless = 0
    stored: dict[tuple[str, str], str | None] = {}
    if fmt.has_password_column and credentials is not None:  # one read of the store, not one per user
        stored = credentials.get_many(project.domain, [("new", u.effective_new_login) for u in project.users])
    for user in project.users:
        password = stored.get(("new", user.effective_new_login))
        if password:
            passwords += 1
        elif fmt.password_required:
            missing_password.append(user.email)
        if not user.display_name and any(v in ("first_name", "last_name", "display_name") for _h, v, _r in fmt.columns):
            nameless += 1
        writer.writerow([_value(value, user, password) for _h, value, _r in fmt.columns])
    if missing_password:
        warnings.append(_("{n} users have no new password stored and this provider requires one ({first}…): set them "
                          "on the Users tab, or its importer rejects those rows").format(
            n=len(missing_password), first=missing_password[0]))
    if nameless:
        warnings.append(_("{n} users have no display name: their name columns hold the mailbox name").format(n=nameless))
    if fmt.max_rows and len(project.users) > fmt.max_rows:
        warnings.append(_("{n} users, but this provider's importer takes at most {max} per file: split it").format(
            n=len(project.users), max=fmt.max_rows))
    try:
        data = buffer.getvalue().encode(fmt.encoding)
    except UnicodeEncodeError as exc:
        raise MailmigError(_("a user's details cannot be written as {encoding}: {error}").format(
            encoding=fmt.encoding, error=exc)) from None
    return data, passwords, warnings


def write_private(path: Path, data: bytes) -> None:
    """Write `data` to `path` readable by its owner only: a temp file created 0600 in the same folder,
    fsynced, renamed over `path` (so a reader never sees half a file, and the mode holds from the start)."""
    path = path.absolute()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mkstemp creates it 0600
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def default_out(project_path: Path, project: Project, fmt: str) -> Path:
    return project_path.absolute().parent / f"{project.domain}-users-{fmt}.csv"


def export_users(project: Project, credentials: Credentials | None, fmt_name: str, out: Path,
                 encoding: str | None = None) -> ExportResult:
    fmt = load_format(fmt_name)
    if encoding:
        if encoding not in ENCODINGS:
            raise UsageError(_("--encoding must be one of {choices}").format(choices=", ".join(ENCODINGS)))
        fmt = ExportFormat(fmt.name, fmt.source, encoding, fmt.columns, fmt.max_rows)
    if not project.users:
        raise UsageError(_("the project has no users to export (import them with `mailmig users import`)"))
    data, passwords, warnings = render(fmt, project, credentials)
    write_private(out, data)
    return ExportResult(out, fmt, len(project.users), passwords, warnings)
