"""The matrix engine against the mail lab: every check passes on a good setup, each fails for its own
reason, one cell re-runs alone, and probes do not stay behind."""

from __future__ import annotations

from imapclient import IMAPClient

from mailmig_tui.core.dns.config import parse_dns_section
from mailmig_tui.core.matrix.checks import CHECK_IDS, FAILED, NOT_RUN, PASSED, Cell
from mailmig_tui.core.matrix.config import parse_matrix_section
from mailmig_tui.core.matrix.engine import CellDone, MatrixEngine, MatrixEvent, MatrixFinished
from mailmig_tui.core.matrix.probes import HEADER
from mailmig_tui.core.model import Project
from mailmig_tui.lab.dovecot import DovecotInstance
from mailmig_tui.lab.mail import MailLab
from tests.matrix.conftest import lab_credentials, matrix_project


def run(lab: MailLab, project: Project | None = None, users: list[str] | None = None,
        checks: list[str] | None = None, events: list[MatrixEvent] | None = None) -> dict[tuple[str, str], Cell]:
    project = project or matrix_project(lab)
    chosen = [u for u in project.users if users is None or u.email in users]
    engine = MatrixEngine(project, lab_credentials(project, lab), users=chosen, checks=checks,
                          config=parse_matrix_section(project.sections["matrix"]),
                          dns=parse_dns_section(project.sections["dns"]),
                          on_event=(events.append if events is not None else None))
    return {(c.user, c.check): c for c in engine.run()}


def probes_left(inst: DovecotInstance, email: str) -> int:
    with IMAPClient("127.0.0.1", inst.imap_port, ssl=False, timeout=10) as client:
        client.login(email, inst.users[email])
        client.select_folder("INBOX", readonly=True)
        return len(client.search(["HEADER", HEADER, ""]))


def test_every_check_passes_on_a_good_setup(good_zone: MailLab) -> None:
    events: list[MatrixEvent] = []
    cells = run(good_zone, users=["ann@corp.test", "bob@corp.test"], events=events)
    bad = {k: (c.status, c.reason) for k, c in cells.items() if c.status != PASSED}
    assert not bad
    assert len(cells) == 2 * len(CHECK_IDS)
    assert "arrived in the new INBOX after" in cells[("ann@corp.test", "receive")].reason
    assert "DKIM d=corp.test s=mm1 verifies" in cells[("ann@corp.test", "dkim")].reason
    assert "SPF pass" in cells[("ann@corp.test", "dkim")].reason
    assert "in the new INBOX" in cells[("ann@corp.test", "mx")].reason
    assert isinstance(events[-1], MatrixFinished) and events[-1].passed == 16
    assert sum(isinstance(e, CellDone) for e in events) == 16
    for email in ("ann@corp.test", "bob@corp.test"):  # probes removed afterwards, on both sides
        assert probes_left(good_zone.new, email) == 0
        assert probes_left(good_zone.old, email) == 0


def test_wrong_new_password_fails_new_login_and_send(good_zone: MailLab) -> None:
    project = matrix_project(good_zone)
    creds = lab_credentials(project, good_zone)
    creds.set(project.domain, "new", "cat@corp.test", "not-the-password")
    engine = MatrixEngine(project, creds, users=[project.user("cat@corp.test")], checks=["new_login", "send", "receive"],
                          config=parse_matrix_section(project.sections["matrix"]),
                          dns=parse_dns_section(project.sections["dns"]))
    cells = {c.check: c for c in engine.run()}
    assert cells["new_login"].status == FAILED and "login refused for cat@corp.test" in cells["new_login"].reason
    assert cells["send"].status == FAILED and "SMTP login refused for cat@corp.test: 535" in cells["send"].reason
    assert cells["receive"].status == NOT_RUN and "not sent" in cells["receive"].reason


def test_submission_refused(good_zone: MailLab) -> None:
    smtp = good_zone.new_smtp
    smtp.submission_enabled = False
    smtp.write_config()
    smtp.reload()
    try:
        _wait_closed(smtp.submission_port)
        cells = run(good_zone, users=["cat@corp.test"], checks=["send", "dkim"])
        send = cells[("cat@corp.test", "send")]
        assert send.status == FAILED and f"localhost:{smtp.submission_port} refused the connection" in send.reason
        assert cells[("cat@corp.test", "dkim")].status == NOT_RUN
    finally:
        smtp.submission_enabled = True
        smtp.write_config()
        smtp.reload()
        _wait_open(smtp.submission_port)


def test_mx_still_at_the_old_provider_lands_there(good_zone: MailLab) -> None:
    good_zone.apply_zone(mx="old")
    cells = run(good_zone, users=["cat@corp.test"], checks=["mx"])
    mx = cells[("cat@corp.test", "mx")]
    assert mx.status == FAILED and "landed at the old provider (MX mx1.oldmail.test)" in mx.reason
    assert probes_left(good_zone.old, "cat@corp.test") == 0  # found there, and removed


def test_message_missing_after_the_copy(good_zone: MailLab) -> None:
    with IMAPClient("127.0.0.1", good_zone.new.imap_port, ssl=False) as client:
        client.login("dan@corp.test", good_zone.new.users["dan@corp.test"])
        client.select_folder("INBOX")
        newest = max(client.search())
        saved = client.fetch([newest], ["BODY.PEEK[]", "FLAGS", "INTERNALDATE"])[newest]
        client.delete_messages([newest])
        client.expunge()
    try:
        cells = run(good_zone, users=["dan@corp.test"], checks=["present"])
        present = cells[("dan@corp.test", "present")]
        assert present.status == FAILED and "INBOX:" in present.reason and "messages" in present.reason
    finally:
        with IMAPClient("127.0.0.1", good_zone.new.imap_port, ssl=False) as client:
            client.login("dan@corp.test", good_zone.new.users["dan@corp.test"])
            flags = [f for f in saved[b"FLAGS"] if f.lower() != b"\\recent"]
            client.append("INBOX", saved[b"BODY[]"], flags, saved[b"INTERNALDATE"])
    assert run(good_zone, users=["dan@corp.test"], checks=["present"])[("dan@corp.test", "present")].status == PASSED


def test_autoconfig_pointing_at_the_old_host(good_zone: MailLab) -> None:
    good_zone.apply_zone(autoconfig="old")
    client = run(good_zone, users=["cat@corp.test"], checks=["client"])[("cat@corp.test", "client")]
    assert client.status == FAILED and "the old provider" in client.reason and "oldmail.test" in client.reason


def test_bad_dkim_key(good_zone: MailLab) -> None:
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    der = other.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    good_zone.apply_zone(dkim_txt="v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode())
    cells = run(good_zone, users=["cat@corp.test"], checks=["dkim"])
    dkim = cells[("cat@corp.test", "dkim")]
    assert dkim.status == FAILED and "does not verify against the key published at mm1._domainkey.corp.test" in dkim.reason


def test_one_cell_reruns_alone(good_zone: MailLab) -> None:
    cells = run(good_zone, users=["bob@corp.test"], checks=["mx"])
    assert list(cells) == [("bob@corp.test", "mx")] and cells[("bob@corp.test", "mx")].status == PASSED


def test_a_probe_that_never_arrives_fails_saying_how_long_it_waited(good_zone: MailLab) -> None:
    project = matrix_project(good_zone)
    project.sections["matrix"]["probe_timeout"] = 2
    # bob's new mailbox is fine, but the MX is the old provider's and bob's old mailbox is not looked at:
    # the probe is delivered to mx1.oldmail.test and never shows up at the new provider.
    good_zone.apply_zone(mx="old")
    creds = lab_credentials(project, good_zone)
    creds.delete(project.domain, "old", "bob@corp.test")
    engine = MatrixEngine(project, creds, users=[project.user("bob@corp.test")], checks=["mx"],
                          config=parse_matrix_section(project.sections["matrix"]),
                          dns=parse_dns_section(project.sections["dns"]))
    mx = engine.run()[0]
    assert mx.status == FAILED and "not seen in the new INBOX (the old one could not be opened" in mx.reason
    assert "within 2 s" in mx.reason and mx.seconds >= 2


def _wait_closed(port: int) -> None:
    import socket
    import time

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        except OSError:
            return
        time.sleep(0.1)
    raise AssertionError(f"port {port} still open")


def _wait_open(port: int) -> None:
    import socket
    import time

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"port {port} did not open")


def test_send_alone_still_removes_its_probe(good_zone: MailLab) -> None:
    cells = run(good_zone, users=["cat@corp.test"], checks=["send"])
    assert list(cells) == [("cat@corp.test", "send")] and cells[("cat@corp.test", "send")].status == PASSED
    assert probes_left(good_zone.new, "cat@corp.test") == 0


def test_spf_check_host_against_the_lab_zone(good_zone: MailLab) -> None:
    import asyncio

    from mailmig_tui.core.matrix.lookup import Lookup
    from mailmig_tui.core.matrix.spf import check_host

    lookup = Lookup(parse_dns_section(matrix_project(good_zone).sections["dns"]))
    result, why = asyncio.run(check_host("127.0.0.1", "corp.test", lookup.aask))
    assert result == "pass" and "spf.newmail.test" in why
    result, why = asyncio.run(check_host("10.9.8.7", "corp.test", lookup.aask))
    assert result == "fail"
    good_zone.apply_zone(spf="old")  # the record still names only the old provider
    result, _why = asyncio.run(check_host("127.0.0.1", "corp.test", Lookup(lookup_config(good_zone)).aask))  # fresh cache
    assert result == "fail"
    cells = run(good_zone, users=["cat@corp.test"], checks=["dkim"])
    dkim = cells[("cat@corp.test", "dkim")]
    assert dkim.status == FAILED and "DKIM d=corp.test s=mm1 verifies; SPF fail for 127.0.0.1" in dkim.reason


def lookup_config(lab: MailLab):  # type: ignore[no-untyped-def]
    return parse_dns_section(matrix_project(lab).sections["dns"])


def test_client_settings_read_the_autoconfig_file(good_zone: MailLab) -> None:
    client = run(good_zone, users=["cat@corp.test"], checks=["client"])[("cat@corp.test", "client")]
    assert client.status == PASSED
    good_zone.new_web.stop()
    try:
        client = run(good_zone, users=["cat@corp.test"], checks=["client"])[("cat@corp.test", "client")]
        assert client.status == "warning" and "config file could not be read" in client.reason
    finally:
        good_zone.new_web.start()
