"""The accounts check's SMTP AUTH column against the mail lab's real Postfix (submission with SASL
through Dovecot), besides the old and new IMAP logins."""

from __future__ import annotations

from mailmig_tui.core.accounts.check import check_accounts
from mailmig_tui.lab.mail import MailLab
from tests.matrix.conftest import lab_credentials, matrix_project


def test_smtp_auth_ok_and_refused_per_user(maillab: MailLab) -> None:
    project = matrix_project(maillab)
    assert project.new.smtp.host, "the mail lab points new.smtp at its Postfix"
    creds = lab_credentials(project, maillab)
    creds.set(project.domain, "new", "bob@corp.test", "not-bobs-password")
    results = {r.user: r for r in check_accounts(project, creds, timeout=10)}
    ann = results["ann@corp.test"]
    assert (ann.old.status, ann.new.status, ann.smtp.status) == ("ok", "ok", "ok") and ann.ok
    bob = results["bob@corp.test"]
    assert bob.old.status == "ok" and bob.new.status == "refused" and bob.smtp.status == "refused"
    assert "535" in bob.smtp.detail and not bob.ok


def test_smtp_unreachable_is_not_ok(maillab: MailLab) -> None:
    from mailmig_tui.lab.dovecot import free_port

    project = matrix_project(maillab)
    project.users = project.users[:1]
    project.new.smtp.port = free_port()  # nothing listens there
    [result] = check_accounts(project, lab_credentials(project, maillab), timeout=5)
    assert result.new.status == "ok" and result.smtp.status == "unreachable" and not result.ok
