"""Plan validation, staff notices, presets and the CLI's commands and exit codes."""

from __future__ import annotations

import email
import email.policy
import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from mailmig_tui.cli import main
from mailmig_tui.core import notices, plan
from mailmig_tui.core.model import Plan
from mailmig_tui.core.presets import preset_names, preset_provider
from mailmig_tui.core.store import load_project

CST = timezone(timedelta(hours=8))


def test_plan_validation_names_what_is_wrong() -> None:
    p = Plan()
    p.old_mx_ttl = 86400
    p.dates.update({
        "ttl_lowered": datetime(2026, 12, 3, 12, 0, tzinfo=CST),
        "mx_cutover": datetime(2026, 12, 3, 22, 0, tzinfo=CST),
        "go_live": datetime(2026, 12, 1, 9, 0, tzinfo=CST),
    })
    messages = [x.message for x in plan.validate(p)]
    assert any("Go-live (2026-12-01 09:00 +0800) is before MX cutover" in m for m in messages)
    assert any("earliest safe time 2026-12-04 12:00 +0800" in m for m in messages)
    p.dates.update({"mx_cutover": datetime(2026, 12, 1, 22, 0, tzinfo=CST)})
    assert any("MX cutover (2026-12-01 22:00 +0800) is before MX TTL lowered" in m for m in
               [x.message for x in plan.validate(p)])


def test_sensible_plan_has_no_errors() -> None:
    p = Plan()
    base = datetime(2026, 12, 1, 9, 0, tzinfo=CST)
    p.old_mx_ttl = 3600
    for i, key in enumerate(("ttl_lowered", "backup_start", "prestage_copy", "mx_cutover", "go_live")):
        p.dates[key] = base + timedelta(days=i)
    p.dates["old_provider_off"] = base + timedelta(days=40)
    assert plan.validate(p) == []


def test_parse_datetime_accepts_what_people_type() -> None:
    assert plan.parse_datetime("2026-12-05 22:00 +08:00") == datetime(2026, 12, 5, 22, 0, tzinfo=CST)
    assert plan.parse_datetime("2026-12-05T22:00+08:00") == datetime(2026, 12, 5, 22, 0, tzinfo=CST)
    assert plan.parse_datetime("") is None
    assert plan.parse_datetime("2026-12-05").tzinfo is not None  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="not a date and time"):
        plan.parse_datetime("next friday")


def test_notices_render_project_data_and_export_eml(demo_path: Path, tmp_path: Path) -> None:
    project = load_project(demo_path)
    notice = notices.render(project, "cutover_reminder")
    assert "Alibaba Mail" in notice.subject
    assert "imap.qiye.aliyun.com:993" in notice.body
    assert "$" not in notice.body
    project.notices["go_live"] = "Subject: Live {at} 100%\n\nHello $domain, $unknown stays."
    custom = notices.render(project, "go_live")
    assert custom.subject == "Live {at} 100%"
    assert custom.body == "Hello corp.example, $unknown stays."
    # an unknown placeholder would reach staff as "$unknown": the export refuses it, writing nothing
    with pytest.raises(ValueError, match=r"\$unknown"):
        notices.export_all(project, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    project.notices["go_live"] = "Subject: Live {at} 100%\n\nHello $domain, $$5 stays."
    written = notices.export_all(project, tmp_path / "out")
    assert len(written) == 3
    message = email.message_from_bytes(written[0].read_bytes(), policy=email.policy.default)
    assert message["Subject"] == "Our email is moving to Alibaba Mail (阿里邮箱)"
    assert "阿里邮箱" in message.get_content()


def test_every_preset_is_complete() -> None:
    names = preset_names()
    for expected in ("aliyun-mail", "tencent-exmail", "netease-qiye", "google-workspace", "microsoft-365",
                     "zoho-mail", "generic-imap"):
        assert expected in names
    for name in names:
        provider = preset_provider(name, "corp.example")
        assert provider.source and provider.limits.max_connections > 0
        if name != "generic-imap":
            assert provider.imap.host and provider.smtp.host and provider.mx and provider.spf_include
    assert preset_provider("microsoft-365", "corp.example").mx[0].host == "corp-example.mail.protection.outlook.com"


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mailmig_tui", *args], capture_output=True, text=True,
                          cwd=cwd, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).parents[1]),
                                        "LANG": "C.UTF-8", "HOME": str(cwd or Path.cwd())})


def test_cli_new_status_and_exit_codes(tmp_path: Path) -> None:
    result = run_cli("new", "corp.example", "--from", "tencent-exmail", "--to", "aliyun-mail", "--dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    path = tmp_path / "corp.example.mailmig.toml"
    assert load_project(path).new.preset == "aliyun-mail"
    again = run_cli("new", "corp.example", "--dir", str(tmp_path))
    assert again.returncode == 3 and "already exists" in again.stderr and "Traceback" not in again.stderr
    status = run_cli("status", str(path), "--json")
    data = json.loads(status.stdout)
    assert data["domain"] == "corp.example" and len(data["phases"]) == 7
    assert run_cli("status", str(path)).stdout.startswith("corp.example: Tencent Exmail")
    bad = run_cli("new", "not a domain")
    assert bad.returncode == 2 and bad.stderr.startswith("mailmig: ") and len(bad.stderr.splitlines()) == 1
    missing = run_cli("status", str(tmp_path / "nope.mailmig.toml"))
    assert missing.returncode == 3 and "no such project file" in missing.stderr
    preset = run_cli("new", "x.example", "--from", "nosuch")
    assert preset.returncode == 2 and "unknown provider preset 'nosuch'" in preset.stderr
    assert run_cli("--version").stdout.startswith("mailmig ")
    help_text = run_cli("--help").stdout
    for command in ("new", "demo", "status", "presets", "notices"):
        assert command in help_text


def test_cli_prints_chinese_with_lang_zh_cn(tmp_path: Path, demo_path: Path) -> None:
    missing = tmp_path / "nope.mailmig.toml"
    result = run_cli("--lang", "zh_CN", "status", str(missing))
    assert result.returncode == 3
    assert f"{missing}：项目文件不存在" in result.stderr, result.stderr
    assert "no such project file" not in result.stderr
    result = run_cli("--lang", "zh_CN", "status", str(demo_path))
    assert result.returncode == 0, result.stderr
    assert "个用户" in result.stdout and "1. 准备工作" in result.stdout and "未开始" in result.stdout
    assert "Preparation" not in result.stdout and "not started" not in result.stdout


def test_cli_demo_no_open_and_notices(tmp_path: Path) -> None:
    result = run_cli("demo", "--dir", str(tmp_path), "--no-open")
    assert result.returncode == 0
    path = Path(result.stdout.strip())
    assert path.exists() and len(load_project(path).users) == 10
    out = run_cli("notices", str(path))
    assert out.returncode == 0
    assert len(list((tmp_path / "notices").glob("*.eml"))) == 3


def test_main_in_process_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status"]) == 2
    assert "mailmig:" in capsys.readouterr().err
