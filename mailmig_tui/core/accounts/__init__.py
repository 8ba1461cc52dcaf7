"""Accounts on the new provider: do the logins work (check.py), the bulk-import file (export.py), passwords (passwords.py)."""
