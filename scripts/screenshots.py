"""Regenerate screenshots/: one SVG (and PNG, where rsvg-convert is installed) per screen at 80x24.

    .venv/bin/python scripts/screenshots.py

Uses the demo project and a frozen clock, and the same list of views as the snapshot tests
(mailmig_tui/ui/tour.py). PNGs of Chinese text need a CJK font (Debian: fonts-wqy-microhei).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MAILMIG_FAKE_NOW", "2026-11-27T10:00:00+00:00")
os.environ.setdefault("MAILMIG_OPERATOR", "zhang.wei")
os.environ.setdefault("TZ", "UTC")

from mailmig_tui.core.i18n import set_language  # noqa: E402
from mailmig_tui.core.project_factory import demo_project  # noqa: E402
from mailmig_tui.core.store import ProjectStore  # noqa: E402
from mailmig_tui.ui.app import MailmigApp  # noqa: E402
from mailmig_tui.ui.tour import VIEWS  # noqa: E402

OUT = ROOT / "screenshots"


async def shoot(name: str, keys: tuple[str, ...], language: str = "en") -> Path:
    set_language(language)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "corp.example.mailmig.toml"
        ProjectStore.create(path, demo_project()).close()
        app = MailmigApp(ProjectStore.open(path))
        async with app.run_test(size=(80, 24)) as pilot:
            for key in keys:
                await pilot.press(key)
            await pilot.pause(0.3)
            target = app.save_screenshot(f"{name}.svg", str(OUT))
        app.store.close()
    return Path(target)


async def shoot_backup(stage: str) -> Path:
    """The Backup tab mid-run or after verify: a fixed sequence of engine events, no mail server."""
    from mailmig_tui.ui import backup_sample
    from mailmig_tui.ui.widgets.backup_panel import BackupPanel

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
            await pilot.pause(0.3)
            target = app.save_screenshot(f"2-backup-{stage}.svg", str(OUT))
        app.store.close()
    return Path(target)


async def main() -> None:
    OUT.mkdir(exist_ok=True)
    for old in OUT.glob("*.*"):
        old.unlink()
    shots = [await shoot(name, keys) for name, keys in VIEWS]
    shots += [await shoot_backup(stage) for stage in ("running", "verified")]
    shots.append(await shoot("dashboard-zh", (), "zh_CN"))
    shots.append(await shoot("1-preparation-checklist-zh", ("1",), "zh_CN"))
    converter = shutil.which("rsvg-convert")
    for svg in shots:
        if converter:
            subprocess.run([converter, "-w", "960", str(svg), "-o", str(svg.with_suffix(".png"))], check=True)
        print(svg.relative_to(ROOT))
    if not converter:
        print("rsvg-convert not found (Debian: librsvg2-bin): wrote SVG only")


if __name__ == "__main__":
    asyncio.run(main())
