"""The Microsoft (msal) and Google (google-auth) flavours, their real library code run against a loopback
stand-in for the token services (tests/oauth/idp.py), with the tokens then used on the OAuth2 lab
Dovecot; and what can be checked with no network at all (certificate parsing, the signed assertion)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from mailmig_tui.core.backup.engine import BackupEngine, BackupOptions
from mailmig_tui.core.credentials import Credentials, EncryptedFileBackend
from mailmig_tui.core.imap.session import LoginSpec, close_quietly, connect
from mailmig_tui.core.model import Auth, Endpoint, Project, User
from mailmig_tui.core.oauth import TokenError, TokenUnavailable, token_source
from mailmig_tui.core.oauth.google import ServiceAccountFetcher
from mailmig_tui.core.oauth.microsoft import DeviceCodeFetcher, certificate_credential
from mailmig_tui.core.oauth.settings import OAuthSettings
from mailmig_tui.core.oauth.vault import CERTIFICATE, CLIENT_SECRET_ENTRY, MSAL_CACHE, SERVICE_ACCOUNT_KEY, Vault
from mailmig_tui.core.project_factory import new_project
from tests.backup_helpers import PASSPHRASE
from tests.oauth.idp import TENANT, IdpState

pytestmark = pytest.mark.lab


def _creds(tmp_path: Path) -> Credentials:
    return Credentials(EncryptedFileBackend(tmp_path / "creds.enc", PASSPHRASE))


def _project(inst: Any, users: list[str], **auth: Any) -> Project:
    project = new_project("corp.example", "generic-imap", "generic-imap")
    project.old.imap = Endpoint("localhost", inst.imaps_port, "ssl", tls_fingerprint=inst.fingerprint)
    project.old.auth = Auth("oauth2", extra=auth)
    project.users = [User(u) for u in users]
    return project


def _rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _self_signed(key: rsa.RSAPrivateKey) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mailmig app")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _login_once(project: Project, creds: Credentials, login: str) -> None:
    source = token_source(project, "old", creds)
    client = connect(project.old.imap, LoginSpec(login, "", project.old.auth, source), timeout=30)
    try:
        assert client.list_folders()
    finally:
        close_quietly(client)


# --- Microsoft: client credentials ---------------------------------------------------------------------

def test_ms_client_credentials_with_secret_backs_up(oauth_lab: Any, idp: IdpState, tmp_path: Path) -> None:
    user = "ann@corp.example"
    idp.client_secret, idp.app_subject = "s3cret-value", user
    project = _project(oauth_lab.old, [user], oauth2="ms-client-credentials", client_id=idp.client_id,
                       tenant=TENANT, authority=idp.authority_host)
    creds = _creds(tmp_path)
    Vault(creds, "corp.example", "old").set(CLIENT_SECRET_ENTRY, "s3cret-value")
    summary = BackupEngine(project, creds, BackupOptions(tmp_path / "a")).run()
    assert (summary.users_ok, summary.messages) == (1, oauth_lab.counts[user]), summary.errors
    grant = next(g for g in idp.grants if g.get("grant_type") == "client_credentials")
    assert grant["scope"] == "https://outlook.office365.com/.default"
    assert Vault(creds, "corp.example", "old").get(MSAL_CACHE)  # msal's cache went to the credential store


def test_ms_client_credentials_with_certificate(oauth_lab: Any, idp: IdpState, tmp_path: Path) -> None:
    key = _rsa()
    idp.client_cert_public_key, idp.app_subject = key.public_key(), "bob@corp.example"
    project = _project(oauth_lab.old, ["bob@corp.example"], oauth2="ms-client-credentials", client_id=idp.client_id,
                       tenant=TENANT, authority=idp.authority_host)
    creds = _creds(tmp_path)
    Vault(creds, "corp.example", "old").set(CERTIFICATE, _pem(key) + _self_signed(key))
    _login_once(project, creds, "bob@corp.example")
    grant = next(g for g in idp.grants if g.get("grant_type") == "client_credentials")
    assert "client_assertion" in grant and "client_secret" not in grant


def test_ms_wrong_secret_fails_the_user_with_microsofts_reason(oauth_lab: Any, idp: IdpState, tmp_path: Path) -> None:
    idp.client_secret = "right"
    project = _project(oauth_lab.old, ["ann@corp.example"], oauth2="ms-client-credentials", client_id=idp.client_id,
                       tenant=TENANT, authority=idp.authority_host)
    creds = _creds(tmp_path)
    Vault(creds, "corp.example", "old").set(CLIENT_SECRET_ENTRY, "wrong")
    summary = BackupEngine(project, creds, BackupOptions(tmp_path / "a")).run()
    assert summary.users_failed == 1
    assert summary.errors[0][1] == ("no OAuth2 token for ann@corp.example: Microsoft refused a token for "
                                    "ann@corp.example: invalid_client: AADSTS7000215: Invalid client secret provided.")


def test_ms_mailbox_the_app_may_not_open_fails_with_what_to_check(oauth_lab: Any, idp: IdpState, tmp_path: Path) -> None:
    """The app token opens ann's mailbox only (the lab's stand-in for FullAccess): bob's login is refused
    and the reason names the Exchange Online steps to check."""
    idp.client_secret, idp.app_subject = "s", "ann@corp.example"
    project = _project(oauth_lab.old, ["ann@corp.example", "bob@corp.example"], oauth2="ms-client-credentials",
                       client_id=idp.client_id, tenant=TENANT, authority=idp.authority_host)
    creds = _creds(tmp_path)
    Vault(creds, "corp.example", "old").set(CLIENT_SECRET_ENTRY, "s")
    summary = BackupEngine(project, creds, BackupOptions(tmp_path / "a")).run()
    assert summary.users_ok == 1
    error = dict(summary.errors)["bob@corp.example"]
    assert "the server refused the OAuth2 token for bob@corp.example (XOAUTH2)" in error
    assert "New-ServicePrincipal" in error and "Add-MailboxPermission" in error


def test_ms_unreachable_sign_in_service_is_a_retryable_network_error(tmp_path: Path) -> None:
    from mailmig_tui.lab.dovecot import free_port

    project = new_project("corp.example", "generic-imap", "generic-imap")
    project.old.auth = Auth("oauth2", extra={"oauth2": "ms-client-credentials", "client_id": "x", "tenant": "t",
                                             "authority": f"https://localhost:{free_port()}"})
    creds = _creds(tmp_path)
    Vault(creds, "corp.example", "old").set(CLIENT_SECRET_ENTRY, "s")
    with pytest.raises(TokenUnavailable, match="cannot reach Microsoft's sign-in service"):
        token_source(project, "old", creds).get("ann@corp.example")
    assert issubclass(TokenUnavailable, OSError)  # engines retry it with backoff, like a dropped connection


def test_unreachable_sign_in_service_is_retried_then_fails_the_users_with_the_reason(oauth_lab: Any, tmp_path: Path) -> None:
    from mailmig_tui.core.runs import Retrying
    from mailmig_tui.lab.dovecot import free_port

    project = _project(oauth_lab.old, ["ann@corp.example"], oauth2="ms-client-credentials", client_id="x",
                       tenant=TENANT, authority=f"https://localhost:{free_port()}")
    creds = _creds(tmp_path)
    Vault(creds, "corp.example", "old").set(CLIENT_SECRET_ENTRY, "s")
    events: list[Any] = []
    # retry_for: a real outage is retried for minutes; here two seconds show the retry and the failure.
    summary = BackupEngine(project, creds, BackupOptions(tmp_path / "a", backoff=0.01, retry_for=2.0, retry_max_delay=0.5),
                           on_event=events.append).run()
    assert summary.users_failed == 1
    assert "cannot reach Microsoft's sign-in service" in summary.errors[0][1]
    assert any(isinstance(e, Retrying) for e in events)  # a network problem is retried, not fatal at once


# --- Microsoft: device code ------------------------------------------------------------------------------

def test_ms_device_code_sign_in_then_silent_refresh_from_the_credential_store(oauth_lab: Any, idp: IdpState,
                                                                             tmp_path: Path) -> None:
    admin = "cy@corp.example"
    idp.device_subject = admin
    project = _project(oauth_lab.old, [admin], oauth2="ms-device-code", client_id=idp.client_id, tenant=TENANT,
                       authority=idp.authority_host, account=admin)
    creds = _creds(tmp_path)
    settings = OAuthSettings.from_auth(project.old.auth)
    shown: list[str] = []
    account = DeviceCodeFetcher(settings, Vault(creds, "corp.example", "old")).sign_in(shown.append)
    assert "LAB-CODE" in shown[0] and "https://microsoft.com/devicelogin" in shown[0]
    assert account.get("username") == admin
    cache = Vault(creds, "corp.example", "old").get(MSAL_CACHE) or ""
    assert "rt-" + admin in cache  # the refresh token is in the credential store, nowhere else
    # A later run (a new process): msal finds the account in the stored cache and refreshes silently.
    _login_once(project, _creds(tmp_path), admin)
    assert any(g.get("grant_type") == "refresh_token" for g in idp.grants)


def test_ms_device_code_without_sign_in_says_what_to_run(tmp_path: Path, idp: IdpState) -> None:
    project = new_project("corp.example", "generic-imap", "generic-imap")
    project.old.auth = Auth("oauth2", extra={"oauth2": "ms-device-code", "client_id": idp.client_id,
                                             "tenant": TENANT, "authority": idp.authority_host})
    with pytest.raises(TokenError, match=r"mailmig credentials login PROJECT --side old"):
        token_source(project, "old", _creds(tmp_path)).get("ann@corp.example")


# --- Google: service account with domain-wide delegation -------------------------------------------------

def _service_account(idp: IdpState) -> str:
    key = _rsa()
    idp.service_account_public_key = key.public_key()
    idp.service_account_email = "mailmig@corp-project.iam.gserviceaccount.com"
    return json.dumps({"type": "service_account", "project_id": "corp-project", "private_key_id": "k1",
                       "private_key": _pem(key), "client_email": idp.service_account_email,
                       "client_id": "1234567890", "token_uri": idp.google_token_uri})


def test_google_service_account_impersonates_each_user(oauth_lab: Any, idp: IdpState, tmp_path: Path) -> None:
    users = ["ann@corp.example", "bob@corp.example", "dee@corp.example"]
    idp.refused = {"dee@corp.example"}  # delegation does not cover this one
    project = _project(oauth_lab.old, users, oauth2="google-service-account")
    creds = _creds(tmp_path)
    Vault(creds, "corp.example", "old").set(SERVICE_ACCOUNT_KEY, _service_account(idp))
    summary = BackupEngine(project, creds, BackupOptions(tmp_path / "a")).run()
    assert summary.users_ok == 2 and summary.users_failed == 1
    error = dict(summary.errors)["dee@corp.example"]
    assert "Google refused a token for dee@corp.example: unauthorized_client" in error
    assert "Domain-wide delegation" in error and "https://mail.google.com/" in error
    subjects = [jwt.decode(g["assertion"], options={"verify_signature": False})["sub"] for g in idp.grants
                if g["path"] == "/google/token"]
    assert sorted(subjects) == users


def test_google_assertion_is_built_offline(tmp_path: Path) -> None:
    """No network: the JWT google-auth would send, signed with the stored key, for one impersonated user."""
    key = _rsa()
    info = {"type": "service_account", "project_id": "p", "private_key_id": "k1", "private_key": _pem(key),
            "client_email": "sa@p.iam.gserviceaccount.com", "client_id": "1", "token_uri": "https://oauth2.googleapis.com/token"}
    creds = _creds(tmp_path)
    Vault(creds, "corp.example", "new").set(SERVICE_ACCOUNT_KEY, json.dumps(info))
    fetcher = ServiceAccountFetcher(OAuthSettings("google-service-account", scopes=("https://mail.google.com/",)),
                                    Vault(creds, "corp.example", "new"))
    claims = jwt.decode(fetcher.assertion("ann@corp.example"), key.public_key(), algorithms=["RS256"],
                        audience="https://oauth2.googleapis.com/token")
    assert claims["sub"] == "ann@corp.example" and claims["iss"] == "sa@p.iam.gserviceaccount.com"
    assert claims["scope"] == "https://mail.google.com/"
    assert fetcher.service_account == "sa@p.iam.gserviceaccount.com"


def test_google_bad_key_is_a_clear_error(tmp_path: Path) -> None:
    creds = _creds(tmp_path)
    vault = Vault(creds, "corp.example", "new")
    fetcher = ServiceAccountFetcher(OAuthSettings("google-service-account", scopes=("https://mail.google.com/",)), vault)
    with pytest.raises(TokenError, match="no service-account JSON key stored"):
        fetcher.fetch("a@corp.example")
    vault.set(SERVICE_ACCOUNT_KEY, json.dumps({"type": "authorized_user"}))
    fetcher = ServiceAccountFetcher(fetcher.settings, vault)
    with pytest.raises(TokenError, match="not a service-account key"):
        fetcher.fetch("a@corp.example")


def test_certificate_credential_checks_key_and_certificate_offline() -> None:
    key, other = _rsa(), _rsa()
    cred = certificate_credential(_pem(key) + _self_signed(key))
    assert "BEGIN PRIVATE KEY" in cred["private_key"] and "BEGIN CERTIFICATE" in cred["public_certificate"]
    with pytest.raises(TokenError, match="does not belong"):
        certificate_credential(_pem(other) + _self_signed(key))
    with pytest.raises(TokenError, match="no -----BEGIN CERTIFICATE-----"):
        certificate_credential(_pem(key))
