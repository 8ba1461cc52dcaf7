"""OAuth2 logins (XOAUTH2 / OAUTHBEARER) for providers that refuse passwords: Microsoft 365, Google Workspace,
or anything a token command can get a token for.

- `settings.py`: the `[*.auth]` keys of `method = "oauth2"`, with each flavour's defaults.
- `tokens.py`: `TokenSource`, the one object engines use: `token(login)` returns a token that is still
  valid for a while (refreshed before it expires), `invalidate()` drops one the server refused.
- `command.py`, `microsoft.py` (msal), `google.py` (google-auth): how each flavour gets a token.
- `vault.py`: what is kept in the credential store (client secret, certificate, service-account key,
  msal's token cache). Nothing here writes a token to the project file or to a log.
- `sasl.py`: the XOAUTH2 / OAUTHBEARER client responses, for IMAP and for SMTP AUTH (`smtp_authenticate`).
"""

from mailmig_tui.core.oauth.sasl import oauthbearer_response, smtp_authenticate, xoauth2_response
from mailmig_tui.core.oauth.settings import OAuthSettings
from mailmig_tui.core.oauth.tokens import Token, TokenError, TokenSource, TokenUnavailable, token_source

__all__ = ["OAuthSettings", "Token", "TokenError", "TokenSource", "TokenUnavailable", "oauthbearer_response",
           "smtp_authenticate", "token_source", "xoauth2_response"]
