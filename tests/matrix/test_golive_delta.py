"""The final delta and the rollback against the mail lab, through the real copy engine: a straggler that
reached the old provider after the cutover is copied by the final delta (and the gate sees nothing new
since); the rollback copies back only what arrived at the new side, never the forward copy's messages,
and a second rollback copies nothing."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from email.message import EmailMessage
from hashlib import sha256
from pathlib import Path

import pytest
from imapclient import IMAPClient

from mailmig_tui.core.copy.engine import CopyEngine, CopyOptions
from mailmig_tui.core.dns.config import DnsConfig
from mailmig_tui.core.golive.delta import NotDrained, final_delta, record_final_delta, reverse_copy, rollback_plan
from mailmig_tui.core.golive.gate import straggler_conditions
from mailmig_tui.core.model import User, now
from mailmig_tui.core.store import ProjectStore, load_project
from mailmig_tui.lab.corpus import bulk_corpus, fill_mailbox
from mailmig_tui.lab.mail import MailLab
from tests.backup_helpers import credentials, run_cli
from tests.matrix.conftest import matrix_project

EVE, EVE_OLD, EVE_NEW = "eve@corp.test", "old-eve", "new-eve"


def _inbox(inst, email: str) -> Counter[str]:  # type: ignore[no-untyped-def]
    with IMAPClient("127.0.0.1", inst.imap_port, ssl=False, timeout=10) as client:
        client.login(email, inst.users[email])
        client.select_folder("INBOX", readonly=True)
        uids = client.search("ALL")
        return Counter(sha256(d[b"BODY[]"]).hexdigest() for d in client.fetch(uids, ["BODY[]"]).values()) if uids else Counter()


def _append(inst, email: str, subject: str) -> str:  # type: ignore[no-untyped-def]
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "someone@elsewhere.test", email, subject
    msg["Message-ID"] = f"<{subject.replace(' ', '-')}@elsewhere.test>"
    msg.set_content(subject)
    raw = msg.as_bytes().replace(b"\n", b"\r\n")
    with IMAPClient("127.0.0.1", inst.imap_port, ssl=False, timeout=10) as client:
        client.login(email, inst.users[email])
        client.append("INBOX", raw, (), now())
    return sha256(raw).hexdigest()


@pytest.fixture
def eve_project(good_zone: MailLab, tmp_path: Path) -> Path:
    if EVE not in good_zone.old.users:
        good_zone.old.add_user(EVE, EVE_OLD)
        good_zone.new.add_user(EVE, EVE_NEW)
        fill_mailbox("127.0.0.1", good_zone.old.imap_port, EVE, EVE_OLD, bulk_corpus(15, seed=42))
    project = matrix_project(good_zone)
    project.users = [User(EVE, role="pilot")]
    project.plan.dates["mx_cutover"] = now() - timedelta(minutes=10)
    path = tmp_path / "corp.test.mailmig.toml"
    ProjectStore.create(path, project).close()
    credentials(tmp_path).set_many("corp.test", [("old", EVE, EVE_OLD), ("new", EVE, EVE_NEW)])
    return path


def test_final_delta_then_rollback(eve_project: Path, good_zone: MailLab) -> None:
    creds = credentials(eve_project.parent)
    project = load_project(eve_project)
    prestage = CopyEngine(project, creds, CopyOptions(phase="prestage", project_path=eve_project)).run()
    assert prestage.users_failed == 0
    with pytest.raises(NotDrained):
        final_delta(project, eve_project, creds)  # the gate has not seen the old MX drain

    late = _append(good_zone.old, EVE, "straggler after the cutover")
    store = ProjectStore.open(eve_project)
    store.update(lambda p: p.sections.setdefault("golive", {}).update(observed={"drained_at": now() - timedelta(seconds=1)}))
    result = final_delta(store.project, eve_project, creds)
    store.update(lambda p: record_final_delta(p, result))
    store.close()
    assert result.summary.users_failed == 0 and result.summary.messages >= 1
    assert _inbox(good_zone.new, EVE)[late] == 1
    project = load_project(eve_project)
    assert project.sections["golive"]["final_delta"]["messages"] == result.summary.messages
    conditions = {c.key: c for c in straggler_conditions(project, creds, project.sections["golive"]["observed"], now())}
    assert conditions["final-delta"].status == "ok" and conditions["stragglers"].status == "ok", conditions

    old_before = _inbox(good_zone.old, EVE)
    fresh = _append(good_zone.new, EVE, "arrived at the new provider after go-live")
    plan = rollback_plan(project, eve_project, DnsConfig())
    assert any("mx1.oldmail.test" in line for _t, line in plan.records)
    back = reverse_copy(project, eve_project, creds)
    assert back.summary.users_failed == 0
    old_after = _inbox(good_zone.old, EVE)
    # Exactly the new message went back; nothing the forward copy had put on the new side.
    assert old_after - old_before == Counter({fresh: 1})
    again = reverse_copy(project, eve_project, creds)
    assert again.summary.messages == 0 and _inbox(good_zone.old, EVE) == old_after


def test_cli_rollback_plan_and_final_delta_refused_before_the_drain(eve_project: Path) -> None:
    code, events, out = run_cli(eve_project.parent, "golive", "rollback", str(eve_project), "--plan", "--json")
    assert code == 0, out
    records = [e["line"] for e in events if e["event"] == "golive.rollback.record"]
    assert any("MX" in r and "mx1.oldmail.test." in r for r in records)
    assert next(e for e in events if e["event"] == "golive.rollback.copy")["users"] == [EVE]
    code, _events, out = run_cli(eve_project.parent, "golive", "final-delta", str(eve_project))
    assert code == 1 and "has not seen every authoritative server" in out and "Traceback" not in out
