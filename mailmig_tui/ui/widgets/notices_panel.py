"""Staff notices: read them rendered with the project's data, edit their templates, export .eml."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from mailmig_tui.core import notices
from mailmig_tui.core.credentials import PassphrasePrompt, open_credentials
from mailmig_tui.core.errors import MailmigError
from mailmig_tui.core.i18n import N_, _
from mailmig_tui.core.mailout import MailoutConfig, SendOptions, SendSummary, parse_mailout_section, plan_sending
from mailmig_tui.core.mailout import send_notice as send_by_mail
from mailmig_tui.core.model import Project, SchemaError
from mailmig_tui.ui.project_view import ProjectView
from mailmig_tui.ui.widgets.dialogs import ConfirmDialog, TextDialog
from mailmig_tui.ui.widgets.passphrase import prompt_for, with_passphrase

if TYPE_CHECKING:
    pass


class NoticesPanel(ProjectView, Vertical):
    EDITING_ACTIONS = frozenset({"edit_template", "reset_template"})
    BINDINGS = [
        Binding("e", "edit_template", N_("Edit template"), id="notices.edit"),
        Binding("r", "reset_template", N_("Reset"), id="notices.reset"),
        Binding("x", "export", N_("Export .eml"), id="notices.export"),
        Binding("s", "send", N_("Send by mail"), id="notices.send"),
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

    # --- sending by mail (mailmig notices send) ---------------------------------------------------

    def action_send(self) -> None:
        """Send the highlighted notice to every user, after saying to whom, from whom and through which SMTP."""
        kind = self.current_kind()
        try:
            config = parse_mailout_section(self.project.sections.get("mailout"))
            plan = plan_sending(self.project, config, SendOptions(kind))
        except (SchemaError, MailmigError) as exc:
            self.app.notify(str(exc), title=_("Cannot send"), severity="error")
            return
        question = _("Send “{notice}” to {n} users from {sender} through the {via} provider's SMTP? Anyone who "
                     "already has it is skipped.").format(notice=_(notices.NOTICE_LABELS[kind]), n=len(plan.recipients),
                                                          sender=plan.sender, via=plan.via)

        def confirmed(yes: bool | None) -> None:
            if yes:
                with_passphrase(self.app, partial(self._start_send, kind, config))

        self.app.push_screen(ConfirmDialog(question), confirmed)

    def _start_send(self, kind: str, config: MailoutConfig, passphrase: str | None) -> None:
        store = self.mailmig.store
        project = Project.from_dict(store.project.to_dict())
        self.run_worker(partial(self._send_work, project, store.path, config, kind, prompt_for(passphrase)),
                        name=_("Sending notices"), group="notices-send", thread=True, exclusive=True,
                        exit_on_error=False)
        self.app.notify(_("Sending… the result will be shown here."), title=_(notices.NOTICE_LABELS[kind]))

    def _send_work(self, project: Project, path: Path, config: MailoutConfig, kind: str,
                   prompt: PassphrasePrompt) -> SendSummary:
        return send_by_mail(project, path, open_credentials(prompt), config, SendOptions(kind))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "notices-send" or event.state != WorkerState.SUCCESS:
            return
        summary = event.worker.result
        if not isinstance(summary, SendSummary):
            return
        counts = {s: summary.count(s) for s in ("sent", "already", "refused", "deferred", "uncertain", "cancelled")}
        text = _("{sent} sent now, {already} already had it, {refused} refused, {deferred} deferred, "
                 "{uncertain} uncertain, {cancelled} not sent").format(**counts)
        problems = [o for o in summary.outcomes if o.state not in ("sent", "already")]
        if problems:
            text += "\n" + "\n".join(f"{o.recipient}: {o.detail}" for o in problems[:3])
        self.app.notify(text, title=_(notices.NOTICE_LABELS[summary.notice]),
                        severity="information" if summary.complete else "warning", timeout=15)
