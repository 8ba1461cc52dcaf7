"""The matrix engine when the new provider takes OAuth2 only (Microsoft 365, Google Workspace): the
new-side IMAP login and the SMTP submission both use XOAUTH2 tokens from the token source, the probe
arrives. The mail lab's new Dovecot is switched to accept OAuth2 for this test and switched back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mailmig_tui.core.dns.config import parse_dns_section
from mailmig_tui.core.matrix.checks import FAILED, PASSED
from mailmig_tui.core.matrix.config import parse_matrix_section
from mailmig_tui.core.matrix.engine import MatrixEngine
from mailmig_tui.core.model import Auth
from mailmig_tui.lab.mail import MailLab
from mailmig_tui.lab.oauth import write_token_command
from tests.matrix.conftest import lab_credentials, matrix_project


@pytest.fixture
def oauth_new_side(good_zone: MailLab) -> Iterator[MailLab]:
    inst = good_zone.new
    inst.oauth2 = True
    inst.write_config()
    inst.restart()
    # Postfix's smtpd processes keep the SASL mechanism list they got from Dovecot: new ones must ask again.
    good_zone.new_smtp.reload()
    try:
        yield good_zone
    finally:
        inst.oauth2 = False
        inst.write_config()
        inst.restart()
        good_zone.new_smtp.reload()


def test_new_side_over_oauth2_logs_in_and_submits(oauth_new_side: MailLab, tmp_path: Path) -> None:
    lab = oauth_new_side
    command, deny = write_token_command(tmp_path / "token", lab.new.oauth2_keys_dir)
    deny.write_text("bob@corp.test")
    project = matrix_project(lab)
    project.new.auth = Auth("oauth2", extra={"oauth2": "token-command", "token_command": command})
    creds = lab_credentials(project, lab)
    for user in project.users:  # no new-side password anywhere: only tokens can log in
        creds.delete(project.domain, "new", user.email)
    engine = MatrixEngine(project, creds, users=[project.user("ann@corp.test"), project.user("bob@corp.test")],
                          checks=["new_login", "send", "receive"],
                          config=parse_matrix_section(project.sections["matrix"]),
                          dns=parse_dns_section(project.sections["dns"]))
    cells = {(c.user, c.check): c for c in engine.run()}
    print({k: (c.status, c.reason) for k, c in cells.items()})  # shown when the test fails
    for check in ("new_login", "send", "receive"):
        assert cells[("ann@corp.test", check)].status == PASSED, cells[("ann@corp.test", check)].reason
    assert cells[("bob@corp.test", "new_login")].status == FAILED
    assert "refused the OAuth2 token for bob@corp.test" in cells[("bob@corp.test", "new_login")].reason
    assert cells[("bob@corp.test", "send")].status == FAILED, cells[("bob@corp.test", "send")].reason
    assert "the SMTP server refused the OAuth2 token for bob@corp.test (XOAUTH2)" in cells[("bob@corp.test", "send")].reason
