"""LoginSpecs for a side whose auth is method = "oauth2", shared by every engine that opens IMAP sessions
(backup from the old side, copy to the new one, the login check): one TokenSource per side and run, so
every session of the run shares the cache and the refreshes."""

from __future__ import annotations

import threading

from mailmig_tui.core.credentials import Credentials
from mailmig_tui.core.imap.session import LoginSpec
from mailmig_tui.core.model import Project
from mailmig_tui.core.oauth.settings import OAuthSettings
from mailmig_tui.core.oauth.tokens import TokenError, TokenSource, token_source

_sources: dict[tuple[int, str, str, OAuthSettings], TokenSource] = {}
_sources_lock = threading.Lock()
MAX_SOURCES = 16


def shared_source(project: Project, side: str, credentials: Credentials) -> TokenSource:
    """One TokenSource per credential store, project side and settings for the whole process, so runs
    one after another (the TUI, the monitor's rounds) reuse tokens while they are fresh. A source whose
    last fetch failed (a changed secret, a new consent) is made anew."""
    settings = OAuthSettings.from_auth((project.old if side == "old" else project.new).auth)
    key = (id(credentials), project.domain.lower(), side, settings)
    with _sources_lock:
        source = _sources.get(key)
        if source is None or source.broken:
            source = token_source(project, side, credentials)
            _sources.pop(key, None)
            _sources[key] = source
            while len(_sources) > MAX_SOURCES:
                del _sources[next(iter(_sources))]
        return source


def oauth_login_specs(project: Project, side: str, credentials: Credentials,
                      logins: dict[str, str], source: TokenSource | None = None) -> dict[str, LoginSpec | str]:
    """logins: user email -> mailbox login. Each value is a LoginSpec, or why that user cannot log in."""
    auth = (project.old if side == "old" else project.new).auth
    try:
        source = source or shared_source(project, side, credentials)
    except TokenError as exc:
        return {email: str(exc) for email in logins}
    return {email: LoginSpec(login, "", auth, source) for email, login in logins.items()}
