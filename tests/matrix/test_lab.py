"""The mail lab itself: submission with SASL through Dovecot and DKIM signing, port 25 on each provider's
MX address, delivery over LMTP into the right Dovecot, the zone pointing where it says."""

from __future__ import annotations

import smtplib
import ssl
import time
import uuid

import dns.resolver
from imapclient import IMAPClient

from mailmig_tui.lab.dovecot import DovecotInstance
from mailmig_tui.lab.mail import MailLab


def _find(inst: DovecotInstance, email: str, token: str, timeout: float = 15.0) -> bytes | None:
    deadline = time.monotonic() + timeout
    with IMAPClient("127.0.0.1", inst.imap_port, ssl=False, timeout=10) as client:
        client.login(email, inst.users[email])
        client.select_folder("INBOX")
        while time.monotonic() < deadline:
            uids = client.search(["HEADER", "X-Lab-Token", token])
            if uids:
                data = client.fetch(uids, ["RFC822"])[uids[0]][b"RFC822"]
                client.delete_messages(uids)
                client.expunge()
                return bytes(data)
            time.sleep(0.2)
            client.noop()
    return None


def _message(token: str) -> bytes:
    return (f"From: ann@corp.test\r\nTo: bob@corp.test\r\nSubject: lab {token}\r\nX-Lab-Token: {token}\r\n"
            f"Message-ID: <{token}@corp.test>\r\nDate: Tue, 01 Dec 2026 10:00:00 +0000\r\n\r\nhello\r\n").encode()


def test_submission_authenticates_through_dovecot_and_signs(maillab: MailLab) -> None:
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    token = uuid.uuid4().hex
    with smtplib.SMTP("127.0.0.1", maillab.new_smtp.submission_port, timeout=10) as smtp:
        smtp.starttls(context=ctx)
        try:
            smtp.login("ann@corp.test", "wrong")
            raise AssertionError("a wrong password was accepted")
        except smtplib.SMTPAuthenticationError:
            pass
        smtp.login("ann@corp.test", maillab.new.users["ann@corp.test"])
        smtp.sendmail("ann@corp.test", ["bob@corp.test"], _message(token))
    raw = _find(maillab.new, "bob@corp.test", token)
    assert raw is not None
    assert b"DKIM-Signature:" in raw and b"s=mm1" in raw
    # Implicit TLS (465-style) too.
    with smtplib.SMTP_SSL("127.0.0.1", maillab.new_smtp.smtps_port, timeout=10, context=ctx) as smtp:
        smtp.login("ann@corp.test", maillab.new.users["ann@corp.test"])


def test_port_25_of_each_provider_delivers_to_its_own_dovecot(maillab: MailLab) -> None:
    for smtp_inst, imap_inst in ((maillab.new_smtp, maillab.new), (maillab.old_smtp, maillab.old)):
        token = uuid.uuid4().hex
        with smtplib.SMTP(smtp_inst.mx_address, 25, timeout=10) as smtp:
            smtp.sendmail("outside@example.net", ["bob@corp.test"], _message(token))
        assert _find(imap_inst, "bob@corp.test", token) is not None


def test_the_zone_points_at_the_lab(good_zone: MailLab) -> None:
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [good_zone.resolver()]
    assert [r.exchange.to_text() for r in resolver.resolve("corp.test", "MX")] == ["mx1.newmail.test."]
    assert [r.to_text() for r in resolver.resolve("mx1.newmail.test", "A")] == [good_zone.new_smtp.mx_address]
    key = b"".join(resolver.resolve("mm1._domainkey.corp.test", "TXT")[0].strings).decode()
    assert key == good_zone.dkim.txt_record()
