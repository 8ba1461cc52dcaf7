"""The IMAP layer every engine shares (backup, copy, test matrix, monitor).

`session` opens connections the way the project says (TLS mode, certificate policy, user, admin or
SASL logins) and sorts errors into fatal and transient; `fetch` streams UID FETCH bodies straight to
a writer so memory stays flat whatever the message size.
"""
