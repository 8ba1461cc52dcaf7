"""The newcomer handbook: what it says comes from the project and the preset, in English and Chinese."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mailmig_tui.core import handbook
from mailmig_tui.core.model import User
from mailmig_tui.core.project_factory import new_project
from mailmig_tui.core.store import load_project


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MAILMIG_LANG": "en"}
    return subprocess.run([sys.executable, "-m", "mailmig_tui", *args], capture_output=True, text=True, env=env,
                          timeout=60)


def test_markdown_names_the_new_providers_hosts_ports_tls_and_admins(demo_path: Path) -> None:
    project = load_project(demo_path)
    text = handbook.render(project, "en", "md")
    new = project.new
    for value in (new.webmail, new.imap.host, str(new.imap.port), new.smtp.host, str(new.smtp.port), "SSL/TLS"):
        assert value in text
    admins = [u for u in project.users if u.role == "admin"]
    assert admins and all(u.email in text for u in admins)
    # The old provider's hosts are nowhere: a newcomer must not be sent to the old system.
    assert project.old.imap.host not in text and project.old.smtp.host not in text
    assert "old_provider_off" not in text and "| ask your administrator |" not in text


def test_chinese_handbook_is_chinese_with_the_same_facts(demo_path: Path) -> None:
    project = load_project(demo_path)
    en = handbook.render(project, "en", "md")
    zh = handbook.render(project, "zh_CN", "md")
    assert "新员工指南" in zh and "收件服务器（IMAP）" in zh and "常见问题" in zh
    assert "Settings for mail apps" not in zh and "Who to ask" not in zh
    assert project.new.imap.host in zh and project.new.smtp.host in zh
    # Same structure: as many headings and list items in both languages.
    def shape(text: str) -> list[str]:
        return [line.split(" ", 1)[0] for line in text.splitlines() if line.startswith(("#", "- ", "| "))]

    assert shape(en) == shape(zh)


def test_rendering_in_chinese_leaves_the_session_language_alone(demo_path: Path) -> None:
    from mailmig_tui.core.i18n import _, current_language

    before = current_language()
    handbook.render(load_project(demo_path), "zh_CN", "md")
    assert current_language() == before and _("Questions") == "Questions"


def test_unknown_settings_are_never_invented() -> None:
    project = new_project("corp.example", "tencent-exmail", "generic-imap")
    text = handbook.render(project, "en", "md")
    assert "| Incoming mail (IMAP) server | ask your administrator |" in text
    assert "| IMAP port | ask your administrator |" in text
    assert "Some settings are not filled in yet" in text
    assert "Your administrator will tell you the webmail address." in text


def test_oauth_providers_say_to_choose_the_account_type_not_a_password() -> None:
    text = handbook.render(new_project("corp.example", "tencent-exmail", "microsoft-365"), "en", "md")
    assert "does not accept a plain password" in text and "choose Microsoft 365" in text
    assert "yes, sign in with your Microsoft 365 account" in text


def test_html_is_one_escaped_self_contained_page() -> None:
    project = new_project("corp.example", "tencent-exmail", "aliyun-mail")
    project.users.append(User("it@corp.example", display_name="<script>alert(1)</script> IT", role="admin"))
    page = handbook.render(project, "zh_CN", "html")
    assert page.startswith("<!DOCTYPE html>") and '<html lang="zh-CN">' in page and 'charset="utf-8"' in page
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; IT" in page
    # Nothing is fetched from elsewhere when it is opened or printed.
    for external in ("<link", "<script", "src=", "@import", "url("):
        assert external not in page
    assert "@media print" in page and "imap.qiye.aliyun.com" in page


def test_cli_writes_beside_the_project_or_to_stdout(demo_path: Path, tmp_path: Path) -> None:
    done = run_cli("handbook", str(demo_path), "--format", "html")
    assert done.returncode == 0, done.stderr
    out = demo_path.parent / "corp.example.handbook.en.html"
    assert str(out) in done.stdout and out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    done = run_cli("handbook", str(demo_path), "--lang", "zh_CN", "--out", "-")
    assert done.returncode == 0 and "新员工指南" in done.stdout
    done = run_cli("handbook", str(demo_path), "--out", str(tmp_path / "no" / "such" / "dir" / "h.md"))
    assert done.returncode == 2 and "cannot write" in done.stderr and "Traceback" not in done.stderr
    done = run_cli("handbook", str(tmp_path / "missing.mailmig.toml"))
    assert done.returncode == 3 and "no such project file" in done.stderr


def test_html_handbook_renders_in_a_real_browser(demo_path: Path, tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed (scripts/install-system-packages.sh installs it)")
        pytest.skip("chromium is not installed")
    page = tmp_path / "handbook.html"
    page.write_text(handbook.render(load_project(demo_path), "zh_CN", "html"), encoding="utf-8")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([chromium, *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=90)
    assert "新员工指南" in dom.stdout and "imap.qiye.aliyun.com" in dom.stdout
    shot = tmp_path / "handbook.png"
    subprocess.run([chromium, *flags, "--window-size=900,1400", f"--screenshot={shot}", page.as_uri()],
                   capture_output=True, timeout=90)
    assert shot.exists() and shot.stat().st_size > 20_000  # a page with text, not a blank canvas
