"""Errors a user can cause or fix, each with a documented exit code for the CLI."""

from __future__ import annotations


class MailmigError(Exception):
    """An error with a one-line message meant for the user (never a traceback)."""

    exit_code = 1


class UsageError(MailmigError):
    exit_code = 2


class ProjectFileError(MailmigError):
    """The project file is missing, malformed or invalid; it is left untouched."""

    exit_code = 3


class ProjectLockedError(MailmigError):
    """Another mailmig holds the project's lock."""

    exit_code = 4


class ProjectChangedOnDiskError(MailmigError):
    """The file changed behind our back since we read it; we refuse to overwrite it."""

    exit_code = 4


class CredentialError(MailmigError):
    exit_code = 5


class NotReadyError(MailmigError):
    """A check ran and found problems (verify differences, DNS not ready, users failed)."""

    exit_code = 1
