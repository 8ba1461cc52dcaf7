"""The credential store: keyring when usable, else an encrypted file; never plain text."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailmig_tui.core import credentials
from mailmig_tui.core.credentials import EncryptedFileBackend, open_credentials
from mailmig_tui.core.errors import CredentialError


@pytest.fixture(autouse=True)
def _no_keyring(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The jump-host case: keyring's standard configuration says "fail".
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.setenv("MAILMIG_CREDENTIALS_FILE", str(tmp_path / "creds.enc"))
    import keyring.core

    keyring.core._keyring_backend = None  # keyring caches its choice; make it read the env again
    credentials.forget_session()


def test_fail_backend_falls_back_to_encrypted_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MAILMIG_PASSPHRASE", "correct horse")
    assert "encrypted file" in credentials.describe_backend()
    creds = open_credentials()
    assert creds.encrypted_file
    creds.set("corp.example", "old", "alice@corp.example", "Pässwörd-1")
    creds.set_many("corp.example", [("new", "alice@corp.example", "n3w"), ("old", "bob@corp.example", "b0b")])
    credentials.forget_session()
    again = open_credentials()
    assert again.get("corp.example", "old", "alice@corp.example") == "Pässwörd-1"
    assert again.get("corp.example", "new", "alice@corp.example") == "n3w"
    assert again.get("other.example", "old", "alice@corp.example") is None
    raw = (tmp_path / "creds.enc").read_bytes()
    for secret in (b"P\xc3\xa4ssw", b"n3w", b"b0b", b"alice"):
        assert secret not in raw
    assert (tmp_path / "creds.enc").stat().st_mode & 0o077 == 0


def test_wrong_passphrase_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "creds.enc"
    EncryptedFileBackend(path, "right").set("s", "u", "secret")
    with pytest.raises(CredentialError, match="wrong passphrase"):
        EncryptedFileBackend(path, "wrong")


def test_no_passphrase_without_terminal_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAILMIG_PASSPHRASE", raising=False)
    with pytest.raises(CredentialError, match="MAILMIG_PASSPHRASE"):
        open_credentials()


def test_tampered_file_is_refused(tmp_path: Path) -> None:
    import json

    path = tmp_path / "creds.enc"
    EncryptedFileBackend(path, "pw").set("s", "u", "secret")
    data = json.loads(path.read_text())
    data["header"]["n"] = 2**14  # a weaker KDF setting slipped in by an attacker
    path.write_text(json.dumps(data))
    with pytest.raises(CredentialError):
        EncryptedFileBackend(path, "pw")


def test_the_key_is_the_rfc7914_scrypt_files_were_written_with() -> None:
    """hashlib's scrypt (which lets other threads run) derives what cryptography's did: older files open."""
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    backend = EncryptedFileBackend(Path("/nonexistent/creds.enc"), "correct horse")
    salt = b"0123456789abcdef"
    want = Scrypt(salt=salt, length=32, n=credentials.SCRYPT_N, r=credentials.SCRYPT_R, p=credentials.SCRYPT_P)
    assert backend._derive(salt) == want.derive(b"correct horse")


def test_unlocking_in_the_background_serves_the_right_passphrase_and_refuses_a_wrong_one(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILMIG_PASSPHRASE", "correct horse")
    open_credentials().set("corp.example", "old", "alice@corp.example", "secret-1")
    credentials.forget_session()
    credentials.unlock_in_background()
    assert open_credentials().get("corp.example", "old", "alice@corp.example") == "secret-1"
    credentials.forget_session()
    monkeypatch.setenv("MAILMIG_PASSPHRASE", "wrong horse")
    credentials.unlock_in_background()
    with pytest.raises(CredentialError, match="wrong passphrase"):
        open_credentials()
