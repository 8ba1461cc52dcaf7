"""Read-only tables reused on several screens: users (all or a role) and the activity log."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from mailmig_tui.core.i18n import _
from mailmig_tui.core.model import ROLE_LABELS
from mailmig_tui.ui.project_view import ProjectView


class UserTable(ProjectView, DataTable[Text | str]):
    """The project's users; `role` limits it to e.g. the pilot testers."""

    def __init__(self, role: str | None = None, **kwargs: object) -> None:
        super().__init__(cursor_type="row", **kwargs)
        self.role = role

    def on_mount(self) -> None:
        self.refresh_project()

    def refresh_project(self) -> None:
        project = self.project
        self.clear(columns=True)
        self.add_column(_("Email"), width=26)
        self.add_column(_("Name"), width=12)
        self.add_column(_("Department"), width=14)
        self.add_column(_("Role"), width=7)
        self.add_column(_("New login"), width=26)
        users = [u for u in project.users if self.role is None or u.role == self.role]
        for u in users:
            self.add_row(u.email, u.display_name, u.department, _(ROLE_LABELS.get(u.role, u.role)), u.effective_new_login, key=u.email)
        if not users:
            self.add_row(Text(_("No users yet: import them with `mailmig users import`."), style="italic"), "", "", "", "")


class EventLog(ProjectView, DataTable[Text | str]):
    """Who did what, newest first: the project's short event log."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", **kwargs)

    def on_mount(self) -> None:
        self.refresh_project()

    def refresh_project(self) -> None:
        project = self.project
        self.clear(columns=True)
        self.add_column(_("When"), width=16)
        self.add_column(_("Who"), width=10)
        self.add_column(_("What"), width=max(20, self.size.width - 32) if self.size.width else 48)
        for event in reversed(project.events):
            self.add_row(event.at.astimezone().strftime("%Y-%m-%d %H:%M"), event.who, event.what)
