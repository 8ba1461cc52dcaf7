"""The Providers tab says plainly when a login method will be refused, and shows how each side logs in."""

from __future__ import annotations

from pathlib import Path

from mailmig_tui.core.model import Auth
from mailmig_tui.core.project_factory import new_project
from mailmig_tui.core.store import ProjectStore
from mailmig_tui.ui.app import MailmigApp
from mailmig_tui.ui.widgets.provider_panel import ProviderPanel, login_summary


def _text(panel: ProviderPanel) -> str:
    from rich.console import Console

    console = Console(width=78, record=True, color_system=None)
    from textual.widgets import Static

    console.print(panel.query_one("#provider-table", Static).content)
    return console.export_text()


async def test_providers_tab_warns_about_password_login_to_microsoft_365(tmp_path: Path) -> None:
    path = tmp_path / "corp.example.mailmig.toml"
    ProjectStore.create(path, new_project("corp.example", "aliyun-mail", "microsoft-365")).close()
    app = MailmigApp(ProjectStore.open(path))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("1", "]", "]", "]")
        await pilot.pause()
        text = _text(app.screen.query_one(ProviderPanel))
        assert "⚠ Warning (new provider): Microsoft 365 refuses password logins" in text
        assert "how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth" in text.replace("\n", "")
        assert "old provider" not in text.split("Old provider")[0]  # Alibaba Mail takes passwords: no warning


def test_login_row_describes_the_oauth2_flavour() -> None:
    project = new_project("corp.example", "aliyun-mail", "microsoft-365")
    project.new.auth = Auth("oauth2", extra={"oauth2": "ms-client-credentials", "client_id": "a", "tenant": "t"})
    assert login_summary(project.new) == "OAuth2 XOAUTH2: Microsoft 365 app-only (client credentials)"
    assert login_summary(project.old) == "password, each user's own"
