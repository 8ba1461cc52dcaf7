"""The report from records alone (no server): the sample migration's timeline in flip order, and records
a hand edit has mangled read as unknown, never as a traceback or a pass."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from mailmig_tui.core import report
from mailmig_tui.core.project_factory import demo_project
from mailmig_tui.core.store import ProjectStore, load_project
from tests.samples import report as sample


def test_sample_timeline_lists_resolvers_in_the_order_they_flipped(tmp_path: Path, frozen_clock: datetime) -> None:
    path, generated = sample.prepare(tmp_path, frozen_clock)
    text = report.render(load_project(path), path, "en", "md", generated)
    order = [line.split(" | ")[0].strip("| ") for line in text.splitlines() if " | resolver | " in line]
    assert order == [name for name, _m in sorted(sample.RESOLVERS, key=lambda r: r[1])]
    assert "| Copy | ✗ 9 of 10 users copied and verified since their last copy |" in text
    assert "1 runs recorded since" in text and "| chen.jing@corp.example | ✓ pass |" in text
    zh = report.render(load_project(path), path, "zh_CN", "html", generated)
    assert "迁移报告" in zh and "各服务器首次返回新 MX 的时间" in zh and 'lang="zh-CN"' in zh


def test_mangled_records_read_as_unknown(tmp_path: Path, frozen_clock: datetime) -> None:
    project = demo_project(frozen_clock)
    project.sections.update({
        "backup": {"last_run": {"started": "yesterday", "messages": "many", "errors": "oops", "users_failed": "x"},
                   "last_verify": "no"},
        "copy": {"users": {"zhang.wei@corp.example": 3}, "last_run": {"finished": 5}},
        "accounts": {"last_check": {"users": "ten"}},
        "matrix": {"last_run": {"at": 5, "failures": {"a": 1}}},
        "golive": {"overrides": "x", "last_check": {"passed": "yes", "failing": "all"}, "done_at": "soon"},
    })
    path = tmp_path / "corp.example.mailmig.toml"
    ProjectStore.create(path, project).close()
    for fmt in report.FORMATS:
        text = report.render(load_project(path), path, "en", fmt)
        assert "unknown" in text
    md = report.render(load_project(path), path, "en", "md")
    assert "| Go-live | 2026-12-10 09:00 | — not yet |" in md  # a done_at that is not a time is not a go-live
    assert "✓ every user backed up" not in md and "✓ 10 users verified" not in md
