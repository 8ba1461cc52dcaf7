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
