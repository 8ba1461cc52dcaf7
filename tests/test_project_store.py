"""The project file: round trips, malformed files, the lock, atomic saves, no secrets."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailmig_tui.core import checklist
from mailmig_tui.core.errors import ProjectChangedOnDiskError, ProjectFileError, ProjectLockedError
from mailmig_tui.core.model import ChecklistItem, Project, User
from mailmig_tui.core.phases import Phase, PhaseStatus
from mailmig_tui.core.project_factory import new_project
from mailmig_tui.core.store import ProjectStore, dump_project, format_key_path, load_project, parse_project_text

text_st = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=40)
aware_dt = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                        timezones=st.sampled_from([UTC, timezone(timedelta(hours=8))])).map(
    lambda d: d.replace(microsecond=0))


@st.composite
def projects(draw: st.DrawFn) -> Project:
    project = new_project("corp.example", draw(st.sampled_from(["tencent-exmail", "generic-imap"])),
                          draw(st.sampled_from(["aliyun-mail", "microsoft-365"])))
    emails = draw(st.lists(st.from_regex(r"[a-z]{1,8}\.[a-z]{1,8}", fullmatch=True), unique=True, max_size=6))
    project.users = [User(f"{e}@corp.example", draw(text_st), draw(text_st), role=draw(st.sampled_from(["user", "pilot"])))
                     for e in emails]
    for i in range(draw(st.integers(0, 4))):
        project.checklist.append(ChecklistItem(
            f"extra-{i}", draw(st.sampled_from(list(Phase))), draw(text_st.filter(str.strip)),
            done=draw(st.booleans()), owner=draw(text_st), note=draw(text_st),
            due=draw(st.none() | st.dates(date(2020, 1, 1), date(2030, 1, 1))),
            done_at=draw(st.none() | aware_dt)))
    project.plan.dates["mx_cutover"] = draw(st.none() | aware_dt)
    project.phases[Phase.DNS] = draw(st.sampled_from(list(PhaseStatus)))
    project.notices = draw(st.dictionaries(st.sampled_from(["announcement", "go_live"]), text_st, max_size=2))
    project.sections = draw(st.dictionaries(st.sampled_from(["future_feature", "backup"]),
                                            st.dictionaries(st.sampled_from(["a", "b"]), st.integers() | text_st),
                                            max_size=2))
    return project


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(projects())
def test_save_load_round_trip(project: Project) -> None:
    text = dump_project(project)
    again = parse_project_text(text, "x.toml")
    assert again.to_dict() == project.to_dict()
    assert dump_project(again) == text


def _inject_unknown_keys(node: Any, path: tuple[str | int, ...], into: list[tuple[str | int, ...]]) -> None:
    """Put a key this version does not know into every table and every list item under `node`."""
    if isinstance(node, dict):
        if path == ("notices",):
            node["x_future_notice"] = "a template from a newer version"  # notices hold strings only
        elif path != ("phases",):  # an unknown phase is refused with line and key, by design
            node["x_future"] = {"at": format_key_path(path) or "top", "numbers": [1, 2]}
        into.append(path)
        for key, value in list(node.items()):
            if not key.startswith("x_future"):
                _inject_unknown_keys(value, (*path, key), into)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _inject_unknown_keys(value, (*path, i), into)


def _at(data: Any, path: tuple[str | int, ...]) -> Any:
    for part in path:
        data = data[part]
    return data


def test_unknown_keys_in_every_table_and_list_item_are_kept(demo_path: Path) -> None:
    data = tomllib.loads(demo_path.read_text())
    data["old_provider"].setdefault("auth", {})  # every table the model has, even optional ones
    data.setdefault("notices", {})
    data["new_provider"]["mx"][0]["x_note"] = "an MX entry key from a newer version"
    tables: list[tuple[str | int, ...]] = []
    _inject_unknown_keys(data, (), tables)
    data["x_future_section"] = {"answer": 42, "nested": {"deep": True}}
    demo_path.write_text(tomli_w.dumps(data))
    # one of each table and list-item type of the model
    for must in [(), ("old_provider",), ("old_provider", "imap"), ("old_provider", "smtp"), ("old_provider", "limits"),
                 ("old_provider", "auth"), ("old_provider", "mx", 0), ("new_provider", "mx", 2), ("plan",),
                 ("notices",), ("users", 0), ("users", 9), ("checklist", 0), ("events", 0)]:
        assert must in tables, must
    with ProjectStore.open(demo_path) as store:
        store.update(lambda p: checklist.toggle(p, "prep-announce"), log="a change, so the file is rewritten")
    saved = tomllib.loads(demo_path.read_text())
    assert saved != data  # it was rewritten
    for path in tables:
        if path == ("notices",):
            assert saved["notices"]["x_future_notice"] == "a template from a newer version"
        elif path != ("phases",):
            assert _at(saved, path).get("x_future") == _at(data, path)["x_future"], f"lost at {format_key_path(path)}"
    assert saved["new_provider"]["mx"][0]["x_note"] == "an MX entry key from a newer version"
    assert saved["x_future_section"] == {"answer": 42, "nested": {"deep": True}}


@pytest.mark.parametrize(("mutation", "expected"), [
    (lambda t: t.replace("schema_version = 1", "schema_version = 99"), "key schema_version: this file is schema 99"),
    (lambda t: t.replace("port = 993", 'port = "993"', 1), "key old_provider.imap.port: expected an integer"),
    (lambda t: t.replace('tls = "ssl"', 'tls = "tls1.3"', 1), "key old_provider.imap.tls: must be one of"),
    (lambda t: t.replace('phase = "dns"', 'phase = "dsn"', 1), "phase: must be one of"),
    (lambda t: t.replace('email = "li.na@corp.example"', 'email = "li.na"'), "key users[1].email: expected an email"),
    (lambda t: t.replace('email = "li.na@corp.example"', 'email = "zhang.wei@corp.example"'), "is listed twice"),
    (lambda t: t.replace("[plan]", "[plan\n"), "not valid TOML"),
])
def test_malformed_file_names_line_and_key_and_is_left_untouched(demo_path: Path, mutation, expected: str) -> None:  # type: ignore[no-untyped-def]
    broken = mutation(demo_path.read_text())
    demo_path.write_text(broken)
    with pytest.raises(ProjectFileError) as info:
        ProjectStore.open(demo_path)
    message = str(info.value)
    assert expected in message
    assert str(demo_path) in message
    assert "line " in message
    assert demo_path.read_text() == broken
    assert not demo_path.with_name(demo_path.name + ".bak").exists()


def test_error_names_the_right_line(demo_path: Path) -> None:
    lines = demo_path.read_text().splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith('email = "li.na@corp.example"'))
    lines[index] = 'email = 42'
    demo_path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ProjectFileError, match=rf"line {index + 1}, key users\[1\]\.email"):
        load_project(demo_path)


def test_second_instance_gets_read_only_view_and_cannot_save(demo_path: Path) -> None:
    first = ProjectStore.open(demo_path)
    try:
        second = ProjectStore.open(demo_path)
        assert second.readonly
        assert "another mailmig" in second.lock_message and str(os.getpid()) in second.lock_message
        with pytest.raises(ProjectLockedError):
            second.update(lambda p: checklist.toggle(p, "prep-ttl"))
        with pytest.raises(ProjectLockedError):
            ProjectStore.open(demo_path, allow_readonly_fallback=False)
    finally:
        first.close()
    third = ProjectStore.open(demo_path)
    assert not third.readonly
    third.close()


def test_lock_is_held_across_processes(demo_path: Path) -> None:
    code = (
        "import sys; from pathlib import Path\n"
        "from mailmig_tui.core.store import ProjectStore\n"
        "s = ProjectStore.open(Path(sys.argv[1]))\n"
        "print('readonly' if s.readonly else 'writable')\n"
    )
    with ProjectStore.open(demo_path):
        out = subprocess.run([sys.executable, "-c", code, str(demo_path)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "readonly"


def test_save_is_atomic_keeps_backup_and_refuses_outside_changes(demo_path: Path) -> None:
    before = demo_path.read_text()
    with ProjectStore.open(demo_path) as store:
        store.update(lambda p: checklist.toggle(p, "backup-run"))
        assert demo_path.with_name(demo_path.name + ".bak").read_text() == before
        assert not [p for p in demo_path.parent.iterdir() if p.name.endswith(".tmp")]
        # someone edits the file by hand while the app has it open
        edited = demo_path.read_text().replace("corp.example migration", "x") + "\n# hand edit\n"
        demo_path.write_text(edited)
        with pytest.raises(ProjectChangedOnDiskError):
            store.update(lambda p: checklist.toggle(p, "backup-disk"))
        assert demo_path.read_text() == edited
        # the failed change is rolled back in memory too
        assert not store.project.item("backup-disk").done


def test_a_failed_write_leaves_the_old_file(demo_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = demo_path.read_text()

    def boom(*args: object) -> None:
        raise OSError(28, "No space left on device")

    with ProjectStore.open(demo_path) as store:
        monkeypatch.setattr(os, "replace", boom)
        with pytest.raises(OSError):
            store.update(lambda p: checklist.toggle(p, "backup-run"))
    assert demo_path.read_text() == before
    assert not [p for p in demo_path.parent.iterdir() if p.name.endswith(".tmp")]


def test_never_writes_a_secret(tmp_path: Path) -> None:
    project = new_project("corp.example", "tencent-exmail", "aliyun-mail")
    project.sections["backup"] = {"old_password": "hunter2"}
    with pytest.raises(ProjectFileError, match=r"secret-looking keys: backup\.old_password"):
        dump_project(project)
    project.sections["backup"] = {"password_hint": ""}
    dump_project(project)  # an empty value is no secret


def test_creating_does_not_overwrite(demo_path: Path) -> None:
    with pytest.raises(ProjectFileError, match="already exists"):
        ProjectStore.create(demo_path, new_project("corp.example", "generic-imap", "generic-imap"))


def test_checklist_edits_record_who_and_when(demo_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILMIG_OPERATOR", "li.na")
    with ProjectStore.open(demo_path) as store:
        store.update(lambda p: checklist.toggle(p, "backup-run"))
    item = load_project(demo_path).item("backup-run")
    assert item.done and item.done_by == "li.na" and item.done_at is not None
    project = load_project(demo_path)
    assert project.events[-1].who == "li.na" and "back up every mailbox" in project.events[-1].what.lower()


def test_checklist_operations_and_phase_status() -> None:
    project = new_project("corp.example", "generic-imap", "generic-imap")
    added = checklist.add_item(project, Phase.TESTING, "Test the CEO's phone", owner="bob", due=date(2026, 12, 1))
    ids = [c.id for c in project.items_for(Phase.TESTING)]
    assert ids[-1] == added.id
    assert checklist.move_item(project, added.id, -1)
    assert [c.id for c in project.items_for(Phase.TESTING)][-2] == added.id
    assert not checklist.move_item(project, project.items_for(Phase.TESTING)[0].id, -1)
    for item in project.items_for(Phase.TESTING):
        checklist.set_done(project, item.id, True)
    # every box ticked, but no test matrix has run: the facts do not say done, so neither does the phase
    assert project.phases[Phase.TESTING] == PhaseStatus.IN_PROGRESS
    users = len(project.users)
    project.sections["matrix"] = {"last_run": {"at": datetime(2026, 12, 1, 10, 0, tzinfo=UTC), "users": users,
                                               "cells": 8 * users, "passed": 8 * users, "failed": 0, "warnings": 0,
                                               "not_run": 0, "cancelled": False, "users_passed": users}}
    checklist.toggle(project, added.id)
    checklist.toggle(project, added.id)
    assert project.phases[Phase.TESTING] == PhaseStatus.DONE
    checklist.toggle(project, added.id)
    assert project.phases[Phase.TESTING] == PhaseStatus.IN_PROGRESS
    checklist.delete_item(project, added.id)
    with pytest.raises(KeyError):
        project.item(added.id)
    today = date(2026, 12, 2)
    checklist.edit_item(project, "test-pilots", title="Pick pilots", owner="", due=date(2026, 12, 1), note="")
    checklist.set_done(project, "test-pilots", False)
    overdue = checklist.filtered(project.items_for(Phase.TESTING), "overdue", today)
    assert [c.id for c in overdue] == ["test-pilots"]
    assert all(not c.done for c in checklist.filtered(project.checklist, "undone", today))
    with pytest.raises(ValueError):
        checklist.add_item(project, Phase.DNS, "   ")


def test_default_checklist_covers_every_phase() -> None:
    project = new_project("corp.example", "generic-imap", "generic-imap")
    for phase in Phase:
        assert len(project.items_for(phase)) >= 4, phase
    titles = " ".join(c.title for c in project.checklist).lower()
    for must in ("ttl", "sla", "admin access", "freeze", "announce", "old mx"):
        assert must in titles


# --- style-preserving saves: hand-written comments and layout survive ------------------------------

def _comment_lines(text: str, draw: st.DrawFn) -> tuple[str, list[str]]:
    """`text` with comment lines put above random headers and keys, and after random key lines."""
    out: list[str] = []
    comments: list[str] = []
    for n, line in enumerate(text.splitlines(keepends=True)):
        is_key = bool(line.strip()) and not line.startswith("#") and "=" in line and not line.startswith(" ")
        is_header = line.startswith("[")
        if (is_key or is_header) and draw(st.integers(0, 6)) == 0:
            comments.append(f"# note {n} above")
            out.append(comments[-1] + "\n")
        if is_key and line.rstrip().endswith(('"', "0", "1", "e")) and '"""' not in line and draw(st.integers(0, 8)) == 0:
            comments.append(f"# note {n} after")
            line = line.rstrip("\n") + "  " + comments[-1] + "\n"
        out.append(line)
    return "".join(out), comments


@st.composite
def commented_projects(draw: st.DrawFn) -> tuple[Project, str, list[str]]:
    project = draw(projects())
    text, comments = _comment_lines(dump_project(project), draw)
    return project, text, comments


@st.composite
def changes(draw: st.DrawFn) -> list[tuple[str, object]]:
    return draw(st.lists(st.tuples(st.sampled_from(["tick", "add-user", "rename-user", "section", "host", "plan",
                                                     "add-item", "language"]),
                                   text_st | st.integers(0, 50)), max_size=5))


def _apply_change(project: Project, change: tuple[str, object], n: int) -> None:
    kind, value = change
    if kind == "tick" and project.checklist:
        checklist.toggle(project, project.checklist[n % len(project.checklist)].id)
    elif kind == "add-user":
        project.users.append(User(f"added{n}@corp.example", str(value)))
    elif kind == "rename-user" and project.users:
        project.users[n % len(project.users)].display_name = str(value)
    elif kind == "section":
        project.sections.setdefault("future_feature", {})["b"] = value
    elif kind == "host":
        project.old.imap.host = f"imap{n}.example"
    elif kind == "plan":
        project.plan.dates["go_live"] = datetime(2026, 12, 5, 22, 0, tzinfo=timezone(timedelta(hours=8)))
    elif kind == "add-item":
        checklist.add_item(project, Phase.TESTING, f"Added {value} {n}")
    elif kind == "language":
        project.language = "zh_CN" if project.language != "zh_CN" else ""


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
          deadline=None)
@given(commented_projects(), changes())
def test_saves_keep_hand_written_comments(tmp_path: Path, case: tuple[Project, str, list[str]],
                                          edits: list[tuple[str, object]]) -> None:
    _, text, comments = case
    path = tmp_path / "hand.mailmig.toml"
    for leftover in tmp_path.iterdir():
        leftover.unlink()
    path.write_text(text)
    with ProjectStore.open(path) as store:
        for n, change in enumerate(edits or [("tick", 0)]):
            before = path.read_text()
            store.update(lambda p, c=change, i=n: _apply_change(p, c, i))  # type: ignore[misc]
            saved = path.read_text()
            # exactly the model's data, and every comment still there, in the file and in the .bak
            assert tomllib.loads(saved) == store.project.to_dict()
            for comment in comments:
                assert comment in saved
            assert path.with_name(path.name + ".bak").read_text() == before
        assert load_project(path).to_dict() == store.project.to_dict()


def test_comments_and_layout_survive_a_tick(demo_path: Path) -> None:
    text = demo_path.read_text()
    text = text.replace("domain = ", "# Our domain: do not change\ndomain = ", 1)
    text = text.replace("[old_provider]\n", "# The old side. Ask Wang before editing.\n[old_provider]  # header note\n"
                        "ticket = \"OPS-42\"  # an unknown key\n", 1)
    text = text.replace("[[users]]\n", "\n# The CEO: back up first\n[[users]]\n", 1)
    text += "\n# end of file\n"
    demo_path.write_text(text)
    with ProjectStore.open(demo_path) as store:
        store.update(lambda p: checklist.toggle(p, "prep-announce"))
        store.update(lambda p: checklist.toggle(p, "prep-ttl"))
    saved = demo_path.read_text()
    backup = demo_path.with_name(demo_path.name + ".bak").read_text()
    for kept in ("# Our domain: do not change\ndomain = ", "# The old side. Ask Wang before editing.\n[old_provider]  # header note\n"
                 'ticket = "OPS-42"  # an unknown key\n', "\n# The CEO: back up first\n[[users]]\n", "# end of file\n"):
        assert kept in saved
        assert kept in backup
    # only the ticked items and the event log changed: every other line is as it was, in its order
    changed = [line for line in saved.splitlines() if line not in text.splitlines()]
    assert all(line.startswith(("done", "at =", "who =", "what =", "[[events]]", "[phases]", "preparation =")) or not line
               for line in changed), changed


def test_removing_a_user_removes_its_comment_only(demo_path: Path) -> None:
    text = demo_path.read_text().replace('[[users]]\nemail = "li.na@corp.example"',
                                         '# Li Na leaves in December\n[[users]]\nemail = "li.na@corp.example"', 1)
    text = text.replace("[plan]", "# the dates\n[plan]", 1)
    demo_path.write_text(text)
    with ProjectStore.open(demo_path) as store:
        store.update(lambda p: p.users.remove(p.user("li.na@corp.example")))
    saved = demo_path.read_text()
    assert "Li Na leaves" not in saved and "li.na@corp.example" not in saved.split("[[checklist]]")[0]
    assert "# the dates\n[plan]" in saved


def test_a_secret_added_after_the_first_save_is_still_refused(demo_path: Path) -> None:
    with ProjectStore.open(demo_path) as store:
        store.update(lambda p: checklist.toggle(p, "prep-ttl"))  # the first save checks everything
        saved = demo_path.read_text()
        with pytest.raises(ProjectFileError, match=r"secret-looking keys: users\[0\]\.old_password"):
            store.update(lambda p: p.users[0].extra.__setitem__("old_password", "hunter2"))
        assert demo_path.read_text() == saved
        assert "old_password" not in store.project.users[0].extra  # rolled back
        store.update(lambda p: checklist.toggle(p, "prep-ttl"))
    assert "hunter2" not in demo_path.read_text()


def test_the_readme_example_keeps_every_comment_and_inline_table_when_edited(tmp_path: Path) -> None:
    import re

    from mailmig_tui.core.model import MxHost

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    # The project-file section's example: the toml block that is a whole project file.
    block = re.search(r"```toml\n(schema_version.*?)```", readme, re.S).group(1)  # type: ignore[union-attr]
    block = block.replace('announcement = """Subject: …"""', 'announcement = """Subject: hi\n\nbody $domain"""')
    path = tmp_path / "corp.example.mailmig.toml"
    path.write_text(block)
    with ProjectStore.open(path) as store:
        store.update(lambda p: checklist.toggle(p, "prep-ttl"))
        store.update(lambda p: setattr(p.old.imap, "host", "imap2.exmail.qq.com"))
        store.update(lambda p: p.old.mx.append(MxHost("mxbiz3.qq.com", 20)))
        store.update(lambda p: p.users.append(User("x@corp.example")))
        store.update(lambda p: p.sections["dns"]["resolvers"].append({"name": "X", "address": "192.0.2.1"}))
        saved = path.read_text()
        assert tomllib.loads(saved) == store.project.to_dict()
    for line in block.splitlines():
        if "#" in line and not line.lstrip().startswith(('"', "what")):
            assert line[line.index("#"):] in saved, line
    assert 'mx = [{host = "mxbiz1.qq.com", preference = 5}' in saved  # still one inline line


def test_the_whole_document_path_also_keeps_comments(demo_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """When the segment splitter declines a layout, the whole document is edited with tomlkit instead."""
    from mailmig_tui.core import toml_style

    monkeypatch.setattr(toml_style, "split", lambda text, data: None)
    text = demo_path.read_text().replace("[old_provider]\n", "# old side\n[old_provider]  # hdr\n", 1)
    demo_path.write_text(text)
    with ProjectStore.open(demo_path) as store:
        store.update(lambda p: checklist.toggle(p, "prep-ttl"))
        store.update(lambda p: setattr(p.old.imap, "host", "imap.changed.example"))
        saved = demo_path.read_text()
        assert tomllib.loads(saved) == store.project.to_dict()
    assert "# old side\n[old_provider]  # hdr\n" in saved and "imap.changed.example" in saved
