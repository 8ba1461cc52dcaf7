"""The after-care health monitor against real servers: the lab's Dovecot (old and new provider), with
certificates the fixture makes near expiry and expired, a straggler delivered to the old provider, a
dead port, a wrong password; the CLI's exit codes and the history kept beside the project."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from imapclient import IMAPClient

from mailmig_tui.core.dns.config import DnsConfig
from mailmig_tui.core.model import Endpoint, User
from mailmig_tui.core.monitor import FAIL, OK, UNKNOWN, WARN, History, MonitorConfig, history_path, run_checks
from mailmig_tui.core.monitor.history import sparkline
from mailmig_tui.core.project_factory import new_project
from mailmig_tui.core.store import ProjectStore
from mailmig_tui.lab.dovecot import Lab, dovecot_binary, free_port
from tests.backup_helpers import credentials, run_cli

CANARY = "canary@corp.example"
NO_DNS = DnsConfig(resolvers=[], authoritative=[])


def _certificate(folder: Path, not_after: datetime) -> str:
    """A self-signed certificate for localhost valid until `not_after`; returns its sha256 pin."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_after - timedelta(days=60)).not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .sign(key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    return "sha256:" + cert.fingerprint(hashes.SHA256()).hex()


@pytest.fixture(scope="module")
def health_lab() -> Iterator[Lab]:
    if dovecot_binary() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("dovecot is not installed (scripts/install-system-packages.sh installs it)")
        pytest.skip("dovecot is not installed")
    root = Path(tempfile.mkdtemp(prefix="mailmig-monitor-"))
    root.chmod(0o711)
    now = datetime.now(UTC)
    # The new provider's certificate runs out in 5 days; the old one's ran out yesterday.
    new_pin = _certificate(root / "lab" / "new", now + timedelta(days=5))
    old_pin = _certificate(root / "lab" / "old", now - timedelta(days=1))
    lab = Lab.create(root / "lab")
    lab.new.fingerprint, lab.old.fingerprint = new_pin, old_pin
    lab.new.users[CANARY] = "new-secret"
    lab.old.users[CANARY] = "old-secret"
    for inst in (lab.old, lab.new):
        inst.write_users()
    lab.save()
    lab.start()
    try:
        yield lab
    finally:
        lab.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def project_path(tmp_path: Path, health_lab: Lab) -> Path:
    project = new_project("corp.example", "generic-imap", "generic-imap")
    project.old.imap = Endpoint("localhost", health_lab.old.imaps_port, "ssl", tls_fingerprint=health_lab.old.fingerprint)
    project.new.imap = Endpoint("localhost", health_lab.new.imaps_port, "ssl", tls_fingerprint=health_lab.new.fingerprint)
    project.users = [User(CANARY, role="pilot")]
    now = datetime.now(UTC).replace(microsecond=0)
    project.plan.dates["mx_cutover"] = now - timedelta(minutes=30)
    project.plan.dates["go_live"] = now - timedelta(minutes=10)
    project.plan.dates["old_provider_off"] = now + timedelta(days=10)
    path = tmp_path / "corp.example.mailmig.toml"
    ProjectStore.create(path, project).close()
    credentials(tmp_path).set_many("corp.example", [("old", CANARY, "old-secret"), ("new", CANARY, "new-secret")])
    return path


def _run(path: Path, groups: tuple[str, ...], **config: object) -> dict[str, object]:
    from mailmig_tui.core.store import load_project

    results = run_checks(load_project(path), credentials(path.parent), MonitorConfig(**config), NO_DNS,  # type: ignore[arg-type]
                         groups=groups)
    return {r.key: r for r in results}


def test_new_imap_login_is_checked_with_its_latency(project_path: Path) -> None:
    got = _run(project_path, ("imap",))["imap"]
    assert got.status == OK, got.detail  # type: ignore[attr-defined]
    assert got.value and got.value > 0 and "logged in and opened INBOX" in got.detail  # type: ignore[attr-defined]


def test_a_wrong_password_and_a_dead_port_fail_with_the_reason(project_path: Path) -> None:
    credentials(project_path.parent).set("corp.example", "new", CANARY, "wrong")
    got = _run(project_path, ("imap",))["imap"]
    assert got.status == FAIL and "login refused" in got.detail  # type: ignore[attr-defined]

    store = ProjectStore.open(project_path)
    store.update(lambda p: setattr(p.new.imap, "port", free_port()))
    store.close()
    got = _run(project_path, ("imap",))["imap"]
    assert got.status == FAIL and "unreachable" in got.detail and got.value is None  # type: ignore[attr-defined]


def test_no_password_is_unknown_never_ok(project_path: Path) -> None:
    credentials(project_path.parent).delete("corp.example", "new", CANARY)
    results = _run(project_path, ("imap", "smtp"))
    assert results["imap"].status == UNKNOWN  # type: ignore[attr-defined]
    assert results["smtp"].status == UNKNOWN  # type: ignore[attr-defined]
    assert all(r.failing for r in results.values())  # type: ignore[attr-defined]


def test_certificates_near_expiry_warn_and_expired_fail(project_path: Path, health_lab: Lab) -> None:
    from mailmig_tui.core.monitor.checks import tls_check
    from mailmig_tui.core.store import load_project

    got = _run(project_path, ("tls",), cert_warn_days=21)["tls:imap"]
    assert got.status == WARN and "expires in 4 days" in got.detail  # type: ignore[attr-defined]
    assert _run(project_path, ("tls",), cert_warn_days=3)["tls:imap"].status == OK  # type: ignore[attr-defined]
    old = load_project(project_path).old.imap
    expired = tls_check("imap", old, 21, 5.0, datetime.now(UTC))
    assert expired.status == FAIL and "expired on" in expired.detail
    # STARTTLS on the plain port reads the same certificate.
    starttls = Endpoint("localhost", health_lab.new.imap_port, "starttls")
    assert tls_check("imap", starttls, 21, 5.0, datetime.now(UTC)).status == WARN


def _deliver_to_old(lab: Lab, when: datetime) -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "someone@elsewhere.example", CANARY, "sent with stale DNS"
    msg.set_content("this one went to the old provider after the cutover")
    with IMAPClient("127.0.0.1", lab.old.imap_port, ssl=False) as client:
        client.login(CANARY, "old-secret")
        client.append("INBOX", msg.as_bytes(), (), when)


def test_a_straggler_at_the_old_provider_is_counted(project_path: Path, health_lab: Lab) -> None:
    before = _run(project_path, ("stragglers",))["stragglers"]
    assert before.status == OK and "no new mail" in before.detail  # type: ignore[attr-defined]
    _deliver_to_old(health_lab, datetime.now(UTC) - timedelta(hours=3))  # before the cutover: not a straggler
    assert _run(project_path, ("stragglers",))["stragglers"].status == OK  # type: ignore[attr-defined]
    _deliver_to_old(health_lab, datetime.now(UTC))
    after = _run(project_path, ("stragglers",))["stragglers"]
    assert after.status == WARN and after.value == 1.0 and CANARY in after.detail  # type: ignore[attr-defined]
    assert "mailmig copy" in after.advice  # type: ignore[attr-defined]


def test_cli_once_exits_1_on_a_failure_and_keeps_history(project_path: Path, tmp_path: Path) -> None:
    code, events, out = run_cli(tmp_path, "monitor", str(project_path), "--once", "--checks", "imap", "--json")
    assert code == 0, out
    checks = [e for e in events if e["event"] == "monitor.check"]
    assert [c["key"] for c in checks] == ["imap"] and checks[0]["status"] == "ok"
    credentials(tmp_path).set("corp.example", "new", CANARY, "wrong")
    code, _events, out = run_cli(tmp_path, "monitor", str(project_path), "--once", "--checks", "imap")
    assert code == 1 and "✗ failed" in out and "login refused" in out
    with History(history_path(project_path)) as history:
        series = history.series("imap")
        assert [p.status for p in series] == ["ok", "fail"]
        assert history.failure_free_since() is None
    assert len(sparkline([p.value for p in series])) == 2
    code, _events, out = run_cli(tmp_path, "monitor", str(project_path), "--once", "--checks", "bogus")
    assert code == 2 and "unknown check group" in out


def test_bad_monitor_section_names_line_and_key(project_path: Path, tmp_path: Path) -> None:
    text = project_path.read_text()
    project_path.write_text(text + "\n[monitor]\ncert_warn_days = -3\n")
    code, _events, out = run_cli(tmp_path, "monitor", str(project_path), "--once")
    assert code == 3 and "monitor.cert_warn_days" in out and "Traceback" not in out
    assert project_path.read_text().endswith("cert_warn_days = -3\n")


async def test_health_tab_runs_the_checks_in_a_worker(project_path: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from textual.widgets import DataTable, Static

    from mailmig_tui.core import credentials as credentials_module
    from mailmig_tui.ui.app import MailmigApp
    from mailmig_tui.ui.phases.aftercare.health import HealthPanel
    from tests.backup_helpers import PASSPHRASE

    monkeypatch.setenv("MAILMIG_CREDENTIALS_FILE", str(tmp_path / "creds.enc"))
    monkeypatch.setenv("MAILMIG_PASSPHRASE", PASSPHRASE)
    credentials_module.forget_session()
    store = ProjectStore.open(project_path)
    dead = f"127.0.0.1:{free_port()}"  # nothing listens there: DNS cannot be checked, and nothing leaves loopback
    store.update(lambda p: p.sections.update(monitor={"interval": 3600},
                                             dns={"resolvers": [{"name": "none", "address": dead}],
                                                  "authoritative": [dead], "timeout": 0.3}))
    app = MailmigApp(store)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("7", "]", "]")
        panel = app.screen.query_one(HealthPanel)
        for _ in range(600):
            if panel.results and not panel.running:
                break
            await pilot.pause(0.05)
        keys = {r.key: r.status for r in panel.results}
        assert keys["imap"] == OK and keys["tls:imap"] == WARN and keys["stragglers"] in (OK, WARN)
        # DNS cannot be asked here (no servers in reach of this project): unknown, never ok.
        assert all(status != OK for key, status in keys.items() if key.startswith("dns"))
        table = panel.query_one("#health-table", DataTable)
        assert table.row_count == len(panel.results)
        status = str(panel.query_one("#health-status", Static).render())
        assert "checks failing" in status  # the unknown DNS and SMTP rows count against health
        await pilot.press("r")
        assert panel.running or panel.results
        await pilot.press("escape")
    store.close()
