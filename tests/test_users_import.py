"""`mailmig users import`: all-or-nothing, bad rows by line number, passwords never in the project."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailmig_tui.cli import main
from mailmig_tui.core import credentials
from mailmig_tui.core.project_factory import new_project
from mailmig_tui.core.store import ProjectStore, load_project

GOOD = """email,old_password,display_name,department,old_login,new_password
alice@corp.example,Al1ce!,Alice 王,Sales,,N3w-alice
bob@corp.example,"b,o""b",Bob,IT,bob,
"""
BAD = GOOD + """not-an-email,x,,,,
carol@corp.example,,Carol,,,
alice@corp.example,again,,,,
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.setenv("MAILMIG_CREDENTIALS_FILE", str(tmp_path / "creds.enc"))
    monkeypatch.setenv("MAILMIG_PASSPHRASE", "pp")
    import keyring.core

    keyring.core._keyring_backend = None
    credentials.forget_session()
    path = tmp_path / "corp.mailmig.toml"
    ProjectStore.create(path, new_project("corp.example", "generic-imap", "generic-imap")).close()
    return path


def test_good_csv_imports_users_and_passwords(project: Path, tmp_path: Path) -> None:
    csv_file = tmp_path / "users.csv"
    csv_file.write_text(GOOD, encoding="utf-8")
    assert main(["users", "import", str(project), str(csv_file)]) == 0
    p = load_project(project)
    assert [u.email for u in p.users] == ["alice@corp.example", "bob@corp.example"]
    assert p.users[0].display_name == "Alice 王" and p.users[1].old_login == "bob"
    text = project.read_text()
    assert "Al1ce" not in text and "N3w-alice" not in text
    creds = credentials.open_credentials()
    assert creds.get("corp.example", "old", "alice@corp.example") == "Al1ce!"
    assert creds.get("corp.example", "new", "alice@corp.example") == "N3w-alice"
    assert creds.get("corp.example", "old", "bob") == 'b,o"b'


def test_bad_rows_reported_by_line_and_nothing_imported(project: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    csv_file = tmp_path / "users.csv"
    csv_file.write_text(BAD, encoding="utf-8")
    before = project.read_text()
    assert main(["users", "import", str(project), str(csv_file)]) == 2
    out = capsys.readouterr()
    assert "line 4" in out.out and "line 5" in out.out and "line 6" in out.out
    assert "nothing imported" in out.err
    assert project.read_text() == before
    assert not (tmp_path / "creds.enc").exists()
    # With consent, the good rows go in.
    assert main(["users", "import", str(project), str(csv_file), "--skip-bad"]) == 0
    assert len(load_project(project).users) == 2


def test_missing_column_is_a_usage_error(project: Path, tmp_path: Path) -> None:
    csv_file = tmp_path / "users.csv"
    csv_file.write_text("email,name\na@corp.example,A\n")
    assert main(["users", "import", str(project), str(csv_file)]) == 2
