"""Staff notices: read them rendered with the project's data, edit their templates, export .eml."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from mailmig_tui.core import notices
from mailmig_tui.core.i18n import N_, _
from mailmig_tui.core.model import Project
from mailmig_tui.ui.project_view import ProjectView
from mailmig_tui.ui.widgets.dialogs import TextDialog

if TYPE_CHECKING:
    pass


class NoticesPanel(ProjectView, Vertical):
    EDITING_ACTIONS = frozenset({"edit_template", "reset_template"})
    BINDINGS = [
        Binding("e", "edit_template", N_("Edit template"), id="notices.edit"),
        Binding("r", "reset_template", N_("Reset"), id="notices.reset"),
        Binding("x", "export", N_("Export .eml"), id="notices.export"),
    ]
    DEFAULT_CSS = """
    NoticesPanel > OptionList { height: 5; }
    NoticesPanel > VerticalScroll { height: 1fr; border-top: solid $primary; }
    """

    def compose(self) -> ComposeResult:
        yield OptionList(*[Option(_(notices.NOTICE_LABELS[k]), id=k) for k in notices.NOTICE_KINDS], id="notice-list")
        with VerticalScroll():
            yield Static(id="notice-text")

    def on_mount(self) -> None:
        self.query_one(OptionList).highlighted = 0
        self.refresh_project()

    def current_kind(self) -> str:
        index = self.query_one(OptionList).highlighted or 0
        return notices.NOTICE_KINDS[index]

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self.refresh_project()

    def refresh_project(self) -> None:
        kind = self.current_kind()
        notice = notices.render(self.project, kind)
        text = Text()
        text.append(_("Subject: {subject}").format(subject=notice.subject) + "\n", style="bold")
        if kind in self.project.notices:
            text.append(_("(edited template)") + "\n", style="italic")
            for problem in notices.template_problems(self.project.notices[kind]):
                text.append("⚠ " + _("Warning: {problem}").format(problem=problem) + "\n", style="bold")
        text.append("\n" + notice.body)
        self.query_one("#notice-text", Static).update(text)

    def action_edit_template(self) -> None:
        if not self.mailmig.check_writable():
            return
        kind = self.current_kind()
        hint = _("Placeholders: {names}").format(names=" ".join("$" + k for k in notices.placeholders(self.project)))

        def done(text: str | None) -> None:
            if text is not None:
                def change(project: Project) -> None:
                    project.notices[kind] = notices.check_template(kind, text)
                self.mailmig.mutate(change, _("edited the {notice} template").format(notice=_(notices.NOTICE_LABELS[kind])))

        def problem(text: str) -> str | None:
            return "; ".join(notices.template_problems(text)) or None

        self.app.push_screen(TextDialog(_(notices.NOTICE_LABELS[kind]), notices.template_for(self.project, kind), hint,
                                        validate=problem), done)

    def action_reset_template(self) -> None:
        kind = self.current_kind()
        if kind in self.project.notices:
            self.mailmig.mutate(lambda p: p.notices.pop(kind, None))

    def action_export(self) -> None:
        self.mailmig.action_export_notices()
