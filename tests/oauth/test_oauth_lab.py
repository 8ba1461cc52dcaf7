"""OAuth2 logins against a real Dovecot validating JWTs locally: backup with XOAUTH2 and OAUTHBEARER,
a token that expires mid-run replaced by a fresh one, a revoked token or a failing token source failing
only that user with a clear reason. The token command is the real `token-command` flavour."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from mailmig_tui.core.backup.engine import BackupEngine, BackupOptions
from mailmig_tui.core.credentials import Credentials, EncryptedFileBackend
from mailmig_tui.core.runs import Progress
from mailmig_tui.core.store import load_project
from tests.backup_helpers import PASSPHRASE, run_cli
from tests.oauth.helpers import calls_for, log_lines, oauth_project, token_command

pytestmark = pytest.mark.lab


def _creds(tmp_path: Path) -> Credentials:
    return Credentials(EncryptedFileBackend(tmp_path / "creds.enc", PASSPHRASE))


def test_backup_over_xoauth2_with_token_command(oauth_lab: Any, tmp_path: Path) -> None:
    inst = oauth_lab.old
    users = ["ann@corp.example", "bob@corp.example"]
    command, calls, _deny = token_command(tmp_path, inst)
    project = oauth_project(tmp_path, inst, users, command)
    code, events, out = run_cli(tmp_path, "backup", str(project), "--dest", str(tmp_path / "a"), "--json")
    assert code == 0, out
    done = {e["user"]: e for e in events if e.get("event") == "user_done"}
    for user in users:
        assert done[user]["state"] == "done", done[user]
        assert done[user]["messages"] == oauth_lab.counts[user]
        assert calls_for(calls, user) >= 1
        assert log_lines(inst, f"Login: user=<{user}>, method=XOAUTH2")
    # The token is never printed or written to the project file.
    token_file = (tmp_path / "token" / "lab-token.py").read_text()
    assert "eyJ" not in out and "eyJ" not in project.read_text() and token_file


def test_backup_over_oauthbearer(oauth_lab: Any, tmp_path: Path) -> None:
    inst = oauth_lab.old
    command, _calls, _deny = token_command(tmp_path, inst)
    project = oauth_project(tmp_path, inst, ["cy@corp.example"], command, mechanism="OAUTHBEARER")
    summary = BackupEngine(load_project(project), _creds(tmp_path), BackupOptions(tmp_path / "a")).run()
    assert (summary.users_ok, summary.messages) == (1, oauth_lab.counts["cy@corp.example"])
    assert log_lines(inst, "Login: user=<cy@corp.example>, method=OAUTHBEARER")


def test_token_expiring_mid_run_is_replaced_on_reconnect(oauth_lab: Any, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Tokens live 3 s; the run is held after its first batch until the token has expired, then the server
    ends the session (`doveadm kick`, as Exchange Online's "BYE Session invalidated - AccessTokenExpired"
    does). The reconnect must log in with a freshly fetched token: no refused login."""
    inst = oauth_lab.old
    user = "ann@corp.example"
    monkeypatch.setenv("LAB_TOKEN_TTL", "3")
    command, calls, _deny = token_command(tmp_path, inst)
    project = oauth_project(tmp_path, inst, [user], command)
    held: list[float] = []
    refused_before = len(log_lines(inst, "auth failed"))

    def on_event(event: Any) -> None:
        if isinstance(event, Progress) and not held:
            held.append(time.time())
            deadline = held[0] + 4.0  # the first token (issued before this batch) has expired by then
            while time.time() < deadline:
                time.sleep(0.1)
            inst.doveadm("kick", user)

    options = BackupOptions(tmp_path / "a", batch_messages=5, uids_per_fetch=5, backoff=0.1)
    summary = BackupEngine(load_project(project), _creds(tmp_path), options, on_event=on_event).run()
    assert held, "the run never reported progress"
    assert summary.users_ok == 1, summary.errors
    assert summary.messages == oauth_lab.counts[user]
    assert calls_for(calls, user) == 2  # the first token, then one fresh token for the reconnect
    assert len(log_lines(inst, "auth failed")) == refused_before  # the expired token was never presented


def test_revoked_token_fails_that_user_only(oauth_lab: Any, tmp_path: Path) -> None:
    inst = oauth_lab.old
    command, calls, deny = token_command(tmp_path, inst)
    deny.write_text("dee@corp.example\n")  # its tokens are signed with a key Dovecot does not know
    project = oauth_project(tmp_path, inst, ["bob@corp.example", "dee@corp.example"], command)
    code, events, out = run_cli(tmp_path, "backup", str(project), "--dest", str(tmp_path / "a"), "--json")
    assert code == 1, out
    done = {e["user"]: e for e in events if e.get("event") == "user_done"}
    assert done["bob@corp.example"]["state"] == "done"
    assert done["dee@corp.example"]["state"] == "failed"
    error = done["dee@corp.example"]["error"]
    assert "refused the OAuth2 token for dee@corp.example (XOAUTH2)" in error, error
    assert "freshly fetched" in error
    assert calls_for(calls, "dee@corp.example") == 2  # one retry with a new token, then give up
    assert "Traceback" not in out


def test_failing_token_command_fails_that_user_with_its_message(oauth_lab: Any, tmp_path: Path) -> None:
    inst = oauth_lab.old
    command = "echo 'consent missing for '\"$MAILMIG_OAUTH_LOGIN\" >&2; exit 3"
    project = oauth_project(tmp_path, inst, ["bob@corp.example"], command)
    summary = BackupEngine(load_project(project), _creds(tmp_path), BackupOptions(tmp_path / "a")).run()
    assert summary.users_failed == 1
    (_user, error), = summary.errors
    assert error == ("no OAuth2 token for bob@corp.example: the token command failed for bob@corp.example "
                     "(exit 3): consent missing for bob@corp.example")


def test_shared_login_spec_uses_oauth2_and_reuses_one_token_source(oauth_lab: Any, tmp_path: Path) -> None:
    """core/imap/logins.login_spec (the monitor's, and any engine's) gives OAuth2 specs; successive calls
    share one TokenSource, so a token fetched for one round is reused by the next while it is fresh."""
    from mailmig_tui.core.imap.logins import login_spec
    from mailmig_tui.core.imap.session import LoginSpec, close_quietly, connect

    inst = oauth_lab.old
    command, calls, _deny = token_command(tmp_path, inst)
    project = load_project(oauth_project(tmp_path, inst, ["bob@corp.example"], command))
    creds = _creds(tmp_path)
    user = project.users[0]
    first, second = login_spec(project, creds, user, "old"), login_spec(project, creds, user, "old")
    assert isinstance(first, LoginSpec) and isinstance(second, LoginSpec)
    assert first.tokens is not None and first.tokens is second.tokens
    for spec in (first, second):
        close_quietly(connect(project.old.imap, spec, timeout=30))
    assert calls_for(calls, "bob@corp.example") == 1
