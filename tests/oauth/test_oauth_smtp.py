"""SMTP submission with OAuth2 through the lab's real Postfix, whose SASL is the OAuth2 lab Dovecot's
(JWTs validated locally): XOAUTH2 and OAUTHBEARER accepted, the message delivered (seen over IMAP), a
revoked token refused with a clear reason."""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient

from mailmig_tui.core.model import Auth, Endpoint
from mailmig_tui.core.oauth.settings import OAuthSettings
from mailmig_tui.core.oauth.smtp import oauth2_login
from mailmig_tui.core.oauth.tokens import TokenSource
from mailmig_tui.core.smtp.session import SmtpError, close_quietly, connect, send
from mailmig_tui.lab.oauth import lab_token, read_key
from tests.oauth.helpers import token_command
from tests.servers import missing_server

pytestmark = pytest.mark.lab

# Port 25 of this test's Postfix: an address of this branch's own 127.x range (MAILMIG_DNS_LAB_PREFIX).
MX_ADDRESS = os.environ.get("MAILMIG_DNS_LAB_PREFIX", "127.0.53.") + "225"


@pytest.fixture(scope="module")
def postfix(oauth_lab: Any) -> Iterator[Any]:
    from mailmig_tui.lab.postfix import PostfixInstance, postfix_binary

    if postfix_binary() is None:
        missing_server("postfix")  # skips here, fails under CI=true
    root = oauth_lab.root / "postfix-new"
    inst = PostfixInstance.for_dovecot("oauth-new", root, "corp.example", MX_ADDRESS, oauth_lab.new)
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o711)
    inst.write_config()
    inst.start()
    try:
        yield inst
    finally:
        inst.stop()
        shutil.rmtree(root, ignore_errors=True)


def _source(command: str, mechanism: str) -> TokenSource:
    from mailmig_tui.core.oauth.command import CommandFetcher

    settings = OAuthSettings.from_auth(Auth("oauth2", extra={"oauth2": "token-command", "token_command": command,
                                                             "mechanism": mechanism}))
    return TokenSource(settings, CommandFetcher(settings, "new"))


def _arrived(inst: Any, user: str, subject: str, timeout: float = 20.0) -> bool:
    key = read_key(inst.oauth2_keys_dir)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with IMAPClient("127.0.0.1", inst.imap_port, ssl=False) as client:
            client.oauth2_login(user, lab_token(key, user))
            client.select_folder("INBOX", readonly=True)
            if client.search(["SUBJECT", subject]):
                return True
        time.sleep(0.2)
    return False


@pytest.mark.parametrize("mechanism", ["XOAUTH2", "OAUTHBEARER"])
def test_submission_with_oauth2_is_accepted_and_delivered(oauth_lab: Any, postfix: Any, tmp_path: Path,
                                                          mechanism: str) -> None:
    user = "ann@corp.example"
    command, _calls, _deny = token_command(tmp_path, oauth_lab.new)
    endpoint = Endpoint("localhost", postfix.submission_port, "starttls", tls_fingerprint=postfix.fingerprint)
    client = connect(endpoint)
    try:
        assert mechanism in client.esmtp_features["auth"].upper().split()
        oauth2_login(client, user, _source(command, mechanism))
        subject = f"oauth2 {mechanism} {uuid.uuid4().hex}"
        send(client, user, [user], f"From: {user}\r\nTo: {user}\r\nSubject: {subject}\r\n\r\nhello\r\n".encode())
    finally:
        close_quietly(client)
    assert _arrived(oauth_lab.new, user, subject)


def test_submission_with_a_revoked_token_is_refused_clearly(oauth_lab: Any, postfix: Any, tmp_path: Path) -> None:
    command, calls, deny = token_command(tmp_path, oauth_lab.new)
    deny.write_text("bob@corp.example")
    endpoint = Endpoint("localhost", postfix.smtps_port, "ssl", tls_fingerprint=postfix.fingerprint)
    client = connect(endpoint)
    try:
        with pytest.raises(SmtpError) as caught:
            oauth2_login(client, "bob@corp.example", _source(command, "XOAUTH2"))
    finally:
        close_quietly(client)
    assert caught.value.fatal and caught.value.code == 535
    assert str(caught.value).startswith("the SMTP server refused the OAuth2 token for bob@corp.example (XOAUTH2), "
                                        "also a freshly fetched one: 535")
    assert calls.read_text().split().count("bob@corp.example") == 2
