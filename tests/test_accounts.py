"""The accounts check against the real Dovecot lab (old and new provider), and the bulk-import export of
every provider format (columns, BOM, mode 0600, passwords only when stored) without a server."""

from __future__ import annotations

import csv
import io
import stat
from pathlib import Path
from typing import Any

import pytest

from mailmig_tui.core.accounts.check import check_accounts, classify, last_check_line, record_check, saved_results
from mailmig_tui.core.accounts.export import export_formats, export_users, split_name
from mailmig_tui.core.accounts.passwords import generate_password, password_state, same_as_old
from mailmig_tui.core.errors import UsageError
from mailmig_tui.core.model import User
from mailmig_tui.core.project_factory import demo_project
from mailmig_tui.core.store import load_project
from mailmig_tui.lab.dovecot import free_port
from tests.accounts_helpers import STORED, accounts_project, add_accounts
from tests.backup_helpers import credentials, run_cli
from tests.conftest import FIXED_NOW

# --- the check, against the lab -------------------------------------------------------------------


@pytest.mark.lab
def test_check_tells_each_user_and_side_apart(lab: Any, tmp_path: Path) -> None:
    add_accounts(lab)
    path = accounts_project(tmp_path, lab)
    project = load_project(path)
    events: list[Any] = []
    results = {r.user: r for r in check_accounts(project, credentials(tmp_path), on_event=events.append)}
    ok = results["acct-ok@corp.example"]
    assert (ok.old.status, ok.new.status, ok.smtp.status) == ("ok", "ok", "not_configured") and ok.ok
    bad = results["acct-badnew@corp.example"]
    # Dovecot answers a wrong password and an unknown account alike: reported as such, not guessed
    assert (bad.old.status, bad.new.status) == ("ok", "refused") and not bad.ok
    assert "AUTHENTICATIONFAILED" in bad.new.detail
    assert results["acct-nonew@corp.example"].new.status == "refused"
    nopw = results["acct-nopw@corp.example"]
    assert nopw.new.status == "no_password" and nopw.smtp.status == "not_configured" and not nopw.ok
    assert len([e for e in events if hasattr(e, "smtp") and hasattr(e, "old")]) == 4  # one result each


@pytest.mark.lab
def test_check_cli_saves_results_and_exits_1(lab: Any, tmp_path: Path) -> None:
    add_accounts(lab)
    path = accounts_project(tmp_path, lab)
    code, events, output = run_cli(tmp_path, "accounts", "check", str(path), "--json")
    assert code == 1, output
    users = {e["user"]: e for e in events if e["event"] == "user"}
    assert users["acct-ok@corp.example"]["ok"] and users["acct-ok@corp.example"]["new"] == "ok"
    assert users["acct-badnew@corp.example"]["new"] == "refused"
    summary = next(e for e in events if e["event"] == "summary")
    assert summary["users_ok"] == 1 and summary["users_failed"] == 3
    project = load_project(path)
    saved = saved_results(project)
    assert saved["acct-badnew@corp.example"]["new"] == "refused" and saved["acct-ok@corp.example"]["old"] == "ok"
    assert "1/4 users ok ✗" in str(last_check_line(project))
    text = path.read_text()
    assert "new-pw-ok" not in text and "not-the-password" not in text  # never a secret in the project file

    # one user alone: exit 0, and the others' earlier results are kept
    code, _events, output = run_cli(tmp_path, "accounts", "check", str(path), "--users", "acct-ok@corp.example")
    assert code == 0, output
    assert "✓ acct-ok@corp.example: old ✓ ok · new ✓ ok · smtp – not set" in output
    saved = saved_results(load_project(path))
    assert saved["acct-badnew@corp.example"]["new"] == "refused"


@pytest.mark.lab
def test_a_dead_new_server_is_unreachable_never_ok(lab: Any, tmp_path: Path) -> None:
    add_accounts(lab)
    path = accounts_project(tmp_path, lab, ["acct-ok@corp.example"], new_port=free_port())
    [result] = check_accounts(load_project(path), credentials(tmp_path), timeout=5)
    assert result.old.status == "ok" and result.new.status == "unreachable" and not result.ok


@pytest.mark.lab
def test_smtp_host_that_refuses_is_unreachable(lab: Any, tmp_path: Path) -> None:
    from mailmig_tui.core.model import Endpoint
    from mailmig_tui.core.store import ProjectStore

    add_accounts(lab)
    path = accounts_project(tmp_path, lab, ["acct-ok@corp.example"])
    with ProjectStore.open(path) as store:
        store.update(lambda p: setattr(p.new, "smtp", Endpoint("127.0.0.1", free_port(), "ssl")))
    [result] = check_accounts(load_project(path), credentials(tmp_path), timeout=5)
    assert result.new.status == "ok" and result.smtp.status == "unreachable" and not result.ok


def test_refusals_are_sorted_by_the_servers_own_words() -> None:
    assert classify("[AUTHENTICATIONFAILED] Authentication failed.") == "refused"
    assert classify("535 5.7.8 Error: authentication failed: no such user") == "no_account"
    assert classify("Invalid password") == "wrong_password"
    assert classify("用户不存在") == "no_account"


def test_record_check_keeps_other_users_and_drops_removed_ones(tmp_path: Path) -> None:
    from mailmig_tui.core.accounts.check import AccountCheck, SideResult

    project = demo_project(FIXED_NOW)
    a, b = project.users[0].email, project.users[1].email
    ok = SideResult("ok")

    def result(email: str, new: str) -> AccountCheck:
        return AccountCheck(email, email, email, ok, SideResult(new), SideResult("not_configured"), FIXED_NOW)

    record_check(project, [result(a, "ok"), result(b, "refused")], FIXED_NOW)
    record_check(project, [result(a, "ok")], FIXED_NOW)
    assert saved_results(project)[b]["new"] == "refused"
    project.users = project.users[:1]
    record_check(project, [result(a, "ok")], FIXED_NOW)
    assert set(saved_results(project)) == {a}


# --- passwords ------------------------------------------------------------------------------------


def test_generated_passwords_meet_the_providers_rules() -> None:
    for _ in range(50):
        pw = generate_password()
        assert len(pw) == 16 and any(c.islower() for c in pw) and any(c.isupper() for c in pw)
        assert any(c.isdigit() for c in pw) and any(not c.isalnum() for c in pw)
    assert len({generate_password() for _ in range(20)}) == 20


def test_same_as_old(tmp_path: Path) -> None:
    project = demo_project(FIXED_NOW)
    creds = credentials(tmp_path)
    user = project.users[0]
    creds.set(project.domain, "old", user.effective_old_login, "s3cret-Old")
    assert password_state(project, creds, user) == (True, False, False)
    same_as_old(project, creds, user)
    assert password_state(project, creds, user) == (True, True, True)
    assert creds.get(project.domain, "new", user.effective_new_login) == "s3cret-Old"


# --- export ---------------------------------------------------------------------------------------


def _export(tmp_path: Path, fmt: str, with_passwords: bool, encoding: str | None = None) -> tuple[bytes, Any]:
    project = demo_project(FIXED_NOW)
    project.users[0].display_name = "张伟"
    project.users[1].display_name = "Alice Wong"
    project.users[2].display_name = ""
    creds = credentials(tmp_path)
    if with_passwords:
        creds.set(project.domain, "new", project.users[0].effective_new_login, "Pw-New-0000")
    out = tmp_path / f"{fmt}.csv"
    result = export_users(project, creds, fmt, out, encoding)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    return out.read_bytes(), result


def _rows(data: bytes, encoding: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode(encoding))))


@pytest.mark.parametrize("with_passwords", [False, True])
def test_export_google_workspace(tmp_path: Path, with_passwords: bool) -> None:
    data, result = _export(tmp_path, "google-workspace", with_passwords)
    assert data.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM
    rows = _rows(data, "utf-8-sig")
    assert rows[0][:6] == ["First Name [Required]", "Last Name [Required]", "Email Address [Required]",
                           "Password [Required]", "Password Hash Function [UPLOAD ONLY]", "Org Unit Path [Required]"]
    assert rows[0][-1] == "Change Password at Next Sign-In"
    first = rows[1]
    assert first[:2] == ["伟", "张"] and first[5] == "/"
    assert rows[2][:2] == ["Alice", "Wong"]
    assert first[3] == ("Pw-New-0000" if with_passwords else "")
    assert all(r[3] == "" for r in rows[2:])
    assert result.passwords == (1 if with_passwords else 0)
    assert any("no new password stored" in w for w in result.warnings)  # Google requires one
    assert any("no display name" in w for w in result.warnings)


def test_export_microsoft_365_never_holds_passwords(tmp_path: Path) -> None:
    data, result = _export(tmp_path, "microsoft-365", True)
    assert not data.startswith(b"\xef\xbb\xbf")
    rows = _rows(data, "utf-8")
    assert rows[0][:4] == ["User Name", "First Name", "Last Name", "Display Name"] and len(rows[0]) == 15
    assert rows[1][0] == "zhang.wei@corp.example" and rows[1][3] == "张伟"
    assert b"Pw-New-0000" not in data and result.passwords == 0 and not result.format.has_password_column


@pytest.mark.parametrize("with_passwords", [False, True])
def test_export_aliyun_mail(tmp_path: Path, with_passwords: bool) -> None:
    data, result = _export(tmp_path, "aliyun-mail", with_passwords)
    assert data.startswith(b"\xef\xbb\xbf")
    rows = _rows(data, "utf-8-sig")
    assert rows[0] == ["姓名", "邮箱账号", "工号", "邮箱密码", "部门", "分机号", "职务", "手机", "邮箱容量(M)"]
    assert rows[1][:2] == ["张伟", "zhang.wei@corp.example"]
    assert rows[1][3] == ("Pw-New-0000" if with_passwords else "")  # blank: the console's default password
    assert result.passwords == (1 if with_passwords else 0)
    assert not any("requires one" in w for w in result.warnings)
    gbk, _result = _export(tmp_path, "aliyun-mail", False, "gbk")
    assert _rows(gbk, "gbk")[1][0] == "张伟"


def test_export_generic_round_trips_with_users_import(tmp_path: Path) -> None:
    from mailmig_tui.core.users_import import parse_users_csv

    data, result = _export(tmp_path, "generic", True)
    rows = _rows(data, "utf-8")
    assert rows[0] == ["email", "display_name", "department", "old_login", "new_login", "new_password"]
    assert rows[1][5] == "Pw-New-0000" and result.passwords == 1
    # the generic file feeds `mailmig users import` again (which also wants old_password)
    text = data.decode().replace("email,", "old_password,email,", 1)
    text = "\r\n".join([text.splitlines()[0]] + ["x," + line for line in text.splitlines()[1:]])
    parsed = parse_users_csv(text)
    assert not parsed.bad and len(parsed.rows) == len(rows) - 1


@pytest.mark.parametrize("fmt", ["tencent-exmail", "netease-qiye"])
def test_undocumented_formats_refuse_rather_than_guess(tmp_path: Path, fmt: str) -> None:
    assert fmt in export_formats()
    with pytest.raises(UsageError, match="not published"):
        _export(tmp_path, fmt, False)
    assert not (tmp_path / f"{fmt}.csv").exists()


def test_export_cli_says_it_holds_passwords_and_where(tmp_path: Path, frozen_clock: Any) -> None:
    from mailmig_tui.core.store import ProjectStore

    path = tmp_path / "corp.example.mailmig.toml"
    project = demo_project(FIXED_NOW)
    ProjectStore.create(path, project).close()
    code, _e, output = run_cli(tmp_path, "accounts", "export", str(path), "--format", "aliyun-mail")
    assert code == 0, output
    out = tmp_path / "corp.example-users-aliyun-mail.csv"
    assert f"to {out}" in output and "no new passwords stored" in output
    credentials(tmp_path).set("corp.example", "new", project.users[0].effective_new_login, "Pw-New-0000")
    code, events, output = run_cli(tmp_path, "accounts", "export", str(path), "--format", "aliyun-mail", "--json")
    written = next(e for e in events if e["event"] == "written")
    assert code == 0 and written["passwords"] == 1 and written["path"] == str(out)
    code, _e, output = run_cli(tmp_path, "accounts", "export", str(path), "--format", "aliyun-mail")
    assert "HOLDS 1 PASSWORDS" in output and stat.S_IMODE(out.stat().st_mode) == 0o600
    code, _e, output = run_cli(tmp_path, "accounts", "export", str(path), "--format", "tencent-exmail")
    assert code == 2 and "not published" in output and "Traceback" not in output


def test_split_name() -> None:
    assert split_name(User("a@x", "Mary Ann Lee")) == ("Mary Ann", "Lee")
    assert split_name(User("a@x", "欧阳")) == ("阳", "欧")
    assert split_name(User("li.na@x")) == ("li.na", "li.na")
    assert STORED  # the helpers' table is what the lab tests use


def test_get_many_reads_the_encrypted_file_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mailmig_tui.core.accounts.passwords import password_states

    project = demo_project(FIXED_NOW)
    creds = credentials(tmp_path)
    creds.set_many(project.domain, [("old", u.effective_old_login, "pw-" + u.email) for u in project.users[:3]])
    creds.set(project.domain, "new", project.users[0].effective_new_login, "pw-" + project.users[0].email)
    reads = 0
    backend = creds.backend
    original = backend._read  # type: ignore[attr-defined]

    def counting() -> Any:
        nonlocal reads
        reads += 1
        return original()

    monkeypatch.setattr(backend, "_read", counting)
    states = password_states(project, creds, project.users)
    assert reads == 1
    assert states[project.users[0].email] == (True, True, True)
    assert states[project.users[1].email] == (True, False, False)
    assert states[project.users[5].email] == (False, False, False)
