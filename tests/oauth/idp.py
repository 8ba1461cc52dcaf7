"""A loopback stand-in for Microsoft's and Google's token services, for tests only.

msal and google-auth run their real code (OpenID discovery, client-credentials grant with a secret or a
certificate-signed client assertion, the device-code flow, the service-account JWT-bearer grant with
`sub` = the impersonated user) against this HTTPS server on localhost. It checks what a real service
checks (the secret, the assertion's signature, audience and subject, the scope) and issues access
tokens the OAuth2 lab Dovecot accepts (signed with its key, `sub` = the mailbox). It cannot check
what only Microsoft or Google know (consent, Exchange permissions, domain-wide delegation grants).
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt  # PyJWT, which msal depends on: verifies the assertions msal and google-auth sign

from mailmig_tui.lab.oauth import lab_token

TENANT = "corp-tenant"
# google-auth always addresses its assertion to Google's token endpoint, whatever token_uri says.
GOOGLE_AUDIENCE = "https://oauth2.googleapis.com/token"


@dataclass
class IdpState:
    dovecot_key: bytes
    port: int = 0
    ttl: float = 300.0
    client_id: str = "11111111-2222-3333-4444-555555555555"
    client_secret: str = ""
    client_cert_public_key: Any = None  # cryptography public key of the app's certificate
    app_subject: str = ""  # whose mailbox the app-only token opens in the lab (Dovecot checks `sub`)
    device_subject: str = ""  # who "signs in" with the device code
    service_account_public_key: Any = None
    service_account_email: str = ""
    refused: set[str] = field(default_factory=set)  # impersonated users without delegation
    grants: list[dict[str, str]] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"https://localhost:{self.port}"

    @property
    def authority_host(self) -> str:
        return self.base

    @property
    def ms_token_endpoint(self) -> str:
        return f"{self.base}/{TENANT}/oauth2/v2.0/token"

    @property
    def google_token_uri(self) -> str:
        return f"{self.base}/google/token"


class _Handler(BaseHTTPRequestHandler):
    server: Any

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _json(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        st: IdpState = self.server.state
        path = urlsplit(self.path).path
        if path == f"/{TENANT}/v2.0/.well-known/openid-configuration":
            self._json(200, {
                "issuer": f"{st.base}/{TENANT}/v2.0",
                "authorization_endpoint": f"{st.base}/{TENANT}/oauth2/v2.0/authorize",
                "token_endpoint": st.ms_token_endpoint,
                "device_authorization_endpoint": f"{st.base}/{TENANT}/oauth2/v2.0/devicecode",
            })
            return
        self._json(404, {"error": "not_found"})

    def do_POST(self) -> None:
        st: IdpState = self.server.state
        length = int(self.headers.get("Content-Length", "0"))
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        path = urlsplit(self.path).path
        st.grants.append({"path": path, **{k: v for k, v in form.items() if k not in ("client_secret",)}})
        if path == f"/{TENANT}/oauth2/v2.0/devicecode":
            self._json(200, {"device_code": "dc-1", "user_code": "LAB-CODE", "verification_uri":
                             "https://microsoft.com/devicelogin", "expires_in": 60, "interval": 1,
                             "message": "To sign in, use a web browser to open the page https://microsoft.com/devicelogin "
                                        "and enter the code LAB-CODE to authenticate."})
        elif path == f"/{TENANT}/oauth2/v2.0/token":
            self._microsoft(st, form)
        elif path == "/google/token":
            self._google(st, form)
        else:
            self._json(404, {"error": "not_found"})

    def _microsoft(self, st: IdpState, form: dict[str, str]) -> None:
        if form.get("client_id") != st.client_id:
            self._json(400, {"error": "unauthorized_client", "error_description": "AADSTS700016: unknown application"})
            return
        grant = form.get("grant_type", "")
        if grant == "client_credentials":
            if "client_assertion" in form:
                try:
                    jwt.decode(form["client_assertion"], st.client_cert_public_key, algorithms=["RS256", "PS256"],
                               audience=st.ms_token_endpoint, issuer=st.client_id)
                except Exception as exc:
                    self._json(401, {"error": "invalid_client", "error_description": f"AADSTS700027: {exc}"})
                    return
            elif not st.client_secret or form.get("client_secret") != st.client_secret:
                self._json(401, {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."})
                return
            if form.get("scope") != "https://outlook.office365.com/.default":
                self._json(400, {"error": "invalid_scope", "error_description": f"AADSTS1002012: {form.get('scope')}"})
                return
            self._json(200, {"token_type": "Bearer", "expires_in": int(st.ttl),
                             "access_token": lab_token(st.dovecot_key, st.app_subject, st.ttl)})
        elif grant in ("urn:ietf:params:oauth:grant-type:device_code", "device_code"):
            self._user_tokens(st, st.device_subject, form)
        elif grant == "refresh_token":
            if form.get("refresh_token") != "rt-" + st.device_subject:
                self._json(400, {"error": "invalid_grant", "error_description": "AADSTS70008: refresh token expired"})
                return
            self._user_tokens(st, st.device_subject, form)
        else:
            self._json(400, {"error": "unsupported_grant_type"})

    def _user_tokens(self, st: IdpState, subject: str, form: dict[str, str]) -> None:
        now = int(time.time())
        id_claims = {"iss": f"{st.base}/{TENANT}/v2.0", "aud": st.client_id, "sub": "admin-oid", "oid": "admin-oid",
                     "tid": TENANT, "preferred_username": subject, "iat": now, "exp": now + 3600}
        id_token = jwt.encode(id_claims, "an id token signature msal does not check", algorithm="HS256")
        info = json.dumps({"uid": "admin-oid", "utid": TENANT}).encode()
        import base64

        self._json(200, {"token_type": "Bearer", "expires_in": int(st.ttl), "scope": form.get("scope", ""),
                         "access_token": lab_token(st.dovecot_key, subject, st.ttl),
                         "refresh_token": "rt-" + subject, "id_token": id_token,
                         "client_info": base64.urlsafe_b64encode(info).decode().rstrip("=")})

    def _google(self, st: IdpState, form: dict[str, str]) -> None:
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            self._json(400, {"error": "unsupported_grant_type"})
            return
        try:
            claims = jwt.decode(form.get("assertion", ""), st.service_account_public_key, algorithms=["RS256"],
                                audience=GOOGLE_AUDIENCE, issuer=st.service_account_email)
        except Exception as exc:
            self._json(400, {"error": "invalid_grant", "error_description": f"Invalid JWT Signature. {exc}"})
            return
        subject = str(claims.get("sub", ""))
        if claims.get("scope") != "https://mail.google.com/":
            self._json(400, {"error": "invalid_scope", "error_description": str(claims.get("scope"))})
            return
        if not subject or subject in st.refused:
            self._json(401, {"error": "unauthorized_client",
                             "error_description": "Client is unauthorized to retrieve access tokens using this method, "
                                                  "or client not authorized for any of the scopes requested."})
            return
        self._json(200, {"access_token": lab_token(st.dovecot_key, subject, st.ttl), "expires_in": int(st.ttl),
                         "token_type": "Bearer"})


class Idp:
    def __init__(self, state: IdpState, cert: str, key: str) -> None:
        self.state = state
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.state = state  # type: ignore[attr-defined]
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        state.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
