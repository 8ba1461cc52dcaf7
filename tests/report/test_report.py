"""The migration report on a project with real runs (backup, verify, copy, verify --copy against the
report lab's Dovecots), in Markdown and HTML: the numbers are the engines' records, missing evidence reads
"not run", hostile names are escaped, and the HTML renders in a real browser (headless Chromium)."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import struct
import subprocess
import sys
import zlib
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from mailmig_tui.core import clock, report
from mailmig_tui.core.backup.summary import human_bytes
from mailmig_tui.core.model import Endpoint, User
from mailmig_tui.core.project_factory import new_project
from mailmig_tui.core.store import ProjectStore, load_project
from tests.backup_helpers import cli_env, credentials
from tests.report.conftest import HOSTILE, USERS, ReportLab, append, hostile_messages
from tests.servers import missing_server

pytestmark = pytest.mark.lab

HOSTILE_NAME = '<img src=x onerror="alert(2)"> Bob | **x**'
HOSTILE_ITEM = "Tell <b>everyone</b> | [link](javascript:alert(3))"


def cli(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mailmig_tui", *args], capture_output=True, text=True,
                          env=cli_env(folder), cwd=folder, timeout=300)


@pytest.fixture(scope="module")
def migrated(reportlab: ReportLab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project after a backup (one user differs at verify: a message arrived since), a copy and its verify."""
    folder = tmp_path_factory.mktemp("report")
    old, new = reportlab.old, reportlab.new
    project = new_project("corp.example", "generic-imap", "generic-imap")
    project.old.imap = Endpoint("localhost", old.imaps_port, "ssl", tls_fingerprint=old.fingerprint)
    project.new.imap = Endpoint("localhost", new.imaps_port, "ssl", tls_fingerprint=new.fingerprint)
    project.users = [User("ann@corp.example", role="pilot"), User("bob@corp.example", display_name=HOSTILE_NAME)]
    at = clock.now()
    project.plan.dates["backup_start"] = at - timedelta(hours=1)
    project.plan.dates["mx_cutover"] = at + timedelta(days=2)
    project.checklist[0].title = HOSTILE_ITEM
    project.log(f"note about {HOSTILE}")
    path = folder / "corp.example.mailmig.toml"
    ProjectStore.create(path, project).close()
    credentials(folder).set_many("corp.example", [("old", e, pw) for e, pw in USERS.items()]
                                 + [("new", e, new.users[e]) for e in USERS])
    done = cli(folder, "backup", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    # A message arrives in bob's hostile folder after the backup: the verify must say bob differs.
    append(old, "bob@corp.example", HOSTILE, hostile_messages(1, start=50))
    done = cli(folder, "verify", str(path))
    assert done.returncode == 1, done.stdout + done.stderr
    done = cli(folder, "copy", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    done = cli(folder, "verify", "--copy", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    return path


def row(text: str, first: str) -> list[str]:
    """The cells of the Markdown table row whose first cell is `first`."""
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if line.startswith("|") and cells[0] == first:
            return cells
    raise AssertionError(f"no row {first!r} in:\n{text}")


def section(text: str, title: str) -> str:
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def test_markdown_has_the_recorded_numbers_per_user(migrated: Path, reportlab: ReportLab) -> None:
    text = report.render(load_project(migrated), migrated, "en", "md")
    backup = section(text, "Backup")
    # Messages archived: what the index holds (bob's straggler arrived after the backup, so not archived).
    index = migrated.parent / "corp.example-backup" / "index.sqlite"
    with sqlite3.connect(index) as db:
        archived = dict(db.execute("SELECT user, count(*) FROM messages GROUP BY user").fetchall())
        sizes = dict(db.execute("SELECT user, sum(size) FROM messages GROUP BY user").fetchall())
    assert archived == reportlab.counts
    ann, bob = row(backup, "ann@corp.example"), row(backup, "bob@corp.example")
    assert ann[1] == str(reportlab.counts["ann@corp.example"]) and ann[2] == human_bytes(sizes["ann@corp.example"])
    assert ann[-1] == "✓ verified"
    assert bob[1] == str(reportlab.counts["bob@corp.example"]) and bob[-1] == "✗ differs"
    assert "✗ 1 of 2 users differ" in backup
    # The verify's own words name the hostile folder: there, escaped for Markdown.
    assert "\\<script\\>alert(1)\\</script\\> \\& Co: 1 missing" in backup
    copy = section(text, "Copy to the new provider")
    assert row(copy, "ann@corp.example")[1] == str(reportlab.counts["ann@corp.example"])
    assert row(copy, "bob@corp.example")[1] == str(reportlab.counts["bob@corp.example"] + 1)
    assert row(copy, "ann@corp.example")[-1] == "✓ verified" and row(copy, "bob@corp.example")[-1] == "✓ verified"
    plan = section(text, "Plan and what happened")
    assert row(plan, "Backup starts")[2].startswith("✓ ") and "late" in row(plan, "Backup starts")[3]
    assert row(plan, "Pre-stage copy")[2].startswith("✓ ")
    assert row(plan, "MX cutover")[2] == "— not yet"


def test_missing_evidence_reads_not_run_never_success(migrated: Path) -> None:
    text = report.render(load_project(migrated), migrated, "en", "md")
    for title, words in (("Account logins", "not run: the logins have not been checked"),
                         ("DNS timeline", "not run: the propagation watcher has no history"),
                         ("Test matrix", "not run: the test matrix has not run"),
                         ("Go-live gate", "not run: the gate has not been checked"),
                         ("Health monitor", "not run: the health monitor has not run")):
        part = section(text, title)
        assert f"— {words}" in part and "✓" not in part, part
    assert "— not run: no notice has been sent" in text
    plan = section(text, "Plan and what happened")
    assert row(plan, "Go-live")[2] == "— not yet" and row(plan, "MX TTL lowered")[2].startswith("—")


def test_a_verify_older_than_the_backup_is_not_a_verified_backup(migrated: Path, tmp_path: Path) -> None:
    project = load_project(migrated)
    run = project.sections["backup"]["last_run"]
    project.sections["backup"]["last_verify"]["at"] = run["finished"] - timedelta(minutes=5)
    text = report.render(project, migrated, "en", "md")
    backup = section(text, "Backup")
    assert "✗ last verify" in backup and "is older than the last backup run" in backup
    assert row(backup, "ann@corp.example")[-1] == "— not verified"
    # Without the archive, the counts are unknown (never 0, never a pass).
    project.sections["backup"]["dest"] = str(tmp_path / "gone")
    backup = section(report.render(project, migrated, "en", "md"), "Backup")
    assert row(backup, "ann@corp.example")[1] == "unknown" and "was not found" in backup


def test_html_escapes_every_value_and_is_self_contained(migrated: Path) -> None:
    page = report.render(load_project(migrated), migrated, "en", "html")
    assert page.startswith("<!DOCTYPE html>") and 'charset="utf-8"' in page and "@media print" in page
    for external in ("<link", "<script", "@import", "url(", "<img", "<b>", "href=", "http:", "https:"):
        assert external not in page, external
    assert not re.search(r"<[a-z]+[^>]* (src|on[a-z]+)=", page)  # no element with a source or a handler
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co: 1 missing" in page
    assert "Tell &lt;b&gt;everyone&lt;/b&gt;" in page and "&lt;img src=x onerror=&quot;alert(2)&quot;&gt; Bob" in page
    md = report.render(load_project(migrated), migrated, "en", "md")
    assert "<b>" not in md and "<script>" not in md and "Tell \\<b\\>everyone\\</b\\> \\| \\[link\\]" in md
    assert row(section(md, "Users"), "bob@corp.example")[1] == '\\<img src=x onerror="alert(2)"\\> Bob \\| \\*\\*x\\*\\*'


def test_chinese_report(migrated: Path) -> None:
    text = report.render(load_project(migrated), migrated, "zh_CN", "md")
    assert "迁移报告" in text and "备份" in text and "未运行" in text
    assert "Plan and what happened" not in text and "Messages archived" not in text


def test_cli_writes_beside_the_project_with_one_line_errors(migrated: Path, tmp_path: Path) -> None:
    folder = migrated.parent
    done = cli(folder, "report", str(migrated), "--format", "html")
    assert done.returncode == 0, done.stderr
    out = folder / "corp.example.report.html"
    assert str(out) in done.stdout and out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    done = cli(folder, "report", str(migrated), "--out", str(tmp_path / "r.md"))
    assert done.returncode == 0 and (tmp_path / "r.md").read_text(encoding="utf-8").startswith("# Migration report")
    done = cli(folder, "report", str(migrated), "--lang", "zh_CN", "--out", "-")
    assert done.returncode == 0 and "迁移报告" in done.stdout
    done = cli(folder, "report", str(migrated), "--out", str(tmp_path / "no" / "such" / "r.md"))
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "cannot write" in done.stderr
    readonly = tmp_path / "ro"
    readonly.mkdir()
    readonly.chmod(0o500)
    # root ignores the mode: then a path under a regular file, which no one can write
    target = str(migrated) + "/r.md" if os.access(readonly, os.W_OK) else str(readonly / "r.md")
    done = cli(folder, "report", str(migrated), "--out", target)
    assert done.returncode == 2 and "cannot write" in done.stderr and "Traceback" not in done.stderr
    bad = tmp_path / "bad.mailmig.toml"
    bad.write_text('schema_version = 1\ndomain = "corp.example"\nusers = 3\n', encoding="utf-8")
    done = cli(folder, "report", str(bad))
    assert done.returncode == 3 and done.stderr.count("\n") == 1 and "users" in done.stderr
    done = cli(folder, "report", str(tmp_path / "missing.mailmig.toml"))
    assert done.returncode == 3 and "no such project file" in done.stderr
    assert not (tmp_path / "bad.report.md").exists()


# --- a real browser -----------------------------------------------------------------------------------


def png_pixels(path: Path) -> tuple[int, int, list[bytes]]:
    """Width, height and the unfiltered rows of an 8-bit RGB/RGBA PNG (what Chromium writes)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and colour in (2, 6)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        line = raw[y * (stride + 1):(y + 1) * (stride + 1)]
        kind, cur = line[0], bytearray(line[1:])
        for i in range(stride):
            a = cur[i - channels] if i >= channels else 0
            b = previous[i]
            c = previous[i - channels] if i >= channels else 0
            if kind == 1:
                cur[i] = (cur[i] + a) & 0xFF
            elif kind == 2:
                cur[i] = (cur[i] + b) & 0xFF
            elif kind == 3:
                cur[i] = (cur[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                cur[i] = (cur[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(cur if channels == 3 else bytes(v for j, v in enumerate(cur) if j % 4 != 3)))
        previous = cur
    return width, height, rows


def chromium_shot(page: Path, shot: Path, size: str = "1000,1500") -> Any:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        missing_server("chromium")  # skips here, fails under CI=true
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--hide-scrollbars",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={shot.parent / 'chromium-profile'}"]
    return subprocess.run([chromium, *flags, f"--window-size={size}", f"--screenshot={shot}", page.as_uri()],
                          capture_output=True, timeout=120)


def test_html_report_renders_in_a_real_browser(migrated: Path, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(report.render(load_project(migrated), migrated, "en", "html"), encoding="utf-8")
    shot = tmp_path / "report.png"
    chromium_shot(page, shot)
    assert shot.exists(), "chromium wrote no screenshot"
    width, height, rows = png_pixels(shot)
    assert (width, height) == (1000, 1500)
    # Text on a white page: a few percent of the pixels are ink, and the page is not one flat colour.
    step = 3
    sampled = [r[x:x + 3] for r in rows[::step] for x in range(0, len(r), 3 * step)]
    dark = sum(1 for p in sampled if sum(p) < 3 * 160)
    white = sum(1 for p in sampled if min(p) > 245)
    assert 0.01 < dark / len(sampled) < 0.4, dark / len(sampled)
    assert white / len(sampled) > 0.5  # a light page: prints without a dark background
    assert len(set(sampled)) > 20
    # Printed: a PDF of several pages (the page-break hints keep rows whole), on white.
    pdf = tmp_path / "report.pdf"
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium is not None
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-pdf-header-footer",
                    f"--user-data-dir={tmp_path / 'chromium-profile'}", f"--print-to-pdf={pdf}", page.as_uri()],
                   capture_output=True, timeout=120)
    assert pdf.exists() and pdf.read_bytes().startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf.read_bytes())) >= 2


def test_report_markdown_tables_are_well_formed(migrated: Path) -> None:
    text = report.render(load_project(migrated), migrated, "en", "md")
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if re.fullmatch(r"\|(---\|)+", line):
            columns = line.count("---")
            j = i + 1
            while j < len(lines) and lines[j].startswith("|"):
                cells = re.split(r"(?<!\\)\|", lines[j].strip())[1:-1]
                assert len(cells) == columns, lines[j]
                j += 1
