"""Read a users CSV (email, old_password required; display_name, department, old_login, new_login,
new_password optional) and apply it all-or-nothing: passwords to credentials, users to the project."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from mailmig_tui.core.credentials import Credentials
from mailmig_tui.core.i18n import _
from mailmig_tui.core.model import Project, User
from mailmig_tui.core.store import ProjectStore

REQUIRED = ("email", "old_password")
OPTIONAL = ("display_name", "department", "old_login", "new_login", "new_password")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass
class Row:
    line: int
    email: str
    old_password: str
    display_name: str = ""
    department: str = ""
    old_login: str = ""
    new_login: str = ""
    new_password: str = ""

    def __repr__(self) -> str:  # never show the passwords, even in a traceback
        return f"Row(line={self.line}, email={self.email!r})"


@dataclass
class BadRow:
    line: int
    reason: str


@dataclass
class ParsedCsv:
    rows: list[Row] = field(default_factory=list)
    bad: list[BadRow] = field(default_factory=list)


class CsvHeaderError(ValueError):
    pass


def parse_users_csv(text: str) -> ParsedCsv:
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise CsvHeaderError(_("the file is empty")) from None
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise CsvHeaderError(_("missing required column(s): {cols}").format(cols=", ".join(missing)))
    unknown = [c for c in header if c not in REQUIRED + OPTIONAL]
    if unknown:
        raise CsvHeaderError(_("unknown column(s): {cols} (known: {known})").format(
            cols=", ".join(unknown), known=", ".join(REQUIRED + OPTIONAL)))
    result = ParsedCsv()
    seen: dict[str, int] = {}
    line = reader.line_num
    for values in reader:
        start, line = line + 1, reader.line_num  # a quoted field may span lines: report where the row starts
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(header):
            result.bad.append(BadRow(start, _("expected {n} fields, found {m}").format(n=len(header), m=len(values))))
            continue
        rec = {k: v.strip() if k not in ("old_password", "new_password") else v for k, v in zip(header, values, strict=True)}
        email = rec["email"]
        if not EMAIL.match(email):
            result.bad.append(BadRow(start, _("not an email address: {value!r}").format(value=email)))
            continue
        if not rec["old_password"]:
            result.bad.append(BadRow(start, _("old_password is empty for {email}").format(email=email)))
            continue
        key = email.lower()
        if key in seen:
            result.bad.append(BadRow(start, _("{email} is listed twice (also line {line})").format(email=email, line=seen[key])))
            continue
        seen[key] = start
        result.rows.append(Row(start, email, rec["old_password"], **{k: rec.get(k, "") for k in OPTIONAL}))
    return result


@dataclass
class ImportResult:
    added: int = 0
    updated: int = 0
    skipped: list[BadRow] = field(default_factory=list)


def apply_import(store: ProjectStore, creds: Credentials, rows: list[Row]) -> ImportResult:
    """Passwords first (a failure leaves the project untouched), then the users in one project save."""
    domain = store.project.domain
    entries: list[tuple[str, str, str]] = []
    for r in rows:
        entries.append(("old", r.old_login or r.email, r.old_password))
        if r.new_password:
            entries.append(("new", r.new_login or r.email, r.new_password))
    creds.set_many(domain, entries)
    result = ImportResult()

    def change(project: Project) -> None:
        for r in rows:
            try:
                user = project.user(r.email)
                result.updated += 1
            except KeyError:
                user = User(r.email)
                project.users.append(user)
                result.added += 1
            for attr in ("display_name", "department", "old_login", "new_login"):
                value = getattr(r, attr)
                if value:
                    setattr(user, attr, value)

    store.update(change, log=_("imported {n} users from CSV").format(n=len(rows)))
    return result


def read_csv_file(path: Path) -> str:
    return path.read_text(encoding="utf-8-sig")
