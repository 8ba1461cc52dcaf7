"""Projects whose old (or new) provider is the OAuth2 lab, logging in with the lab's token command."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mailmig_tui.core.model import Auth, Endpoint, User
from mailmig_tui.core.project_factory import new_project
from mailmig_tui.core.store import ProjectStore
from mailmig_tui.lab.oauth import write_token_command


def token_command(tmp_path: Path, inst: Any, ttl: float = 300.0, name: str = "token") -> tuple[str, Path, Path]:
    """(command, calls file, deny file) for lab instance `inst`."""
    calls = tmp_path / f"{name}-calls.txt"
    command, deny = write_token_command(tmp_path / name, inst.oauth2_keys_dir, ttl=ttl, calls=calls)
    return command, calls, deny


def calls_for(calls: Path, login: str) -> int:
    return calls.read_text().split().count(login) if calls.exists() else 0


def oauth_project(tmp_path: Path, inst: Any, users: list[str], command: str, mechanism: str = "XOAUTH2",
                  side: str = "old", **extra: Any) -> Path:
    project = new_project("corp.example", "generic-imap", "generic-imap")
    provider = project.old if side == "old" else project.new
    provider.imap = Endpoint("localhost", inst.imaps_port, "ssl", tls_fingerprint=inst.fingerprint)
    provider.limits.max_connections = 4
    provider.auth = Auth("oauth2", extra={"oauth2": "token-command", "token_command": command,
                                          "mechanism": mechanism, **extra})
    project.users = [User(email) for email in users]
    path = tmp_path / "corp.example.mailmig.toml"
    ProjectStore.create(path, project, overwrite=True).close()
    return path


def log_lines(inst: Any, needle: str) -> list[str]:
    return [line for line in (inst.root / "dovecot.log").read_text().splitlines() if needle in line]
