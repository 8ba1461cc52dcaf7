"""The copy engine (old -> new) with OAuth2 on both sides: XOAUTH2 reading the old provider, OAUTHBEARER
appending to the new one, then `mailmig verify --copy`; a refused token on the new side fails that user."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mailmig_tui.core.model import Auth, Endpoint
from mailmig_tui.core.store import ProjectStore
from tests.backup_helpers import run_cli
from tests.oauth.helpers import calls_for, log_lines, oauth_project, token_command

pytestmark = pytest.mark.lab


def _both_sides(tmp_path: Path, lab: Any, users: list[str]) -> tuple[Path, Path, Path]:
    old_cmd, _old_calls, _old_deny = token_command(tmp_path, lab.old, name="old-token")
    new_cmd, new_calls, new_deny = token_command(tmp_path, lab.new, name="new-token")
    path = oauth_project(tmp_path, lab.old, users, old_cmd)

    def change(project: Any) -> None:
        project.new.imap = Endpoint("localhost", lab.new.imaps_port, "ssl", tls_fingerprint=lab.new.fingerprint)
        project.new.auth = Auth("oauth2", extra={"oauth2": "token-command", "token_command": new_cmd,
                                                 "mechanism": "OAUTHBEARER"})

    with ProjectStore.open(path) as store:
        store.update(change)
    return path, new_calls, new_deny


def test_copy_with_oauth2_on_both_sides_then_verify(oauth_lab: Any, tmp_path: Path) -> None:
    users = ["ann@corp.example", "dee@corp.example"]
    path, new_calls, _deny = _both_sides(tmp_path, oauth_lab, users)
    code, events, out = run_cli(tmp_path, "copy", str(path), "--json")
    assert code == 0, out
    done = {e["user"]: e for e in events if e.get("event") == "user_done"}
    assert all(done[u]["state"] == "done" for u in users), done
    for user in users:
        assert calls_for(new_calls, user) >= 1
        assert log_lines(oauth_lab.new, f"Login: user=<{user}>, method=OAUTHBEARER")
    code, _events, out = run_cli(tmp_path, "verify", str(path), "--copy")
    assert code == 0, out


def test_refused_token_on_the_new_side_fails_that_user_alone(oauth_lab: Any, tmp_path: Path) -> None:
    path, _calls, deny = _both_sides(tmp_path, oauth_lab, ["bob@corp.example", "cy@corp.example"])
    deny.write_text("cy@corp.example")
    code, events, out = run_cli(tmp_path, "copy", str(path), "--json")
    assert code == 1, out
    done = {e["user"]: e for e in events if e.get("event") == "user_done"}
    assert done["bob@corp.example"]["state"] == "done"
    assert done["cy@corp.example"]["state"] == "failed"
    assert "new provider: the server refused the OAuth2 token for cy@corp.example (OAUTHBEARER)" in \
        done["cy@corp.example"]["error"]


def test_new_side_token_expiring_mid_copy_is_replaced_on_reconnect(oauth_lab: Any, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """New-side tokens live 3 s; after the first batch the run waits until the token has expired, then the
    server ends the APPEND session. The reconnect logs in with a fresh token; nothing is refused or lost."""
    import time

    from mailmig_tui.core.copy.engine import CopyEngine, CopyOptions
    from mailmig_tui.core.credentials import Credentials, EncryptedFileBackend
    from mailmig_tui.core.runs import Progress
    from mailmig_tui.core.store import load_project
    from tests.backup_helpers import PASSPHRASE

    user = "cy@corp.example"
    monkeypatch.setenv("LAB_TOKEN_TTL", "3")
    path, new_calls, _deny = _both_sides(tmp_path, oauth_lab, [user])
    refused_before = len(log_lines(oauth_lab.new, "auth failed"))
    held: list[float] = []

    def on_event(event: Any) -> None:
        if isinstance(event, Progress) and not held:
            held.append(time.time())
            while time.time() < held[0] + 4.0:  # the first token has expired by then
                time.sleep(0.1)
            oauth_lab.new.doveadm("kick", user)

    creds = Credentials(EncryptedFileBackend(tmp_path / "creds.enc", PASSPHRASE))
    engine = CopyEngine(load_project(path), creds, CopyOptions(project_path=path, batch_messages=5, backoff=0.1),
                        None, on_event)
    summary = engine.run()
    assert held, "the copy never reported progress"
    assert summary.users_ok == 1, summary.errors
    assert calls_for(new_calls, user) == 2
    assert len(log_lines(oauth_lab.new, "auth failed")) == refused_before
    code, _events, out = run_cli(tmp_path, "verify", str(path), "--copy")
    assert code == 0, out
