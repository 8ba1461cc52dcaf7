"""The folder plan and the [copy] section, as pure functions (the lab tests run them on real servers)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mailmig_tui.core.copy.config import CopyConfig, default_copy_dir, parse_copy_section
from mailmig_tui.core.copy.folders import (
    FolderMapping,
    SourceFolder,
    TargetFolder,
    TargetInfo,
    encode_name,
    plan_folders,
    unfix_part,
)
from mailmig_tui.core.copy.summary import last_copy_line, record_copy_run, record_copy_verify
from mailmig_tui.core.copy.verify import CopyCheck
from mailmig_tui.core.model import Project, SchemaError
from mailmig_tui.core.runs import RunSummary, UserDone


def src(name: str, sep: str = "/", flags: tuple[str, ...] = (), prefix: str = "") -> SourceFolder:
    return SourceFolder(encode_name(name), name, sep, frozenset(f.lower() for f in flags), prefix)


def plan(names: list[SourceFolder], target: TargetInfo, config: CopyConfig | None = None) -> dict[str, FolderMapping]:
    return {m.source_name: m for m in plan_folders(names, target, config)}


COURIER = TargetInfo(".", "INBOX.", (TargetFolder(b"INBOX", "INBOX"),
                                     TargetFolder(b"INBOX.Sent Messages", "INBOX.Sent Messages", frozenset({"\\sent"})),
                                     TargetFolder(b"INBOX.Deleted Messages", "INBOX.Deleted Messages", frozenset({"\\trash"}))))
PLAIN = TargetInfo("/", "", (TargetFolder(b"INBOX", "INBOX"), TargetFolder(b"Sent Items", "Sent Items")))


def test_chinese_and_english_special_folders_go_to_the_targets_own() -> None:
    p = plan([src("INBOX"), src("已发送"), src("草稿箱"), src("已删除"), src("垃圾邮件"), src("Deleted Items"),
              src("Junk E-mail")], COURIER)
    assert p["已发送"].target_name == "INBOX.Sent Messages" and p["已发送"].role == "\\Sent"
    assert p["草稿箱"].target_name == "INBOX.Drafts"  # no \Drafts on the target: the default name
    # two candidates for \Trash (and \Junk): the more usual name wins, the other keeps its name and says why
    assert p["Deleted Items"].target_name == "INBOX.Deleted Messages"
    assert p["已删除"].target_name == "INBOX.已删除" and "already comes from Deleted Items" in p["已删除"].describe()
    assert p["Junk E-mail"].target_name == "INBOX.Junk" and p["垃圾邮件"].target_name == "INBOX.垃圾邮件"
    q = plan([src("INBOX"), src("已删除"), src("垃圾邮件")], COURIER)
    assert q["已删除"].target_name == "INBOX.Deleted Messages" and q["垃圾邮件"].target_name == "INBOX.Junk"


def test_special_use_flag_beats_a_name_and_subfolders_follow() -> None:
    p = plan([src("Sent"), src("Gesendete Objekte", flags=("\\Sent",)), src("Gesendete Objekte/2023")], PLAIN)
    assert p["Gesendete Objekte"].target_name == "Sent Items" and "flag" in p["Gesendete Objekte"].describe()
    assert p["Gesendete Objekte/2023"].target_name == "Sent Items/2023"
    assert p["Sent"].target_name == "Sent"


def test_separator_prefix_and_reversible_renames() -> None:
    p = plan([src("INBOX"), src("a.b"), src(".."), src("INBOX/sub"), src("客户/华东"), src("x", sep="/")], COURIER)
    assert p["INBOX/sub"].target_name == "INBOX.sub"
    assert p["客户/华东"].target_name == "INBOX.客户.华东"
    assert p["a.b"].renamed and p["a.b"].target_name == "INBOX.a．b" and unfix_part("a．b") == "a.b"
    assert p[".."].target_name == "INBOX.．．"
    # a dot-separated source to a slash-separated target: `/` inside a level is renamed
    q = plan([src("a/b", sep="."), src("Projects.2024", sep=".")], PLAIN)
    assert q["a/b"].target_name == "a／b" and q["Projects.2024"].target_name == "Projects/2024"


def test_source_namespace_prefix_is_taken_off() -> None:
    p = plan([src("INBOX", ".", prefix="INBOX."), src("INBOX.Sent", ".", prefix="INBOX."),
              src("INBOX.Work.2024", ".", prefix="INBOX.")], PLAIN)
    assert p["INBOX.Sent"].target_name == "Sent Items"
    assert p["INBOX.Work.2024"].target_name == "Work/2024"


def test_collisions_get_a_number() -> None:
    p = plan([src("a.b"), src("a．b")], COURIER)
    names = {m.target_name for m in p.values()}
    assert names == {"INBOX.a．b", "INBOX.a．b (2)"}
    assert p["a．b"].renamed and "another folder" in p["a．b"].describe()


def test_overrides_excludes_and_placeholders() -> None:
    config = parse_copy_section({"exclude": ["Junk", "Archive/20*"], "folders": {"Old Stuff": "Archive/Old"}})
    p = plan([src("INBOX"), src("Junk"), src("Archive/2019"), src("Archive/x"), src("Old Stuff"),
              src("Parent", flags=("\\Noselect",))], PLAIN, config)
    assert p["Junk"].action == "exclude" and p["Archive/2019"].action == "exclude"
    assert p["Archive/x"].action == "copy"
    assert p["Old Stuff"].target_name == "Archive/Old" and "override" in p["Old Stuff"].describe()
    assert p["Parent"].action == "skip"


@pytest.mark.parametrize(("section", "key"), [
    ({"exclude": "Junk"}, ("copy", "exclude")),
    ({"exclude": [3]}, ("copy", "exclude", 0)),
    ({"folders": {"a": 1}}, ("copy", "folders", "a")),
    ({"folders": {"a": "X", "b": "x"}}, ("copy", "folders", "b")),
    ({"dir": 5}, ("copy", "dir")),
    ({"workers": 5}, ("copy", "workers")),
])
def test_bad_copy_section_names_the_key(section: dict[str, object], key: tuple[object, ...]) -> None:
    with pytest.raises(SchemaError) as info:
        parse_copy_section(section)
    assert info.value.path == key


def test_default_copy_dir(tmp_path: object) -> None:
    from pathlib import Path

    base = Path(str(tmp_path))
    assert default_copy_dir(base / "corp.example.mailmig.toml", CopyConfig()) == base / "corp.example.copy"
    assert default_copy_dir(base / "p.toml", CopyConfig(dir="maps")) == base / "maps"


def test_summary_line_and_records() -> None:
    project = Project("corp.example")
    assert last_copy_line(project) is None
    t0 = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
    t1 = datetime(2026, 11, 28, 10, 42, tzinfo=UTC)
    summary = RunSummary(2, 0, 0, 1234, 5_000_000, 12.0, (), "x")
    record_copy_run(project, summary, [UserDone("a@x", "done", 1000, 1, 1.0), UserDone("b@x", "done", 234, 1, 1.0)],
                    t0, t1, "prestage", "old")
    line = last_copy_line(project)
    assert line is not None and "pre-stage" in line and "1,234 msgs" in line and "not verified" in line
    record_copy_verify(project, [CopyCheck("a@x"), CopyCheck("b@x", missing=2)], datetime(2026, 11, 28, 11, 0, tzinfo=UTC))
    line = last_copy_line(project)
    assert line is not None and "1 users differ" in line
    assert project.sections["copy"]["users"]["b@x"]["verify"] == "different"
    parse_copy_section(project.sections["copy"])  # mailmig's own records are not settings errors
