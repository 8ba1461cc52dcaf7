"""Passwords for the old and new providers: in the system keyring, or in an encrypted file where there is none.

`keyring` chooses its backend from its standard configuration (PYTHON_KEYRING_BACKEND, keyringrc.cfg).
On a jump host reached over SSH it usually finds only its `fail` (or `null`) backend; then we use an
encrypted file (AES-256-GCM, key from the passphrase by scrypt), unlocked once per session by
MAILMIG_PASSPHRASE or by asking. There is no plain-text fallback.

Entries are keyed by service `mailmig/<domain>/<side>` and the login, so two projects (or the old and new
side of one) never share a password by accident.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

from mailmig_tui.core.errors import CredentialError
from mailmig_tui.core.i18n import _

SIDES = ("old", "new")
FILE_MAGIC = "mailmig-credentials"
# scrypt cost: ~0.1 s and 32 MiB once per session; slows guessing without annoying the admin.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
SCRYPT_MAXMEM = 2 * 128 * SCRYPT_R * SCRYPT_N  # what it needs (32 MiB), twice over

# (new_file) -> passphrase; new_file is True when the file does not exist yet (ask twice to confirm).
PassphrasePrompt = Callable[[bool], str]


def service_name(domain: str, side: str) -> str:
    if side not in SIDES:
        raise ValueError(side)
    return f"mailmig/{domain.lower()}/{side}"


class Backend(Protocol):
    description: str

    def get(self, service: str, login: str) -> str | None: ...

    def set(self, service: str, login: str, secret: str) -> None: ...

    def delete(self, service: str, login: str) -> None: ...


class KeyringBackend:
    def __init__(self, keyring_backend: object) -> None:
        self._kr = keyring_backend
        self.description = _("system keyring ({name})").format(name=_backend_label(keyring_backend))

    def get(self, service: str, login: str) -> str | None:
        try:
            return self._kr.get_password(service, login)  # type: ignore[attr-defined]
        except Exception as exc:  # keyring backends raise their own types (dbus, secretstorage…)
            raise CredentialError(_("the keyring failed: {error}").format(error=exc)) from None

    def set(self, service: str, login: str, secret: str) -> None:
        try:
            self._kr.set_password(service, login, secret)  # type: ignore[attr-defined]
        except Exception as exc:
            raise CredentialError(_("the keyring failed: {error}").format(error=exc)) from None

    def delete(self, service: str, login: str) -> None:
        with contextlib.suppress(Exception):
            self._kr.delete_password(service, login)  # type: ignore[attr-defined]


def _backend_label(backend: object) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__name__}"


def default_file_path() -> Path:
    override = os.environ.get("MAILMIG_CREDENTIALS_FILE")
    if override:
        return Path(override)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "mailmig" / "credentials.enc"


class EncryptedFileBackend:
    """A JSON map {service: {login: secret}} encrypted as a whole with AES-256-GCM.

    The salt and scrypt parameters are stored in the clear beside the ciphertext; the whole header is the
    GCM associated data, so it cannot be altered without detection. A wrong passphrase fails the tag check.
    """

    def __init__(self, path: Path, passphrase: str) -> None:
        if not passphrase:
            raise CredentialError(_("an empty passphrase cannot protect the credential file"))
        self.path = path
        self._passphrase = passphrase
        self._mutex = threading.Lock()
        self._key: bytes | None = None
        self._salt: bytes | None = None
        self.description = _("encrypted file {path}").format(path=path)
        if path.exists():
            self._read()  # fail now, with a clear message, if the passphrase is wrong

    def _derive(self, salt: bytes) -> bytes:
        # hashlib's scrypt (OpenSSL's, the same RFC 7914 function as cryptography's) lets go of the interpreter
        # lock while it works, so an unlock started in the background overlaps the rest of start-up.
        return hashlib.scrypt(self._passphrase.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                              maxmem=SCRYPT_MAXMEM, dklen=32)

    def _read(self) -> dict[str, dict[str, str]]:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            if raw.get("format") != FILE_MAGIC:
                raise ValueError("not a mailmig credential file")
            header = raw["header"]
            salt = base64.b64decode(header["salt"])
            nonce = base64.b64decode(raw["nonce"])
            blob = base64.b64decode(raw["ciphertext"])
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CredentialError(_("{file} is not a readable credential file: {error}").format(
                file=self.path, error=exc)) from None
        if self._key is None or self._salt != salt:
            self._key, self._salt = self._derive(salt), salt
        aad = json.dumps(header, sort_keys=True).encode()
        try:
            plain = AESGCM(self._key).decrypt(nonce, blob, aad)
        except InvalidTag:
            self._key = None
            raise CredentialError(_("wrong passphrase for {file} (or the file was altered)").format(
                file=self.path)) from None
        data = json.loads(plain.decode("utf-8"))
        return data if isinstance(data, dict) else {}

    def _write(self, data: dict[str, dict[str, str]]) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        if self._key is None or self._salt is None:
            self._salt = os.urandom(16)
            self._key = self._derive(self._salt)
        header = {"kdf": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P,
                  "salt": base64.b64encode(self._salt).decode(), "cipher": "AES-256-GCM"}
        nonce = os.urandom(12)
        blob = AESGCM(self._key).encrypt(nonce, json.dumps(data).encode(), json.dumps(header, sort_keys=True).encode())
        text = json.dumps({"format": FILE_MAGIC, "version": 1, "header": header,
                           "nonce": base64.b64encode(nonce).decode(),
                           "ciphertext": base64.b64encode(blob).decode()}, indent=1)
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=".credentials.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        # The rename is durable only once the folder is: without this a power cut could bring back the
        # old file, and with it lose the passwords just stored.
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        # Two mailmig processes (CLI and TUI) may write at once: serialise read-modify-write.
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with self._mutex, open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def get(self, service: str, login: str) -> str | None:
        with self._mutex:
            return self._read().get(service, {}).get(login)

    def read_all(self) -> dict[str, dict[str, str]]:
        """Every entry, read and decrypted once (for callers that need thousands of secrets)."""
        with self._mutex:
            return self._read()

    def set(self, service: str, login: str, secret: str) -> None:
        with self._locked():
            data = self._read()
            data.setdefault(service, {})[login] = secret
            self._write(data)

    def set_many(self, entries: list[tuple[str, str, str]]) -> None:
        """Many entries in one write (a CSV import of 5,000 users must not re-encrypt 5,000 times)."""
        with self._locked():
            data = self._read()
            for service, login, secret in entries:
                data.setdefault(service, {})[login] = secret
            self._write(data)

    def delete(self, service: str, login: str) -> None:
        with self._locked():
            data = self._read()
            if data.get(service, {}).pop(login, None) is not None:
                self._write(data)


_UNUSABLE_BY_NAME = ("keyring.backends.fail.Keyring", "keyring.backends.null.Keyring")


def keyring_is_usable() -> tuple[bool, object | None]:
    """The keyring backend keyring chose, and whether it can store anything (fail/null backends cannot)."""
    if os.environ.get("PYTHON_KEYRING_BACKEND", "").strip() in _UNUSABLE_BY_NAME:
        return False, None  # keyring obeys this variable before anything else: no need to load it (30 ms)
    try:
        import keyring
        from keyring.backends import chainer, fail
    except ImportError:
        return False, None
    backend = keyring.get_keyring()
    unusable: tuple[type, ...] = (fail.Keyring,)
    with contextlib.suppress(ImportError):
        from keyring.backends import null

        unusable = (*unusable, null.Keyring)
    if isinstance(backend, chainer.ChainerBackend) and not backend.backends:
        return False, backend
    return not isinstance(backend, unusable), backend


def env_passphrase_prompt(_new_file: bool) -> str:
    phrase = os.environ.get("MAILMIG_PASSPHRASE", "")
    if not phrase:
        raise CredentialError(_("no usable keyring here; set MAILMIG_PASSPHRASE to unlock the encrypted "
                                "credential file"))
    return phrase


def terminal_passphrase_prompt(new_file: bool) -> str:
    """Ask on the terminal (the CLI's prompt); MAILMIG_PASSPHRASE wins when set."""
    if os.environ.get("MAILMIG_PASSPHRASE"):
        return os.environ["MAILMIG_PASSPHRASE"]
    import getpass
    import sys

    if not sys.stdin.isatty():
        return env_passphrase_prompt(new_file)
    phrase = getpass.getpass(_("Passphrase for the encrypted credential file: "))
    if new_file and getpass.getpass(_("Repeat the passphrase: ")) != phrase:
        raise CredentialError(_("the two passphrases differ"))
    return phrase


class Credentials:
    """The credential store for a session; `backend.description` says where secrets live (for display)."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    @property
    def description(self) -> str:
        return self.backend.description

    @property
    def encrypted_file(self) -> bool:
        return isinstance(self.backend, EncryptedFileBackend)

    def get(self, domain: str, side: str, login: str) -> str | None:
        return self.backend.get(service_name(domain, side), login)

    def require(self, domain: str, side: str, login: str) -> str:
        secret = self.get(domain, side, login)
        if secret is None:
            raise CredentialError(_("no {side} password stored for {login} (import it with `mailmig users import`)").format(
                side=side, login=login))
        return secret

    def get_many(self, domain: str, wanted: list[tuple[str, str]]) -> dict[tuple[str, str], str | None]:
        """Many (side, login) secrets at once: the encrypted file is decrypted once, not once per secret
        (5,000 users would otherwise take minutes)."""
        if isinstance(self.backend, EncryptedFileBackend):
            data = self.backend.read_all()
            return {(side, login): data.get(service_name(domain, side), {}).get(login) for side, login in wanted}
        return {(side, login): self.get(domain, side, login) for side, login in wanted}

    def set(self, domain: str, side: str, login: str, secret: str) -> None:
        self.backend.set(service_name(domain, side), login, secret)

    def set_many(self, domain: str, entries: list[tuple[str, str, str]]) -> None:
        """entries: (side, login, secret)."""
        rows = [(service_name(domain, side), login, secret) for side, login, secret in entries]
        if isinstance(self.backend, EncryptedFileBackend):
            self.backend.set_many(rows)
        else:
            for service, login, secret in rows:
                self.backend.set(service, login, secret)

    def delete(self, domain: str, side: str, login: str) -> None:
        self.backend.delete(service_name(domain, side), login)


_session: dict[str, Credentials] = {}
_session_lock = threading.Lock()
_unlocking: dict[str, threading.Thread] = {}


def unlock_in_background() -> None:
    """Start unlocking the encrypted credential file now, in a thread, for a command that will need it:
    only when that is sure to be the store (PYTHON_KEYRING_BACKEND names the fail/null backend), the
    passphrase is in MAILMIG_PASSPHRASE and the file exists. scrypt's ~0.1 s then runs beside the
    command's imports and set-up; `open_credentials` waits for it. A failure (wrong passphrase, bad file)
    is left for `open_credentials` to report in the caller's thread."""
    if os.environ.get("PYTHON_KEYRING_BACKEND", "").strip() not in _UNUSABLE_BY_NAME:
        return
    phrase = os.environ.get("MAILMIG_PASSPHRASE", "")
    path = default_file_path()
    if not phrase or not path.is_file():
        return
    key = str(path)

    def work() -> None:
        try:
            creds = Credentials(EncryptedFileBackend(path, phrase))
        except Exception:
            return
        with _session_lock:
            _session.setdefault(key, creds)

    thread = threading.Thread(target=work, name="credentials-unlock", daemon=True)
    with _session_lock:
        if key in _session or key in _unlocking:
            return
        _unlocking[key] = thread
    thread.start()


def open_credentials(prompt: PassphrasePrompt | None = None, file_path: Path | None = None) -> Credentials:
    """The session's credential store: the keyring if usable, else the encrypted file (asked for once)."""
    usable, backend = keyring_is_usable()
    if usable and backend is not None:
        return Credentials(KeyringBackend(backend))
    path = file_path or default_file_path()
    key = str(path)
    with _session_lock:
        unlocking = _unlocking.pop(key, None)
    if unlocking is not None:
        unlocking.join()
    with _session_lock:
        if key in _session:
            return _session[key]
        phrase = (prompt or env_passphrase_prompt)(not path.exists())
        creds = Credentials(EncryptedFileBackend(path, phrase))
        _session[key] = creds
        return creds


def needs_passphrase(file_path: Path | None = None) -> bool:
    """Whether `open_credentials` would have to ask for a passphrase now: no usable keyring, no
    MAILMIG_PASSPHRASE, and the encrypted file not yet unlocked in this session (the TUI asks in a dialog
    before it starts a worker, so the worker never waits on the keyboard)."""
    usable, backend = keyring_is_usable()
    if (usable and backend is not None) or os.environ.get("MAILMIG_PASSPHRASE"):
        return False
    with _session_lock:
        return str(file_path or default_file_path()) not in _session


def forget_session() -> None:
    """Drop unlocked stores (tests; a TUI 'lock' action)."""
    with _session_lock:
        _session.clear()


def describe_backend() -> str:
    """Which backend would be used, without unlocking anything (for status lines)."""
    usable, backend = keyring_is_usable()
    if usable and backend is not None:
        return _("system keyring ({name})").format(name=_backend_label(backend))
    return _("encrypted file {path} (no usable keyring here)").format(path=default_file_path())
