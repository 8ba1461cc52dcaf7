"""The `[backup]` section of the project file, as far as the engine reads it.

    [backup]
    dest = "corp.example-backup"   # the archive folder (relative to the project file)
    retry_for = "10m"              # how long to keep retrying a server that is down or throttling
                                   # ("90s", "10m", "1h", or a number of seconds; 0 = fail at once)
    retry_max_delay = 60           # the longest wait between two tries, in seconds

The run results (`[backup.last_run]`, `[backup.last_verify]`) are written there by the engine's callers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mailmig_tui.core.i18n import _
from mailmig_tui.core.model import Project, SchemaError

DEFAULT_RETRY_FOR = 600.0
DEFAULT_RETRY_MAX_DELAY = 60.0
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h)?\s*$", re.IGNORECASE)
_UNITS = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}


@dataclass(frozen=True)
class BackupSettings:
    retry_for: float = DEFAULT_RETRY_FOR
    retry_max_delay: float = DEFAULT_RETRY_MAX_DELAY


def parse_duration(value: Any, path: tuple[str | int, ...]) -> float:
    if isinstance(value, bool):
        raise SchemaError(path, _("expected a duration such as \"10m\", \"90s\" or a number of seconds, found {value!r}")
                          .format(value=value))
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNITS[m.group(2).lower() if m.group(2) else None]
    else:
        raise SchemaError(path, _("expected a duration such as \"10m\", \"90s\" or a number of seconds, found {value!r}")
                          .format(value=value))
    if not 0 <= seconds <= 7 * 86400:
        raise SchemaError(path, _("must be between 0 and 7 days"))
    return seconds


def parse_backup_section(data: Any) -> BackupSettings:
    path: tuple[str | int, ...] = ("backup",)
    if data is None:
        return BackupSettings()
    if not isinstance(data, dict):
        raise SchemaError(path, _("expected a table [backup], found {value!r}").format(value=data))
    retry_for = parse_duration(data["retry_for"], (*path, "retry_for")) if "retry_for" in data else DEFAULT_RETRY_FOR
    max_delay = (parse_duration(data["retry_max_delay"], (*path, "retry_max_delay")) if "retry_max_delay" in data
                 else DEFAULT_RETRY_MAX_DELAY)
    if max_delay < 0.1:
        raise SchemaError((*path, "retry_max_delay"), _("must be at least 0.1 seconds"))
    return BackupSettings(retry_for, max_delay)


def project_settings(project: Project, path: Path | None = None) -> BackupSettings:
    """The project's `[backup]` settings; errors name the line and key of the file at `path`."""
    try:
        return parse_backup_section(project.sections.get("backup"))
    except SchemaError as exc:
        from mailmig_tui.core.store import schema_error

        try:
            text = path.read_text(encoding="utf-8") if path else ""
        except OSError:
            text = ""
        raise schema_error(text, str(path or "project"), exc) from None
