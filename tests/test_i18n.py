"""The translation layer, the message extractor and the Simplified Chinese catalogue."""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from rich.cells import cell_len

from mailmig_tui.core import i18n, notices
from mailmig_tui.core.i18n import _, normalize_language, parse_po, set_language
from mailmig_tui.core.phases import PHASE_INFO, Phase, PhaseStatus

ROOT = Path(__file__).resolve().parent.parent
BRACE = re.compile(r"\{[^{}]*\}")
DOLLAR = re.compile(r"\$(?:\{)?([_a-zA-Z][_a-zA-Z0-9]*)")


def _load_extractor() -> ModuleType:
    spec = importlib.util.spec_from_file_location("extract_messages", ROOT / "scripts" / "extract_messages.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


extractor = _load_extractor()


@pytest.fixture
def language() -> Iterator[None]:
    """Tests that switch the language always leave English behind them."""
    try:
        yield
    finally:
        set_language("en")


@pytest.fixture(scope="module")
def messages() -> dict:
    return extractor.extract()


@pytest.fixture(scope="module")
def zh_catalog() -> dict[str, str]:
    return i18n.load_catalog("zh_CN")


# --- the extractor ------------------------------------------------------------------------------


def test_extractor_finds_a_healthy_number_of_msgids(messages: dict) -> None:
    assert len(messages) >= 200
    for expected in ("Overview", "Checklist", "Preparation", "a checklist item needs a title"):
        assert expected in messages
    # implicit concatenation is one msgid, referenced where the call starts
    joined = [m for m in messages if m.startswith("{file} was changed outside mailmig")]
    assert joined == ["{file} was changed outside mailmig since it was opened; not overwriting it "
                      "(reopen it to see the changes)"]
    assert messages[joined[0]].references == [("mailmig_tui/core/store.py", messages[joined[0]].references[0][1])]


def test_extractor_handles_both_keywords_and_ignores_the_rest(tmp_path: Path) -> None:
    source = tmp_path / "pkg" / "mod.py"
    source.parent.mkdir()
    source.write_text(
        'from x import _, N_\n'
        'A = N_("marked")\n'
        'B = _("first " "second")\n'
        'C = _(f"not {A}")\n'          # not a literal: skipped
        'D = _(A)\n'                    # a variable: skipped
        'E = gettext("other")\n'        # another function: skipped
        'F = obj._("method")\n'         # an attribute call: skipped
        'G = _("")\n'                   # the empty msgid is the header: skipped
        'H = f"{_(\'in f-string\')}"\n',
        encoding="utf-8",
    )
    found = extractor.extract(tmp_path / "pkg", tmp_path)
    assert list(found) == ["first second", "in f-string", "marked"]
    assert found["marked"].references == [("pkg/mod.py", 2)]


def test_check_passes_every_msgid_has_a_zh_cn_translation(messages: dict) -> None:
    missing = extractor.missing_translations(messages)
    assert not missing, "untranslated: " + ", ".join(repr(m.msgid) for m in missing)
    assert extractor.main(["--check"]) == 0


def test_check_fails_on_a_missing_translation(tmp_path: Path) -> None:
    (tmp_path / "mailmig.po").write_text('msgid "Overview"\nmsgstr "概览"\n\nmsgid "New"\nmsgstr ""\n', encoding="utf-8")
    messages = {k: extractor.Message(k) for k in ("Overview", "New", "Elsewhere")}
    assert [m.msgid for m in extractor.missing_translations(messages, tmp_path)] == ["New", "Elsewhere"]


def test_update_keeps_translations_adds_new_and_leaves_other_areas_alone(tmp_path: Path) -> None:
    po = tmp_path / "mailmig.po"
    po.write_text('msgid "Kept"\nmsgstr "保留"\n\nmsgid "Gone"\nmsgstr "已删"\n', encoding="utf-8")
    (tmp_path / "backup.po").write_text('msgid "Owned by backup"\nmsgstr "备份的"\n', encoding="utf-8")
    messages = {k: extractor.Message(k, [("m.py", 1)]) for k in ("Kept", "New", "Owned by backup")}
    written, new = extractor.update_po(messages, po)
    assert (written, new) == (2, 1)
    text = po.read_text(encoding="utf-8")
    assert parse_po(text) == {"Kept": "保留"}
    assert 'msgid "New"\nmsgstr ""' in text
    assert "Owned by backup" not in text
    assert '#~ msgid "Gone"' in text  # no longer in the code: kept as obsolete, which the app ignores
    assert "fuzzy" not in text


def test_the_shipped_catalogue_is_up_to_date(messages: dict) -> None:
    """mailmig.po lists exactly the msgids no other zh_CN/*.po translates (run --update if this fails)."""
    folder = ROOT / "mailmig_tui" / "locale" / "zh_CN"
    entries = extractor.read_entries((folder / "mailmig.po").read_text(encoding="utf-8"))
    own = {e.msgid for e in entries}
    elsewhere = extractor.other_catalogs(folder)
    assert {k for k in messages if k not in elsewhere} <= own


# --- .po parsing ------------------------------------------------------------------------------


TRICKY = [
    "plain",
    'with "double quotes" and \'single\'',
    "back\\slash \\n not a newline, C:\\path\\",
    "two\nlines\n",
    "\n\nleading newlines and a trailing one\n",
    "tab\there, carriage\rreturn, bell\a, nul-ish \x01",
    "中文“引号”和\\反斜杠\n第二行 {placeholder} $name",
    "a very long line " * 12,
    "中文长行" * 40,
]


def test_parse_po_round_trips_tricky_strings(tmp_path: Path) -> None:
    messages = {text: extractor.Message(text, [("x.py", 1)]) for text in TRICKY}
    entries = {text: extractor.Entry(text, msgstr="«" + text + "»") for text in TRICKY}
    po = tmp_path / "tricky.po"
    po.write_text(extractor.render_po(messages, entries, []), encoding="utf-8")
    parsed = parse_po(po.read_text(encoding="utf-8"))
    assert parsed == {text: "«" + text + "»" for text in TRICKY}
    # and the extractor's own reader agrees
    assert {e.msgid: e.msgstr for e in extractor.read_entries(po.read_text(encoding="utf-8"))} == parsed


def test_parse_po_skips_fuzzy_untranslated_and_header() -> None:
    text = (
        'msgid ""\nmsgstr "Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        'msgid "a"\nmsgstr "A"\n\n'
        '#, fuzzy\nmsgid "b"\nmsgstr "B"\n\n'
        'msgid "c"\nmsgstr ""\n\n'
        '#~ msgid "d"\n#~ msgstr "D"\n\n'
        'msgid ""\n"multi "\n"line"\nmsgstr ""\n"多"\n"行"\n'
    )
    assert parse_po(text) == {"a": "A", "multi line": "多行"}


# --- the Chinese catalogue ---------------------------------------------------------------------


def test_placeholders_are_kept_in_every_translation(zh_catalog: dict[str, str], messages: dict) -> None:
    bad = []
    for msgid in messages:
        msgstr = zh_catalog.get(msgid, "")
        if sorted(BRACE.findall(msgid)) != sorted(BRACE.findall(msgstr)):
            bad.append(("{}", msgid, msgstr))
        if sorted(DOLLAR.findall(msgid)) != sorted(DOLLAR.findall(msgstr)):
            bad.append(("$", msgid, msgstr))
    assert not bad


TAB_NAMES = {"Checklist", "Plan", "Notices", "Providers", "Users", "Pilots", "Activity", "Audit", "Propagation"}


def test_markdown_help_keeps_its_structure_and_key_names(zh_catalog: dict[str, str], messages: dict) -> None:
    for msgid in messages:
        if not msgid.startswith("#"):
            continue
        msgstr = zh_catalog[msgid]
        heading = re.compile(r"^#+ ", re.M)
        assert [h for h in heading.findall(msgid)] == [h for h in heading.findall(msgstr)], msgid
        assert len(re.findall(r"^- ", msgid, re.M)) == len(re.findall(r"^- ", msgstr, re.M)), msgid
        for key in re.findall(r"\*\*([^*]+)\*\*", msgid):
            # key names stay as they are; tab names are bold too, and must read as the translated tab;
            # other bold words that are labels of their own (a column) may read as that label translated
            expected = f"**{zh_catalog[key]}**" if key in TAB_NAMES else f"**{key}**"
            label = f"**{zh_catalog[key]}**" if key not in TAB_NAMES and zh_catalog.get(key) else expected
            assert expected in msgstr or label in msgstr, (key, msgid)


def test_notice_templates_keep_the_subject_line(zh_catalog: dict[str, str], language: None) -> None:
    for kind, template in notices.DEFAULT_TEMPLATES.items():
        translated = zh_catalog[template]
        first, blank, _rest = translated.split("\n", 2)
        assert first.startswith("Subject: ") and blank == "", kind
        assert not first.isascii(), "the subject itself should be Chinese"
    set_language("zh_CN")
    from mailmig_tui.core.project_factory import demo_project

    notice = notices.render(demo_project(), "announcement")
    assert notice.subject.startswith("关于公司邮箱迁移") and "$" not in notice.subject
    assert notice.body.startswith("各位同事")


def test_set_language_switches_and_restores(language: None) -> None:
    assert set_language("zh_CN") == "zh_CN"
    assert i18n.current_language() == "zh_CN"
    assert _("Checklist") == "清单"
    assert Phase.BACKUP.label == "备份"
    assert PhaseStatus.IN_PROGRESS.label == "进行中"
    assert _("a string nobody translated") == "a string nobody translated"
    assert set_language("en") == "en"
    assert _("Checklist") == "Checklist"
    assert Phase.BACKUP.label == "Backup"


@pytest.mark.parametrize(("value", "expected"), [
    ("zh_CN.UTF-8", "zh_CN"),
    ("zh", "zh_CN"),
    ("zh-Hans", "zh_CN"),
    ("zh_TW", "zh_CN"),
    ("en_US.UTF-8", "en"),
    ("en", "en"),
    ("C", "en"),
    ("POSIX", "en"),
    ("de_DE.UTF-8", None),
    ("", None),
    (None, None),
])
def test_normalize_language(value: str | None, expected: str | None) -> None:
    assert normalize_language(value) == expected


# --- what fits an 80-column terminal ------------------------------------------------------------


def phase_bar_width(current: str = "dashboard") -> int:
    """The widest the phase bar gets (see ui/widgets/phase_bar.py): every chunk, with the widest symbol."""
    entries = [("dashboard", "0", _("Overview"), "")]
    entries += [(p.value, str(p.number), p.short, max((s.symbol for s in PhaseStatus), key=cell_len)) for p in Phase]
    width = 0
    for mode, key, label, symbol in entries:
        chunk = f"{key}{symbol}{label} "
        width += cell_len(chunk) + (1 if mode == current else 0)
    return width


@pytest.mark.parametrize("lang", ["en", "zh_CN"])
def test_phase_bar_fits_80_columns(lang: str, language: None) -> None:
    set_language(lang)
    for current in ["dashboard", *(p.value for p in Phase)]:
        assert phase_bar_width(current) <= 80, (lang, current)


def test_chinese_phase_short_names_are_short(language: None) -> None:
    set_language("zh_CN")
    for phase in Phase:
        assert phase.short != PHASE_INFO[phase].short or phase.short.isupper(), phase  # DNS stays DNS
        assert cell_len(phase.short) <= 10, phase.short
        assert cell_len(f"{phase.number} {phase.label}") <= 16, phase.label  # the dashboard's Phase column
    for status in PhaseStatus:
        assert cell_len(f"{status.symbol} {status.label}") <= 13, status.label  # the Status column


def test_chinese_table_headers_fit_their_columns(language: None) -> None:
    set_language("zh_CN")
    # (header, column width) as declared in the widgets
    for header, width in [("Due", 11), ("Owner", 11), ("Milestone", 20), ("Date and time", 24), ("In", 14),
                          ("Phase", 16), ("Status", 13), ("Done", 7), ("Email", 26), ("Name", 12),
                          ("Department", 14), ("Role", 7), ("New login", 26), ("When", 16), ("Who", 10)]:
        assert cell_len(_(header)) <= width, header
    for key in ("MX TTL lowered", "Backup starts", "Pre-stage copy", "MX cutover", "Go-live", "Old provider off"):
        assert cell_len("✗ " + _(key)) <= 20, key
