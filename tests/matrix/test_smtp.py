"""The shared SMTP layer against the lab's real Postfix: TLS policy, AUTH, submission, MX delivery, and
errors sorted fatal vs transient with clear reasons."""

from __future__ import annotations

import uuid

import pytest

from mailmig_tui.core.model import Endpoint
from mailmig_tui.core.smtp.session import SmtpError, deliver, submit
from mailmig_tui.lab.dovecot import free_port
from mailmig_tui.lab.mail import MailLab


def _msg(token: str) -> bytes:
    return (f"From: ann@corp.test\r\nTo: ann@corp.test\r\nSubject: smtp {token}\r\n"
            f"Message-ID: <{token}@corp.test>\r\n\r\nhello\r\n").encode()


def _submission(lab: MailLab, **kw: object) -> Endpoint:
    values: dict[str, object] = {"host": "localhost", "port": lab.new_smtp.submission_port, "tls": "starttls",
                                 "tls_fingerprint": lab.new_smtp.fingerprint}
    values.update(kw)
    return Endpoint(**values)  # type: ignore[arg-type]


def test_submit_with_starttls_and_implicit_tls_pinned(maillab: MailLab) -> None:
    pw = maillab.new.users["ann@corp.test"]
    accepted = submit(_submission(maillab), "ann@corp.test", pw, "ann@corp.test", ["ann@corp.test"],
                      _msg(uuid.uuid4().hex))
    assert accepted.tls and "queued" in accepted.reply.lower()
    accepted = submit(_submission(maillab, port=maillab.new_smtp.smtps_port, tls="ssl"), "ann@corp.test", pw,
                      "ann@corp.test", ["ann@corp.test"], _msg(uuid.uuid4().hex))
    assert accepted.tls


def test_wrong_password_is_fatal_with_the_servers_reason(maillab: MailLab) -> None:
    with pytest.raises(SmtpError) as err:
        submit(_submission(maillab), "ann@corp.test", "wrong", "ann@corp.test", ["ann@corp.test"], _msg("x"))
    assert err.value.fatal and err.value.code == 535
    assert "SMTP login refused for ann@corp.test: 535" in err.value.reason


def test_certificate_policy(maillab: MailLab) -> None:
    pw = maillab.new.users["ann@corp.test"]
    with pytest.raises(SmtpError) as err:  # self-signed, neither pinned nor verify turned off
        submit(_submission(maillab, tls_fingerprint=""), "ann@corp.test", pw, "ann@corp.test", ["ann@corp.test"], _msg("x"))
    assert err.value.fatal and "not trusted" in err.value.reason
    with pytest.raises(SmtpError) as err:
        submit(_submission(maillab, tls_fingerprint="sha256:" + "0" * 64), "ann@corp.test", pw, "ann@corp.test",
               ["ann@corp.test"], _msg("x"))
    assert err.value.fatal and "does not match the pinned one" in err.value.reason
    # Explicitly accepting any certificate works (the admin's choice, never the default).
    submit(_submission(maillab, tls_fingerprint="", tls_verify=False), "ann@corp.test", pw, "ann@corp.test",
           ["ann@corp.test"], _msg(uuid.uuid4().hex))


def test_refused_port_is_transient(maillab: MailLab) -> None:
    with pytest.raises(SmtpError) as err:
        submit(_submission(maillab, port=free_port()), "ann@corp.test", "x", "ann@corp.test", ["ann@corp.test"], _msg("x"))
    assert not err.value.fatal and "refused the connection" in err.value.reason


def test_plain_port_25_offers_no_auth(maillab: MailLab) -> None:
    endpoint = Endpoint(maillab.new_smtp.mx_address, 25, "starttls", tls_verify=False)
    with pytest.raises(SmtpError) as err:
        submit(endpoint, "ann@corp.test", maillab.new.users["ann@corp.test"], "ann@corp.test", ["ann@corp.test"], _msg("x"))
    assert err.value.fatal and "no AUTH" in err.value.reason


def test_deliver_to_an_mx(maillab: MailLab) -> None:
    accepted = deliver(maillab.new_smtp.mx_address, "someone@example.net", ["ann@corp.test"], _msg(uuid.uuid4().hex))
    assert accepted.tls and accepted.port == 25
    with pytest.raises(SmtpError) as err:  # not a domain of this MX: relaying refused, 5xx
        deliver(maillab.new_smtp.mx_address, "someone@example.net", ["x@elsewhere.example"], _msg("x"))
    assert err.value.fatal and err.value.code == 554
    assert "RCPT TO x@elsewhere.example" in err.value.reason
