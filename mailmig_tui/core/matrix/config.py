"""The `[matrix]` section of the project file: how the matrix runs.

    [matrix]
    probe_timeout = 120        # seconds to wait for a probe to arrive before the cell fails
    poll_interval = 1.0        # seconds between IMAP searches for a probe
    workers = 0                # users tested at once; 0: the providers' limits.max_connections
    newest = 5                 # newest source messages (INBOX) that must be on the new side
    sending_ips = ["203.0.113.7"]   # the new provider's outgoing IPs for the SPF check (default: its SMTP host's)
    client_hosts = ["imap.newmail.example", "smtp.newmail.example"]      # the new provider's client-facing hosts
    old_client_hosts = ["imap.oldmail.example"]                          # and the old one's
    mx_sender = ""             # envelope sender of the MX probe (default: the null sender <>)
    db = "corp.example.matrix.sqlite"   # every cell's history (default: next to the project file)

`[matrix.last_run]` is written by mailmig (the summary the dashboard shows); the cells themselves are in
the SQLite file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mailmig_tui.core.i18n import _
from mailmig_tui.core.model import Project, SchemaError


@dataclass
class MatrixConfig:
    probe_timeout: float = 120.0
    poll_interval: float = 1.0
    workers: int = 0
    newest: int = 5
    sending_ips: list[str] = field(default_factory=list)
    client_hosts: list[str] = field(default_factory=list)
    old_client_hosts: list[str] = field(default_factory=list)
    mx_sender: str = ""
    db: str = ""


def _number(data: dict[str, Any], key: str, low: float, high: float, default: float) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SchemaError(("matrix", key), _("expected a number, found {value!r}").format(value=value))
    if not low <= value <= high:
        raise SchemaError(("matrix", key), _("must be between {low} and {high}").format(low=low, high=high))
    return float(value)


def _strings(data: dict[str, Any], key: str) -> list[str]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise SchemaError(("matrix", key), _("expected a list of strings, found {value!r}").format(value=value))
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise SchemaError(("matrix", key, i), _("expected a string, found {value!r}").format(value=item))
    return [str(v).strip().lower().rstrip(".") if key != "sending_ips" else str(v).strip() for v in value]


def parse_matrix_section(data: Any) -> MatrixConfig:
    if data is None:
        return MatrixConfig()
    if not isinstance(data, dict):
        raise SchemaError(("matrix",), _("expected a table [matrix], found {value!r}").format(value=data))
    config = MatrixConfig()
    config.probe_timeout = _number(data, "probe_timeout", 1, 3600, config.probe_timeout)
    config.poll_interval = _number(data, "poll_interval", 0.05, 60, config.poll_interval)
    config.workers = int(_number(data, "workers", 0, 1000, config.workers))
    config.newest = int(_number(data, "newest", 0, 1000, config.newest))
    config.sending_ips = _strings(data, "sending_ips")
    import ipaddress

    for i, ip in enumerate(config.sending_ips):
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise SchemaError(("matrix", "sending_ips", i), _("expected an IP address, found {value!r}").format(
                value=ip)) from None
    config.client_hosts = _strings(data, "client_hosts")
    config.old_client_hosts = _strings(data, "old_client_hosts")
    for key in ("mx_sender", "db"):
        value = data.get(key, "")
        if not isinstance(value, str):
            raise SchemaError(("matrix", key), _("expected a string, found {value!r}").format(value=value))
        setattr(config, key, value)
    return config


def project_matrix_config(project: Project, path: Path) -> MatrixConfig:
    """The `[matrix]` section, errors naming line and key of the file at `path`."""
    from mailmig_tui.core.store import schema_error

    try:
        return parse_matrix_section(project.sections.get("matrix"))
    except SchemaError as exc:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            text = ""
        raise schema_error(text, str(path), exc) from None


def db_path(project_path: Path, config: MatrixConfig) -> Path:
    if config.db:
        path = Path(config.db).expanduser()
        return path if path.is_absolute() else project_path.absolute().parent / path
    name = project_path.name.removesuffix(".toml").removesuffix(".mailmig")
    return project_path.absolute().parent / f"{name}.matrix.sqlite"
