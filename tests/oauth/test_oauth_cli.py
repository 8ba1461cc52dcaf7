"""The credentials commands: OAuth2 state (never a secret), storing secrets from stdin, the device-code
sign-in, the login check against the OAuth2 lab; `mailmig new` warning about password logins."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mailmig_tui.core.model import Auth
from mailmig_tui.core.store import ProjectStore
from tests.backup_helpers import cli_env, run_cli
from tests.oauth.helpers import oauth_project, token_command
from tests.oauth.idp import TENANT, IdpState


def _run(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mailmig_tui", *args], input=stdin, capture_output=True, text=True,
                          env=cli_env(tmp_path), cwd=tmp_path, timeout=120)


def _set_auth(path: Path, side: str, **extra: Any) -> None:
    with ProjectStore.open(path) as store:
        store.update(lambda p: setattr(p.old if side == "old" else p.new, "auth", Auth("oauth2", extra=extra)))


def test_new_project_for_microsoft_365_warns_that_passwords_are_refused(tmp_path: Path) -> None:
    proc = _run(tmp_path, "new", "corp.example", "--from", "aliyun-mail", "--to", "microsoft-365", "--dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "warning: the new provider: Microsoft 365 refuses password logins" in proc.stdout
    assert "how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth" in proc.stdout
    proc = _run(tmp_path, "new", "corp.example", "--from", "google-workspace", "--to", "aliyun-mail",
                "--dir", str(tmp_path), "--force")
    assert "warning: the old provider: Google Workspace refuses password logins" in proc.stdout
    assert "developers.google.com/identity/protocols/oauth2/service-account" in proc.stdout


def test_set_oauth_from_stdin_and_show_state_without_the_secret(tmp_path: Path) -> None:
    _run(tmp_path, "new", "corp.example", "--from", "aliyun-mail", "--to", "microsoft-365", "--dir", str(tmp_path))
    path = tmp_path / "corp.example.mailmig.toml"
    _set_auth(path, "new", oauth2="ms-client-credentials", client_id="app-id-1", tenant="corp.example")
    secret = "super-secret-value-123"
    proc = _run(tmp_path, "credentials", "set-oauth", str(path), "--side", "new", "--kind", "client-secret",
                stdin=secret + "\n")
    assert proc.returncode == 0, proc.stderr
    assert secret not in proc.stdout + proc.stderr and secret not in path.read_text()
    proc = _run(tmp_path, "credentials", "show", str(path), "--json")
    assert proc.returncode == 0, proc.stderr
    events = {e.get("side"): e for e in map(json.loads, proc.stdout.splitlines()) if e["event"] == "login"}
    assert events["new"]["flavour"] == "ms-client-credentials" and events["new"]["client_secret_stored"] is True
    assert events["new"]["warning"] is None and events["old"]["method"] == "user"
    assert secret not in proc.stdout
    text = _run(tmp_path, "credentials", "show", str(path)).stdout
    assert "client secret stored" in text and "app-id-1" in text and "no token cached" in text
    # `mailmig credentials` alone, in the project's folder, shows the same.
    assert "client secret stored" in _run(tmp_path, "credentials").stdout
    # A secret kind the flavour does not use is refused (exit 2).
    proc = _run(tmp_path, "credentials", "set-oauth", str(path), "--side", "new", "--kind", "service-account-key",
                stdin="{}")
    assert proc.returncode == 2 and "google-service-account" in proc.stderr


def test_bad_service_account_key_is_refused_before_storing(tmp_path: Path) -> None:
    _run(tmp_path, "new", "corp.example", "--from", "google-workspace", "--to", "aliyun-mail", "--dir", str(tmp_path))
    path = tmp_path / "corp.example.mailmig.toml"
    _set_auth(path, "old", oauth2="google-service-account")
    proc = _run(tmp_path, "credentials", "set-oauth", str(path), "--side", "old", "--kind", "service-account-key",
                stdin='{"type": "authorized_user"}')
    assert proc.returncode == 2 and "not a service-account key" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "no JSON key stored" in _run(tmp_path, "credentials", "show", str(path)).stdout
    assert "⚠ warning" not in _run(tmp_path, "credentials", "show", str(path)).stdout


@pytest.mark.lab
def test_credentials_test_logs_in_with_oauth2_and_reports_failures(oauth_lab: Any, tmp_path: Path) -> None:
    command, _calls, deny = token_command(tmp_path, oauth_lab.old)
    path = oauth_project(tmp_path, oauth_lab.old, ["ann@corp.example", "dee@corp.example"], command)
    code, events, out = run_cli(tmp_path, "credentials", "test", str(path), "--users", "--json")
    assert code == 0, out
    ok = [e for e in events if e["event"] == "login_ok"]
    assert {e["login"] for e in ok} == {"ann@corp.example", "dee@corp.example"}
    assert any(e["event"] == "skipped" and e["side"] == "new" for e in events)
    deny.write_text("dee@corp.example")
    code, _events, out = run_cli(tmp_path, "credentials", "test", str(path), "--user", "dee@corp.example")
    assert code == 1
    assert "✗ FAILED old dee@corp.example: the server refused the OAuth2 token" in out


@pytest.mark.lab
def test_device_code_login_prints_the_code_and_keeps_the_cache(oauth_lab: Any, idp: IdpState, tmp_path: Path) -> None:
    idp.device_subject = "bob@corp.example"
    path = oauth_project(tmp_path, oauth_lab.old, ["bob@corp.example"], "unused")
    _set_auth(path, "old", oauth2="ms-device-code", client_id=idp.client_id, tenant=TENANT,
              authority=idp.authority_host)
    proc = _run(tmp_path, "credentials", "login", str(path), "--side", "old")
    assert proc.returncode == 0, proc.stderr
    assert "enter the code LAB-CODE" in proc.stdout and "signed in as bob@corp.example" in proc.stdout
    code, events, out = run_cli(tmp_path, "credentials", "test", str(path), "--json")
    assert code == 0, out
    assert [e["login"] for e in events if e["event"] == "login_ok"] == ["bob@corp.example"]
    shown = _run(tmp_path, "credentials", "show", str(path)).stdout
    assert "signed in: bob@corp.example" in shown and "refresh token: stored" in shown
    assert "rt-bob" not in shown


@pytest.mark.lab
def test_lab_start_with_oauth2_points_a_project_at_token_logins() -> None:
    import shutil
    import tempfile

    from mailmig_tui.core.store import load_project

    root = Path(tempfile.mkdtemp(prefix="mailmig-oauth-labcli-"))
    root.chmod(0o711)  # Dovecot's unprivileged processes must reach the lab
    try:
        assert _run(root, "new", "corp.example", "--dir", str(root)).returncode == 0
        project = root / "corp.example.mailmig.toml"
        code, _events, out = run_cli(root, "lab", "start", "--dir", str(root / "lab"), "--no-smtp", "--oauth2",
                                     "--users", "1", "--messages", "5", "--project", str(project))
        assert code == 0, out
        assert "old provider OAuth2 token command:" in out
        assert load_project(project).old.auth.extra["oauth2"] == "token-command"
        code, events, out = run_cli(root, "backup", str(project), "--json")
        assert code == 0, out
        assert [e["state"] for e in events if e["event"] == "user_done"] == ["done"]
        code, _events, out = run_cli(root, "credentials", "test", str(project))
        assert code == 0 and out.count("✓ ok") == 2, out
    finally:
        run_cli(root, "lab", "stop", "--dir", str(root / "lab"))
        shutil.rmtree(root, ignore_errors=True)
