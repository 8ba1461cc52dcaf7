"""The `[copy]` section of the project file: where the identity map lives, folder overrides, excludes.

    [copy]
    dir = "corp.example.copy"          # identity map folder (default: <project>.copy beside the file)
    exclude = ["Junk", "Archive/20*"]   # source folders not to copy (globs, `/` between levels)
    [copy.folders]                      # source folder = target folder (both with `/` between levels)
    "Old Projects" = "Archive/Projects"

Target names are written without the new provider's namespace prefix and with `/` between levels:
mailmig adds the prefix (e.g. `INBOX.`) and the provider's own separator. `last_run`, `last_verify` and
`users` are written by mailmig itself (see summary.py) and are not settings.

Parsed here, never by the model, with errors that name the key (`copy.folders."Old"`); the callers
turn them into line-and-key messages with `store.schema_error`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mailmig_tui.core.i18n import _
from mailmig_tui.core.model import Project, SchemaError
from mailmig_tui.core.store import schema_error

RESULT_KEYS = {"last_run", "last_verify", "users"}
SETTING_KEYS = {"dir", "exclude", "folders"}


@dataclass
class CopyConfig:
    dir: str = ""
    exclude: list[str] = field(default_factory=list)
    folders: dict[str, str] = field(default_factory=dict)


def parse_copy_section(data: Any) -> CopyConfig:
    path: tuple[str | int, ...] = ("copy",)
    if data is None:
        return CopyConfig()
    if not isinstance(data, dict):
        raise SchemaError(path, _("expected a table [copy], found {value!r}").format(value=data))
    unknown = sorted(set(data) - SETTING_KEYS - RESULT_KEYS)
    if unknown:
        raise SchemaError((*path, unknown[0]), _("unknown key {key!r} (known: dir, exclude, folders)").format(key=unknown[0]))
    config = CopyConfig()
    value = data.get("dir", "")
    if not isinstance(value, str):
        raise SchemaError((*path, "dir"), _("expected a folder path as a string, found {value!r}").format(value=value))
    config.dir = value
    excludes = data.get("exclude", [])
    if not isinstance(excludes, list):
        raise SchemaError((*path, "exclude"), _("expected a list of folder names, found {value!r}").format(value=excludes))
    for i, item in enumerate(excludes):
        if not isinstance(item, str) or not item:
            raise SchemaError((*path, "exclude", i), _("expected a folder name or glob, found {value!r}").format(value=item))
    config.exclude = list(excludes)
    folders = data.get("folders", {})
    if not isinstance(folders, dict):
        raise SchemaError((*path, "folders"), _("expected a table of \"source\" = \"target\", found {value!r}").format(value=folders))
    seen: dict[str, str] = {}
    for key, target in folders.items():
        if not isinstance(target, str) or not target.strip("/"):
            raise SchemaError((*path, "folders", key), _("expected a target folder name, found {value!r}").format(value=target))
        if "//" in target.strip("/"):
            raise SchemaError((*path, "folders", key), _("empty level in {value!r}").format(value=target))
        norm = target.strip("/").lower()
        if norm in seen:
            raise SchemaError((*path, "folders", key), _("{target!r} is also the target of {other!r}").format(
                target=target, other=seen[norm]))
        seen[norm] = key
        config.folders[key] = target.strip("/")
    return config


def project_copy_config(project: Project, project_path: Path | None) -> CopyConfig:
    """The project's `[copy]` settings; a bad value raises ProjectFileError naming line and key."""
    try:
        return parse_copy_section(project.sections.get("copy"))
    except SchemaError as exc:
        text = ""
        if project_path is not None:
            try:
                text = project_path.read_text(encoding="utf-8")
            except OSError:
                text = ""
        raise schema_error(text, str(project_path or "project"), exc) from None


def default_copy_dir(project_path: Path, config: CopyConfig) -> Path:
    """`[copy] dir` (relative to the project file's folder), else `<project name>.copy` beside it."""
    base = project_path.absolute().parent
    if config.dir:
        path = Path(config.dir).expanduser()
        return path if path.is_absolute() else base / path
    name = project_path.name
    for suffix in (".toml", ".mailmig"):
        name = name.removesuffix(suffix)
    return base / f"{name}.copy"
