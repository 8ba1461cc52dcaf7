"""What to tell an admin who chose password login for a provider that refuses it."""

from __future__ import annotations

from mailmig_tui.core.i18n import _

MS_OAUTH_DOC = ("https://learn.microsoft.com/en-us/exchange/client-developer/legacy-protocols/"
                "how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth")
GOOGLE_SERVICE_ACCOUNT_DOC = "https://developers.google.com/identity/protocols/oauth2/service-account"
GOOGLE_XOAUTH2_DOC = "https://developers.google.com/workspace/gmail/imap/xoauth2-protocol"

# Host names of the IMAP/SMTP endpoints that refuse passwords (basic auth is off in Exchange Online;
# Google Workspace refuses passwords for IMAP/SMTP, app passwords aside).
_MICROSOFT_HOSTS = ("outlook.office365.com", "smtp.office365.com", "outlook.office.com", "partner.outlook.cn")
_GOOGLE_HOSTS = ("imap.gmail.com", "smtp.gmail.com")
PRESET_VENDOR = {"microsoft-365": "microsoft", "google-workspace": "google"}


def vendor_for_host(host: str) -> str:
    host = host.lower().rstrip(".")
    if host in _MICROSOFT_HOSTS:
        return "microsoft"
    if host in _GOOGLE_HOSTS:
        return "google"
    return ""


def vendor_advice(vendor: str) -> str:
    if vendor == "microsoft":
        return _("Microsoft 365 refuses password logins over IMAP and SMTP: set method = \"oauth2\" with "
                 "oauth2 = \"ms-client-credentials\" (an app registration with IMAP.AccessAsApp, admin-wide) or "
                 "\"ms-device-code\" (one admin signs in); see {doc}").format(doc=MS_OAUTH_DOC)
    if vendor == "google":
        return _("Google Workspace refuses password logins over IMAP and SMTP: set method = \"oauth2\" with "
                 "oauth2 = \"google-service-account\" (a service account with domain-wide delegation for "
                 "https://mail.google.com/); see {doc} and {doc2}").format(
            doc=GOOGLE_SERVICE_ACCOUNT_DOC, doc2=GOOGLE_XOAUTH2_DOC)
    return ""


def password_refused_hint(host: str) -> str:
    return vendor_advice(vendor_for_host(host))


def preset_advice(preset: str, method: str, flavour: str = "") -> str:
    """The warning for a login method the preset's provider refuses (a password for Microsoft 365 or
    Google Workspace), or ''."""
    from mailmig_tui.core.presets import preset_auth_docs, preset_auth_methods

    accepted = preset_auth_methods(preset)
    chosen = f"oauth2:{flavour}" if method == "oauth2" else method
    if not accepted or chosen in accepted:
        return ""
    advice = vendor_advice(PRESET_VENDOR.get(preset, ""))
    if advice:
        return advice if method != "oauth2" else _("{flavour!r} does not work with this provider: {advice}").format(
            flavour=flavour, advice=advice)
    docs = preset_auth_docs(preset)
    return _("this provider does not accept login method {method!r} (it accepts {accepted}){docs}").format(
        method=chosen, accepted=", ".join(accepted), docs=("; see " + " ".join(docs)) if docs else "")


def project_advice(project: object) -> list[tuple[str, str]]:
    """(side, warning) for each side of a project whose login method its provider refuses."""
    out: list[tuple[str, str]] = []
    for side in ("old", "new"):
        provider = getattr(project, side)
        auth = provider.auth
        warning = preset_advice(provider.preset, auth.method, str(auth.extra.get("oauth2", "")))
        if warning:
            out.append((side, warning))
    return out
