"""An OAuth2 token issuer for the lab's Dovecot: HS256 JWTs that Dovecot's oauth2 passdb validates
locally (introspection_mode = local) against a key the lab makes, and a token command that prints them.

Dovecot looks the key up in `local_validation_key_dict` under `<azp>/<alg>/<kid>` ("default" when the
token has no azp or kid): the lab writes `keys/default/HS256/default` (base64). Tokens carry `sub` (the
mailbox, Dovecot's username_attribute), `iss` (checked against `issuers`), `iat` and `exp`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import sys
import time
from pathlib import Path

ISSUER = "https://mailmig-lab.invalid/"
ALG = "HS256"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def sign_hs256(key: bytes, claims: dict[str, object], kid: str | None = None) -> str:
    header: dict[str, object] = {"alg": ALG, "typ": "JWT"}
    if kid:
        header["kid"] = kid
    signing = _b64url(json.dumps(header, separators=(",", ":")).encode()) + "." + _b64url(
        json.dumps(claims, separators=(",", ":")).encode())
    signature = hmac.new(key, signing.encode("ascii"), hashlib.sha256).digest()
    return signing + "." + _b64url(signature)


def lab_token(key: bytes, user: str, ttl: float = 300.0, issuer: str = ISSUER, now: float | None = None) -> str:
    now = time.time() if now is None else now
    return sign_hs256(key, {"sub": user, "iss": issuer, "iat": int(now), "exp": int(now + ttl),
                            "scope": "https://mail.google.com/ IMAP.AccessAsApp SMTP.SendAsApp"})


def new_key() -> bytes:
    return secrets.token_bytes(32)


def write_key(keys_dir: Path, key: bytes) -> Path:
    """Store `key` where Dovecot's fs dict finds it for tokens without azp and kid."""
    path = keys_dir / "default" / ALG / "default"
    path.parent.mkdir(parents=True, exist_ok=True)
    for folder in (keys_dir, keys_dir / "default", path.parent):
        folder.chmod(0o755)
    path.write_text(base64.b64encode(key).decode("ascii"))
    path.chmod(0o644)
    return path


def read_key(keys_dir: Path) -> bytes:
    return base64.b64decode((keys_dir / "default" / ALG / "default").read_text())


def dovecot_oauth2_conf(keys_dir: Path) -> str:
    return f"""# Written by mailmig_tui.lab: JWTs validated locally against the lab's key.
introspection_mode = local
local_validation_key_dict = fs:posix:prefix={keys_dir}/
username_attribute = sub
issuers = {ISSUER}
"""


TOKEN_SCRIPT = '''"""Print a lab OAuth2 token for the login in argv[1] (written by mailmig_tui.lab.oauth)."""
import base64, hashlib, hmac, json, os, sys, time

def b64(d): return base64.urlsafe_b64encode(d).rstrip(b"=").decode()

key = base64.b64decode(open({key!r}).read())
login = sys.argv[1]
ttl = float(os.environ.get("LAB_TOKEN_TTL", {ttl!r}))
calls = {calls!r}
if calls:
    with open(calls, "a") as f:
        f.write(login + "\\n")
if os.path.exists({deny!r}) and login in open({deny!r}).read().split():
    key = b"not the lab key, so Dovecot refuses this token"
now = time.time()
claims = {{"sub": login, "iss": {issuer!r}, "iat": int(now), "exp": int(now + ttl)}}
head = b64(json.dumps({{"alg": "HS256", "typ": "JWT"}}).encode()) + "." + b64(json.dumps(claims).encode())
print(head + "." + b64(hmac.new(key, head.encode(), hashlib.sha256).digest()))
'''


def write_token_command(folder: Path, keys_dir: Path, ttl: float = 300.0, calls: Path | None = None) -> tuple[str, Path]:
    """A token command for `[*.auth] token_command`: prints a token for `{login}` valid `ttl` seconds,
    appends each login to `calls` (when given), and signs with a wrong key for the logins listed in the
    returned deny file (a revoked or forged token). Returns (command, deny file)."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "lab-token.py"
    deny = folder / "lab-token.deny"
    script.write_text(TOKEN_SCRIPT.format(key=str(keys_dir / "default" / ALG / "default"), ttl=ttl,
                                          calls=str(calls or ""), deny=str(deny), issuer=ISSUER))
    os.chmod(script, 0o700)
    return f"{sys.executable} {script} {{login}}", deny
