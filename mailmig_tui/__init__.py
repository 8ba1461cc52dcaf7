"""mailmig_tui: guides an email-domain migration from an old mail provider to a new one."""

__version__ = "0.1.0"
