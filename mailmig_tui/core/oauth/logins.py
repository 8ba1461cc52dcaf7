"""LoginSpecs for a side whose auth is method = "oauth2", shared by every engine that opens IMAP sessions
(backup from the old side, copy to the new one, the login check): one TokenSource per side and run, so
every session of the run shares the cache and the refreshes."""

from __future__ import annotations

from mailmig_tui.core.credentials import Credentials
from mailmig_tui.core.imap.session import LoginSpec
from mailmig_tui.core.model import Project
from mailmig_tui.core.oauth.tokens import TokenError, TokenSource, token_source


def oauth_login_specs(project: Project, side: str, credentials: Credentials,
                      logins: dict[str, str], source: TokenSource | None = None) -> dict[str, LoginSpec | str]:
    """logins: user email -> mailbox login. Each value is a LoginSpec, or why that user cannot log in."""
    auth = (project.old if side == "old" else project.new).auth
    try:
        source = source or token_source(project, side, credentials)
    except TokenError as exc:
        return {email: str(exc) for email in logins}
    return {email: LoginSpec(login, "", auth, source) for email, login in logins.items()}
