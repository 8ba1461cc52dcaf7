"""An OAuth2 lab: a Dovecot (old and new provider) whose oauth2 passdb validates JWTs locally against a
key the fixture makes (lab/oauth.py), with a few users filled with small corpora. Its own instances,
so the session lab (tests/conftest.py) keeps its plain password setup."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers import missing_server

USERS = {"ann@corp.example": 30, "bob@corp.example": 30, "cy@corp.example": 30, "dee@corp.example": 12}


@pytest.fixture
def idp(oauth_lab: OAuthLab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """The loopback stand-in for Microsoft's and Google's token services (tests/oauth/idp.py), issuing
    tokens the OAuth2 lab's old Dovecot accepts; msal and google-auth trust its certificate."""
    from mailmig_tui.lab.dovecot import make_certificate
    from mailmig_tui.lab.oauth import read_key
    from tests.oauth.idp import Idp, IdpState

    folder = tmp_path / "idp"
    folder.mkdir()
    cert, key, _fp = make_certificate(folder)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))  # msal's and google-auth's requests trust it
    state = IdpState(read_key(oauth_lab.old.oauth2_keys_dir))  # type: ignore[attr-defined]
    server = Idp(state, str(cert), str(key))
    try:
        yield state
    finally:
        server.close()


@dataclass
class OAuthLab:
    old: object
    new: object
    root: Path
    counts: dict[str, int]


@pytest.fixture(scope="session")
def oauth_lab() -> Iterator[OAuthLab]:
    from mailmig_tui.lab.corpus import bulk_corpus, fill_mailbox
    from mailmig_tui.lab.dovecot import DovecotInstance, dovecot_binary

    if dovecot_binary() is None:
        missing_server("dovecot")  # skips here, fails under CI=true
    root = Path(tempfile.mkdtemp(prefix="mailmig-oauth-lab-"))
    root.chmod(0o711)
    old = DovecotInstance("oauth-old", root / "old", oauth2=True, separator="/", postfix_auth=True)
    new = DovecotInstance("oauth-new", root / "new", oauth2=True, separator=".", postfix_auth=True)
    for i, email in enumerate(USERS):
        old.users[email] = f"pw-old-{i}"
        new.users[email] = f"pw-new-{i}"
    for inst in (old, new):
        inst.root.mkdir(parents=True)
        inst.root.chmod(0o711)
        inst.write_config()
        inst.start()
    try:
        counts = {email: fill_mailbox("127.0.0.1", old.imap_port, email, old.users[email], bulk_corpus(n, seed=i))
                  for i, (email, n) in enumerate(USERS.items())}
        yield OAuthLab(old, new, root, counts)
    finally:
        old.stop()
        new.stop()
        shutil.rmtree(root, ignore_errors=True)
