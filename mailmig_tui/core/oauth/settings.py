"""The settings of `[old_provider.auth]` / `[new_provider.auth]` when `method = "oauth2"`.

The model (core/model.py, OAUTH2_KEYS) checks their types and required keys with line-and-key errors;
this module turns them into one frozen object with each flavour's defaults filled in.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailmig_tui.core.i18n import N_, _
from mailmig_tui.core.model import Auth

MS_AUTHORITY = "https://login.microsoftonline.com"
# App-only (client credentials): Exchange Online's resource with /.default, which grants whatever
# application permissions (IMAP.AccessAsApp, SMTP.SendAsApp) the admin consented to.
MS_APP_SCOPES = ("https://outlook.office365.com/.default",)
# Delegated (device code): msal adds offline_access, openid and profile itself.
MS_DELEGATED_SCOPES = ("https://outlook.office.com/IMAP.AccessAsUser.All", "https://outlook.office.com/SMTP.Send")
# The one scope Gmail's IMAP and SMTP accept (https://developers.google.com/workspace/gmail/imap/xoauth2-protocol).
GOOGLE_SCOPES = ("https://mail.google.com/",)
DEFAULT_REFRESH_MARGIN = 300  # seconds before expiry a cached token is replaced

DEFAULT_SCOPES = {
    "ms-client-credentials": MS_APP_SCOPES,
    "ms-device-code": MS_DELEGATED_SCOPES,
    "google-service-account": GOOGLE_SCOPES,
    "token-command": (),
}


FLAVOUR_LABELS = {
    "ms-client-credentials": N_("Microsoft 365 app-only (client credentials)"),
    "ms-device-code": N_("Microsoft 365 delegated (device code)"),
    "google-service-account": N_("Google service account (domain-wide delegation)"),
    "token-command": N_("token command"),
}


REFUSAL_HINTS = {
    "ms-client-credentials": N_("check that the app has IMAP.AccessAsApp (SMTP.SendAsApp) with admin consent, that its "
                                "service principal is registered in Exchange Online (New-ServicePrincipal) and has "
                                "FullAccess to this mailbox (Add-MailboxPermission), and that IMAP is on for it"),
    "ms-device-code": N_("check that the signed-in admin has FullAccess to this mailbox (Add-MailboxPermission) "
                         "and that IMAP is on for it"),
    "google-service-account": N_("check that IMAP is allowed for this user and that the domain-wide delegation "
                                 "covers https://mail.google.com/"),
}


@dataclass(frozen=True)
class OAuthSettings:
    flavour: str
    mechanism: str = "XOAUTH2"
    client_id: str = ""
    tenant: str = ""
    authority_host: str = MS_AUTHORITY
    account: str = ""
    token_command: str = ""
    scopes: tuple[str, ...] = ()
    refresh_margin: int = DEFAULT_REFRESH_MARGIN

    @classmethod
    def from_auth(cls, auth: Auth) -> OAuthSettings:
        if auth.method != "oauth2":
            raise ValueError(f"not an oauth2 login: {auth.method}")
        x = auth.extra
        flavour = str(x.get("oauth2", ""))
        scopes = tuple(x.get("scopes") or DEFAULT_SCOPES.get(flavour, ()))
        return cls(
            flavour=flavour,
            mechanism=str(x.get("mechanism", "XOAUTH2")).upper(),
            client_id=str(x.get("client_id", "")),
            tenant=str(x.get("tenant", "")),
            authority_host=str(x.get("authority") or MS_AUTHORITY).rstrip("/"),
            account=str(x.get("account", "")),
            token_command=str(x.get("token_command", "")),
            scopes=scopes,
            refresh_margin=int(x.get("refresh_margin", DEFAULT_REFRESH_MARGIN)),
        )

    @property
    def authority(self) -> str:
        """msal's authority URL: the host (login.microsoftonline.com; login.chinacloudapi.cn for the
        21Vianet cloud) and the tenant (its id or one of its domains)."""
        return f"{self.authority_host}/{self.tenant}"

    @property
    def per_mailbox(self) -> bool:
        """Whether each mailbox gets its own token (Google impersonates each user; a token command is run
        per mailbox) or one token opens every mailbox (Microsoft app-only, or the delegated admin)."""
        return self.flavour in ("google-service-account", "token-command")

    def refusal_hint(self) -> str:
        """What to check when the server refuses a token the identity provider issued."""
        hint = REFUSAL_HINTS.get(self.flavour)
        return _(hint) if hint else ""

    def describe(self) -> str:
        what = FLAVOUR_LABELS.get(self.flavour)
        return f"OAuth2 {self.mechanism}: {_(what) if what else self.flavour}"
