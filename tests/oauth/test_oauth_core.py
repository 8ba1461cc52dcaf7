"""OAuth2 without servers: the project-file keys and their errors, the token cache's refresh rule, the
token command's output, the SASL strings, the advice for password logins to Microsoft 365 and Google."""

from __future__ import annotations

import base64
import json
import threading
from pathlib import Path

import pytest

from mailmig_tui.core.errors import ProjectFileError
from mailmig_tui.core.model import Auth
from mailmig_tui.core.oauth import Token, TokenError, TokenSource, oauthbearer_response, xoauth2_response
from mailmig_tui.core.oauth.advice import password_refused_hint, preset_advice
from mailmig_tui.core.oauth.command import parse_token_output
from mailmig_tui.core.oauth.settings import OAuthSettings
from mailmig_tui.core.oauth.tokens import jwt_expiry
from mailmig_tui.core.store import ProjectStore, load_project


def _auth_file(demo_path: Path, auth_toml: str) -> Path:
    text = demo_path.read_text()
    assert "[old_provider.auth]" not in text
    demo_path.write_text(text + "\n[old_provider.auth]\n" + auth_toml)
    return demo_path


@pytest.mark.parametrize(("auth_toml", "expected"), [
    ('method = "oauth2"\n', r"key old_provider\.auth\.oauth2: method \"oauth2\" needs oauth2 = one of"),
    ('method = "oauth2"\noauth2 = "ms-client-credentials"\ntenant = "corp.example"\n',
     r"key old_provider\.auth\.client_id: oauth2 = 'ms-client-credentials' needs client_id"),
    ('method = "oauth2"\noauth2 = "token-command"\n', r"needs token_command"),
    ('method = "oauth2"\noauth2 = "token-command"\ntoken_command = "x"\nmechanism = "PLAIN"\n',
     r"key old_provider\.auth\.mechanism: must be one of XOAUTH2, OAUTHBEARER"),
    ('method = "oauth2"\noauth2 = "google-service-account"\nscopes = "https://mail.google.com/"\n',
     r"key old_provider\.auth\.scopes: expected a list"),
    ('method = "oauth2"\noauth2 = "google-service-account"\nrefresh_margin = -1\n', r"refresh_margin"),
])
def test_bad_oauth2_settings_name_line_and_key(demo_path: Path, auth_toml: str, expected: str) -> None:
    path = _auth_file(demo_path, auth_toml)
    before = path.read_text()
    with pytest.raises(ProjectFileError, match=r"line \d+, .*" + expected):
        load_project(path)
    assert path.read_text() == before


def test_oauth2_settings_round_trip_through_the_project_file(demo_path: Path) -> None:
    path = _auth_file(demo_path, 'method = "oauth2"\noauth2 = "ms-client-credentials"\nclient_id = "abc"\n'
                                 'tenant = "corp.example"\nmechanism = "XOAUTH2"\n')
    project = load_project(path)
    assert project.old.auth.method == "oauth2"
    settings = OAuthSettings.from_auth(project.old.auth)
    assert settings.scopes == ("https://outlook.office365.com/.default",)
    assert settings.authority == "https://login.microsoftonline.com/corp.example"
    assert not settings.per_mailbox
    with ProjectStore.open(path) as store:
        store.update(lambda p: p.log("touched"))
    assert load_project(path).old.auth.extra["client_id"] == "abc"


class _Counting:
    def __init__(self, lifetime: float, clock: list[float]) -> None:
        self.lifetime, self.clock, self.calls = lifetime, clock, 0

    def fetch(self, login: str) -> Token:
        self.calls += 1
        return Token(f"t{self.calls}-{login}", self.clock[0] + self.lifetime, self.clock[0])


def test_token_is_reused_until_the_margin_then_refreshed() -> None:
    clock = [1000.0]
    fetcher = _Counting(3600, clock)
    source = TokenSource(OAuthSettings("ms-client-credentials"), fetcher, clock=lambda: clock[0])
    assert source.token("a@x") == "t1-a@x"
    assert source.token("b@x") == "t1-a@x"  # one app-only token opens every mailbox
    clock[0] += 3600 - 301
    assert source.token("a@x") == "t1-a@x"
    clock[0] += 2  # within 300 s of expiry: replaced before it can fail a login
    assert source.token("a@x") == "t2-a@x"
    source.invalidate("a@x", "not the cached one")
    assert source.token("a@x") == "t2-a@x"
    source.invalidate("a@x", "t2-a@x")
    assert source.token("a@x") == "t3-a@x"


def test_short_lived_tokens_refresh_at_half_their_lifetime_and_per_mailbox() -> None:
    clock = [0.0]
    fetcher = _Counting(4, clock)
    source = TokenSource(OAuthSettings("token-command"), fetcher, clock=lambda: clock[0])
    assert source.token("a@x") == "t1-a@x"
    assert source.token("b@x") == "t2-b@x"
    clock[0] = 1.9
    assert source.token("a@x") == "t1-a@x"
    clock[0] = 2.1
    assert source.token("a@x") == "t3-a@x"


def test_token_without_expiry_is_fetched_for_every_login() -> None:
    class NoExpiry:
        calls = 0

        def fetch(self, login: str) -> Token:
            self.calls += 1
            return Token(f"opaque{self.calls}", None)

    source = TokenSource(OAuthSettings("token-command"), NoExpiry())
    assert [source.token("a@x") for _ in range(3)] == ["opaque1", "opaque2", "opaque3"]


def test_concurrent_logins_share_one_fetch() -> None:
    clock = [0.0]
    fetcher = _Counting(3600, clock)
    source = TokenSource(OAuthSettings("ms-client-credentials"), fetcher, clock=lambda: clock[0])
    threads = [threading.Thread(target=source.token, args=(f"u{i}@x",)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert fetcher.calls == 1


def test_token_repr_never_shows_the_token() -> None:
    assert "secret-token" not in repr(Token("secret-token", 5.0))


def _jwt(claims: dict[str, object]) -> str:
    enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()  # noqa: E731
    return f"{enc({'alg': 'none'})}.{enc(claims)}.sig"


def test_token_command_output_forms() -> None:
    assert parse_token_output("abc\n", "a@x", now=10).expires_at is None
    assert parse_token_output('{"access_token": "abc", "expires_in": 60}', "a@x", now=10).expires_at == 70
    assert parse_token_output('{"access_token": "abc", "expires_at": 99}', "a@x", now=10).expires_at == 99
    token = _jwt({"sub": "a@x", "exp": 1234})
    assert parse_token_output(token, "a@x").expires_at == 1234 == jwt_expiry(token)
    for bad, why in [("", "printed no token"), ("two words", "more than a token"), ("{nope", "cannot be read"),
                     ('{"expires_in": 5}', "no access_token")]:
        with pytest.raises(TokenError, match=why):
            parse_token_output(bad, "a@x")


def test_sasl_responses() -> None:
    assert xoauth2_response("a@x", "T") == "user=a@x\x01auth=Bearer T\x01\x01"
    assert oauthbearer_response("a,b=c@x", "T", "imap.x", 993) == \
        "n,a=a=2Cb=3Dc@x,\x01host=imap.x\x01port=993\x01auth=Bearer T\x01\x01"


def test_password_login_to_microsoft_or_google_gets_advice_with_links() -> None:
    assert "learn.microsoft.com" in password_refused_hint("outlook.office365.com")
    assert "developers.google.com" in password_refused_hint("imap.gmail.com")
    assert password_refused_hint("imap.qiye.aliyun.com") == ""
    assert "IMAP.AccessAsApp" in preset_advice("microsoft-365", "user")
    assert preset_advice("microsoft-365", "oauth2", "ms-client-credentials") == ""
    assert "does not work with this provider" in preset_advice("google-workspace", "oauth2", "ms-device-code")
    assert preset_advice("aliyun-mail", "user") == ""


def test_auth_model_keeps_oauth2_keys_in_extra() -> None:
    auth = Auth.from_dict({"method": "oauth2", "oauth2": "token-command", "token_command": "t", "future": 1}, ("a",))
    assert auth.to_dict() == {"method": "oauth2", "oauth2": "token-command", "token_command": "t", "future": 1}
