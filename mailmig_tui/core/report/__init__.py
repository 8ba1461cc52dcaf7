"""The migration report for the change ticket (`mailmig report`, and the TUI's command palette).

`render(project, project_path, language, fmt)` gives Markdown or one self-contained HTML page, built
from what the project file and the SQLite files beside it recorded (see build.py); no network.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from mailmig_tui.core.model import Project, now
from mailmig_tui.core.report.blocks import Block, to_html, to_markdown
from mailmig_tui.core.report.build import build, footer

FORMATS = ("md", "html")


def default_out(project_path: Path, fmt: str) -> Path:
    """`<project>.report.<fmt>` beside the project file."""
    stem = project_path.name.removesuffix(".mailmig.toml")
    return project_path.parent / f"{stem}.report.{fmt}"


def render(project: Project, project_path: Path, language: str = "en", fmt: str = "md",
           generated: datetime | None = None) -> str:
    generated = generated or now()
    blocks = build(project, project_path, language, generated)
    if fmt == "html":
        return to_html(blocks, language, footer(project, language, generated))
    return to_markdown(blocks)


__all__ = ["FORMATS", "Block", "build", "default_out", "render"]
