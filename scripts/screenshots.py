"""Regenerate screenshots/: one SVG (and PNG, where rsvg-convert is installed) per screen at 80x24.

    .venv/bin/python scripts/screenshots.py

Uses the demo project and a frozen clock, and the same list of views as the snapshot tests
(mailmig_tui/ui/tour.py). PNGs of Chinese text need a CJK font (Debian: fonts-wqy-microhei).

The DNS Audit and Propagation tabs need servers that answer: they are shot against the real DNS lab
(mailmig_tui.lab.dns, NSD and Unbound on 127.0.53.x, or MAILMIG_DNSLAB_PREFIX) with its corp.test
project, the propagation one mid-way (the zone changed, the sticky resolver still on the old MX).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MAILMIG_FAKE_NOW", "2026-11-27T10:00:00+00:00")
os.environ.setdefault("MAILMIG_OPERATOR", "zhang.wei")
os.environ.setdefault("TZ", "UTC")

from mailmig_tui.core.i18n import set_language  # noqa: E402
from mailmig_tui.core.project_factory import demo_project  # noqa: E402
from mailmig_tui.core.store import ProjectStore  # noqa: E402
from mailmig_tui.ui.app import MailmigApp  # noqa: E402
from mailmig_tui.ui.tour import SAMPLE_VIEWS, VIEWS  # noqa: E402

OUT = ROOT / "screenshots"
# Made elsewhere: the browser view of `mailmig serve` (MAILMIG_UPDATE_SCREENSHOTS=1 pytest tests/test_serve_browser.py).
KEEP = {"serve-browser.png"}


async def shoot(name: str, keys: tuple[str, ...], language: str = "en") -> Path:
    set_language(language)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "corp.example.mailmig.toml"
        ProjectStore.create(path, demo_project()).close()
        app = MailmigApp(ProjectStore.open(path))
        async with app.run_test(size=(80, 24)) as pilot:
            for key in keys:
                await pilot.press(key)
            await settle(pilot)
            target = app.save_screenshot(f"{name}.svg", str(OUT))
        app.store.close()
    return Path(target)


async def settle(pilot: Any) -> None:
    """Let queued messages and animations (a tab's underline) finish before the picture."""
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


async def shoot_dns() -> list[Path]:
    """3-dns-audit and 3-dns-propagation, from live sweeps of the DNS lab."""
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from mailmig_tui.core import clock
    from mailmig_tui.lab.dns import TOOLS, DnsLab, lab_project
    from mailmig_tui.lab.tools import missing_tools
    from mailmig_tui.ui.phases.dns.audit import DnsAuditPanel
    from mailmig_tui.ui.phases.dns.watch import DnsWatchPanel
    from tests.waiting import wait_for

    if missing_tools(*TOOLS):
        print("nsd/unbound not installed (scripts/install-system-packages.sh): no DNS screenshots")
        return []
    set_language("en")
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    dkim = base64.b64encode(key.public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)).decode()
    shots: list[Path] = []
    with DnsLab() as lab, \
            tempfile.TemporaryDirectory() as folder:
        now = clock.now()
        project = lab_project()
        project.plan.old_mx_ttl = 300
        project.plan.dates["ttl_lowered"] = now - timedelta(hours=2)
        project.plan.dates["mx_cutover"] = now + timedelta(hours=1)
        policy = Path(folder) / "mta-sts.txt"
        policy.write_text("version: STSv1\nmode: enforce\nmx: mx1.oldmail.test\nmax_age: 86400\n")
        project.sections["dns"] = {
            "interval": 1, "timeout": 0.5, "mx_ttl": 5, "mta_sts_policy": str(policy),
            "authoritative": list(lab.authoritative),
            "resolvers": [{"name": name, "address": address, "region": "lab"} for name, address in lab.resolvers.items()],
        }
        path = Path(folder) / "corp.test.mailmig.toml"
        ProjectStore.create(path, project).close()
        app = MailmigApp(ProjectStore.open(path))
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("3", "]")
            audit = app.screen.query_one(DnsAuditPanel)
            await wait_for(pilot, lambda: audit.report is not None and not audit.checking, "the DNS audit")
            await settle(pilot)
            shots.append(Path(app.save_screenshot("3-dns-audit.svg", str(OUT))))
            await pilot.press("]")
            watch = app.screen.query_one(DnsWatchPanel)
            await wait_for(pilot, lambda: watch.snapshot is not None, "the first sweep")
            lab.edit("corp.test", remove=("@ 5 IN MX",), add=(
                "@ 5 IN MX 10 mx1.newmail.test.", "@ 5 IN MX 20 mx2.newmail.test.",
                f'mm1._domainkey 5 IN TXT "v=DKIM1; k=rsa; p={dkim}"'))
            await wait_for(pilot, lambda: watch.snapshot is not None and 0 < watch.snapshot.percent_new < 100
                           and not watch.sweeping, "a sweep mid-propagation", timeout=60)
            await settle(pilot)
            shots.append(Path(app.save_screenshot("3-dns-propagation.svg", str(OUT))))
        app.store.close()
    return shots


async def shoot_backup(stage: str) -> Path:
    """The Backup tab mid-run or after verify: a fixed sequence of engine events, no mail server."""
    from mailmig_tui.ui.phases.backup.panel import BackupPanel
    from tests.samples import backup as backup_sample

    set_language("en")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "corp.example.mailmig.toml"
        project = demo_project()
        backup_sample.prepare(project)
        ProjectStore.create(path, project).close()
        app = MailmigApp(ProjectStore.open(path))
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("2", "]")
            backup_sample.show(app.screen.query_one(BackupPanel), stage)
            await settle(pilot)
            target = app.save_screenshot(f"2-backup-{stage}.svg", str(OUT))
        app.store.close()
    return Path(target)


async def shoot_health() -> Path:
    """The After-care Health tab from fixed results (tests/monitor_samples.py): every status once."""
    from mailmig_tui.core import clock
    from mailmig_tui.ui.phases.aftercare.health import HealthPanel
    from tests import monitor_samples

    set_language("en")
    HealthPanel.activate = lambda self: None  # type: ignore[method-assign]  # no network: fixed results
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "corp.example.mailmig.toml"
        ProjectStore.create(path, demo_project()).close()
        app = MailmigApp(ProjectStore.open(path))
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("7", "]", "]")
            at = clock.now()
            app.screen.query_one(HealthPanel).show(monitor_samples.results(at), monitor_samples.when(at),
                                                   monitor_samples.latency())
            await pilot.pause(0.3)
            target = app.save_screenshot("7-aftercare-health.svg", str(OUT))
        app.store.close()
    return Path(target)


async def shoot_sample(name: str, keys: tuple[str, ...], stage: str) -> Path:
    """An Account sync tab fed the fixed events of accounts_sample (no mail server)."""
    from tests.samples import accounts as accounts_sample

    set_language("en")
    with tempfile.TemporaryDirectory() as folder:
        os.environ["MAILMIG_CREDENTIALS_FILE"] = str(Path(folder) / "creds.enc")  # locked: no real store shown
        path = Path(folder) / "corp.example.mailmig.toml"
        project = demo_project()
        accounts_sample.prepare(project)
        ProjectStore.create(path, project).close()
        app = MailmigApp(ProjectStore.open(path))
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press(*keys)
            accounts_sample.show(app.screen, stage)
            await pilot.pause(0.3)
            target = app.save_screenshot(f"{name}.svg", str(OUT))
        app.store.close()
    return Path(target)


async def shoot_matrix(stage: str) -> Path:
    """The Testing screen's Matrix tab mid-run or with failures: fixed results, no mail server."""
    from mailmig_tui.ui.phases.testing import sample
    from mailmig_tui.ui.phases.testing.matrix import MatrixPanel

    set_language("en")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "corp.example.mailmig.toml"
        project = demo_project()
        if stage == "failures":
            sample.prepare(project)
        ProjectStore.create(path, project).close()
        app = MailmigApp(ProjectStore.open(path))
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("5", "]")
            sample.show(app.screen.query_one(MatrixPanel), stage)
            await pilot.pause(0.3)
            target = app.save_screenshot(f"5-testing-matrix-{stage}.svg", str(OUT))
        app.store.close()
    return Path(target)


async def shoot_gate() -> Path:
    """The Go-live Gate tab from a fixed result (tests/samples/golive.py): DNS draining, no final delta yet."""
    from mailmig_tui.core import clock
    from mailmig_tui.ui.phases.golive.gate import GatePanel
    from tests.samples import golive

    set_language("en")
    GatePanel.activate = lambda self: None  # type: ignore[method-assign]  # no network: the fixed result
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "corp.example.mailmig.toml"
        ProjectStore.create(path, demo_project()).close()
        app = MailmigApp(ProjectStore.open(path))
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("6", "]", "]", "]")
            app.screen.query_one(GatePanel).show(golive.result(clock.now()))
            await pilot.pause(0.3)
            target = app.save_screenshot("6-go-live-gate.svg", str(OUT))
        app.store.close()
    return Path(target)


def shoot_handbook() -> list[Path]:
    """The newcomer handbook (HTML, Chinese and English) as Chromium renders it, when Chromium is here."""
    from mailmig_tui.core import handbook

    chromium = shutil.which("chromium")
    if not chromium:
        print("chromium not found: handbook screenshots skipped")
        return []
    out = []
    with tempfile.TemporaryDirectory() as folder:
        for lang in ("en", "zh_CN"):
            page = Path(folder) / f"handbook-{lang}.html"
            page.write_text(handbook.render(demo_project(), lang, "html"), encoding="utf-8")
            png = OUT / f"7-handbook-{lang}.png"
            subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                            "--disable-background-networking", "--disable-component-update", "--disable-sync",
                            f"--user-data-dir={folder}/profile", "--hide-scrollbars", "--window-size=900,1300",
                            f"--screenshot={png}", page.as_uri()], check=True, capture_output=True, timeout=120)
            out.append(png)
    return out


def shoot_report() -> list[Path]:
    """The migration report (HTML) as Chromium renders it, from the sample migration a day after its cutover."""
    from mailmig_tui.core import clock, report
    from mailmig_tui.core.store import load_project
    from tests.samples import report as report_sample

    chromium = shutil.which("chromium")
    if not chromium:
        print("chromium not found: report screenshot skipped")
        return []
    set_language("en")
    with tempfile.TemporaryDirectory() as folder:
        path, generated = report_sample.prepare(Path(folder), clock.now())
        page = Path(folder) / "report.html"
        page.write_text(report.render(load_project(path), path, "en", "html", generated), encoding="utf-8")
        png = OUT / "report.png"
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        f"--user-data-dir={folder}/profile", "--hide-scrollbars", "--window-size=1000,2600",
                        f"--screenshot={png}", page.as_uri()], check=True, capture_output=True, timeout=120)
    return [png]


async def main() -> None:
    # --only PREFIX: shoot just the views whose name starts with PREFIX and keep the other files
    only = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else ""
    OUT.mkdir(exist_ok=True)
    if only == "report":  # just the migration report's page
        for png in shoot_report():
            print(png.relative_to(ROOT))
        return
    if not only:
        for old in OUT.glob("*.*"):
            if old.name not in KEEP:
                old.unlink()
    shots = [await shoot(name, keys) for name, keys in VIEWS if name.startswith(only)]
    shots += [await shoot_sample(name, keys, stage) for name, keys, stage in SAMPLE_VIEWS if name.startswith(only)]
    if not only:
        shots += [await shoot_backup(stage) for stage in ("running", "verified")]
        shots += [await shoot_matrix(stage) for stage in ("running", "failures")]
        shots.append(await shoot("dashboard-zh", (), "zh_CN"))
        shots.append(await shoot("1-preparation-checklist-zh", ("1",), "zh_CN"))
        shots += await shoot_dns()
        shots.append(await shoot_health())
        shots.append(await shoot_gate())
    converter = shutil.which("rsvg-convert")
    for svg in shots:
        if converter:
            subprocess.run([converter, "-w", "960", str(svg), "-o", str(svg.with_suffix(".png"))], check=True)
        print(svg.relative_to(ROOT))
    for png in shoot_handbook() + shoot_report():
        print(png.relative_to(ROOT))
    if not converter:
        print("rsvg-convert not found (Debian: librsvg2-bin): wrote SVG only")


if __name__ == "__main__":
    asyncio.run(main())
