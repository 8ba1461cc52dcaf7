"""What `mailmig credentials` shows about each side's login: the method, the account, what secret is
stored and when a cached token expires. Never a secret or a token, only facts about them."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mailmig_tui.core.credentials import Credentials
from mailmig_tui.core.errors import CredentialError
from mailmig_tui.core.i18n import N_, _
from mailmig_tui.core.model import Project
from mailmig_tui.core.oauth.advice import preset_advice
from mailmig_tui.core.oauth.settings import OAuthSettings
from mailmig_tui.core.oauth.vault import CERTIFICATE, CLIENT_SECRET_ENTRY, MSAL_CACHE, SERVICE_ACCOUNT_KEY, Vault

METHOD_LABELS = {"user": N_("password, each user's own"), "master": N_("password of an admin (master user)"),
                 "authzid": N_("password of an admin (SASL PLAIN authzid)")}


@dataclass
class SideStatus:
    side: str
    provider: str
    method: str
    summary: str
    lines: list[tuple[str, str]] = field(default_factory=list)
    warning: str = ""
    data: dict[str, Any] = field(default_factory=dict)


def when(ts: float | None, now: float | None = None) -> str:
    if ts is None:
        return _("unknown")
    now = time.time() if now is None else now
    stamp = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")
    minutes = int((ts - now) // 60)
    if ts <= now:
        return _("{stamp} (expired)").format(stamp=stamp)
    return _("{stamp} (in {minutes} min)").format(stamp=stamp, minutes=minutes)


def msal_cache_facts(serialised: str | None) -> dict[str, Any]:
    """Account names, whether a refresh token is there, the latest access-token expiry (no token text)."""
    if not serialised:
        return {}
    try:
        data = json.loads(serialised)
    except ValueError:
        return {"unreadable": True}
    accounts = sorted({str(a.get("username", "")) for a in (data.get("Account") or {}).values() if a.get("username")})
    expiries = [float(t.get("expires_on", 0)) for t in (data.get("AccessToken") or {}).values()
                if str(t.get("expires_on", "")).isdigit()]
    return {"accounts": accounts, "refresh_token": bool(data.get("RefreshToken")),
            "access_token_expires_at": max(expiries) if expiries else None}


def certificate_facts(pem: str) -> dict[str, Any]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    try:
        cert = x509.load_pem_x509_certificate(pem[pem.index("-----BEGIN CERTIFICATE-----"):].encode())
    except ValueError:
        return {"readable": False}
    return {"readable": True, "thumbprint_sha1": cert.fingerprint(hashes.SHA1()).hex().upper(),
            "subject": cert.subject.rfc4514_string(), "not_after": cert.not_valid_after_utc.isoformat()}


def service_account_facts(key_json: str) -> dict[str, Any]:
    try:
        info = json.loads(key_json)
    except ValueError:
        return {"readable": False}
    return {"readable": True, "client_email": info.get("client_email", ""), "client_id": info.get("client_id", ""),
            "private_key_id": info.get("private_key_id", "")}


def side_status(project: Project, side: str, credentials: Credentials | None) -> SideStatus:
    provider = project.old if side == "old" else project.new
    auth = provider.auth
    flavour = str(auth.extra.get("oauth2", ""))
    warning = preset_advice(provider.preset, auth.method, flavour)
    name = provider.name or provider.preset
    if auth.method != "oauth2":
        summary = _(METHOD_LABELS.get(auth.method, auth.method))
        lines = [(_("admin login"), auth.master_user)] if auth.master_user else []
        return SideStatus(side, name, auth.method, summary, lines, warning, {"method": auth.method})
    settings = OAuthSettings.from_auth(auth)
    st = SideStatus(side, name, "oauth2", settings.describe(), [], warning,
                    {"method": "oauth2", "flavour": flavour, "mechanism": settings.mechanism,
                     "scopes": list(settings.scopes)})
    st.lines.append((_("scopes"), " ".join(settings.scopes) or "—"))
    if flavour.startswith("ms-"):
        st.lines.append((_("app (client id)"), settings.client_id))
        st.lines.append((_("tenant"), f"{settings.tenant} ({settings.authority_host})"))
        st.data.update(client_id=settings.client_id, tenant=settings.tenant, authority=settings.authority)
    if flavour == "token-command":
        st.lines.append((_("token command"), settings.token_command))
        st.lines.append((_("tokens"), _("one per mailbox, fetched when needed, kept in memory only")))
        return st
    if credentials is None:
        st.lines.append((_("stored"), _("unknown: the credential store is locked")))
        st.data["locked"] = True
        return st
    vault = Vault(credentials, project.domain, side)
    try:
        _fill(st, flavour, vault)
    except CredentialError as exc:
        st.lines.append((_("stored"), str(exc)))
    return st


def _fill(st: SideStatus, flavour: str, vault: Vault) -> None:
    if flavour == "ms-client-credentials":
        secret, cert = vault.get(CLIENT_SECRET_ENTRY), vault.get(CERTIFICATE)
        if secret:
            st.lines.append((_("credential"), _("client secret stored")))
        if cert:
            facts = certificate_facts(cert)
            st.data["certificate"] = facts
            st.lines.append((_("credential"), _("certificate stored (SHA-1 thumbprint {thumb}, valid until {until})").format(
                thumb=facts.get("thumbprint_sha1", "?"), until=facts.get("not_after", "?")) if facts.get("readable")
                else _("certificate stored but unreadable")))
        if not secret and not cert:
            st.lines.append((_("credential"), _("none stored: `mailmig credentials set-oauth PROJECT --side {side} "
                                                "--kind client-secret` (or certificate)").format(side=st.side)))
        st.data["client_secret_stored"] = bool(secret)
    if flavour.startswith("ms-"):
        facts = msal_cache_facts(vault.get(MSAL_CACHE))
        st.data["token_cache"] = facts
        if flavour == "ms-device-code":
            accounts = facts.get("accounts") or []
            st.lines.append((_("signed in"), ", ".join(accounts) if accounts else _(
                "nobody: run `mailmig credentials login PROJECT --side {side}`").format(side=st.side)))
            st.lines.append((_("refresh token"), _("stored") if facts.get("refresh_token") else _("none")))
        expires = facts.get("access_token_expires_at")
        st.lines.append((_("cached token expires"), when(expires) if expires else _("no token cached")))
    if flavour == "google-service-account":
        key = vault.get(SERVICE_ACCOUNT_KEY)
        if not key:
            st.lines.append((_("service account"), _("no JSON key stored: `mailmig credentials set-oauth PROJECT "
                                                     "--side {side} --kind service-account-key < key.json`").format(side=st.side)))
            return
        facts = service_account_facts(key)
        st.data["service_account"] = facts
        st.lines.append((_("service account"), _("{email} (client id {client_id}, key {key_id})").format(
            email=facts.get("client_email", "?"), client_id=facts.get("client_id", "?"),
            key_id=facts.get("private_key_id", "?"))))
        st.lines.append((_("tokens"), _("one per impersonated mailbox, fetched when needed, kept in memory only")))
