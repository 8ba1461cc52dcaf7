"""What every mailmig widget and screen shares: the app, the open project, translated bindings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, cast

from textual.worker import Worker, WorkerState

from mailmig_tui.core.model import Project
from mailmig_tui.ui.bindings import translate_bindings

if TYPE_CHECKING:
    from mailmig_tui.ui.app import MailmigApp


class ProjectView:
    """Mix into a Textual widget or screen (first in the bases).

    `refresh_project()` redraws from the project as it is now; the app calls it on every visible
    ProjectView after each saved change, so widgets never hold a stale copy of the project.
    """

    # Actions that change the project: not offered (hidden from the footer, disabled) while read-only.
    EDITING_ACTIONS: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        translate_bindings(self)  # type: ignore[arg-type]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in self.EDITING_ACTIONS and self.mailmig.store.readonly:
            return False
        return super().check_action(action, parameters)  # type: ignore[misc]

    @property
    def mailmig(self) -> MailmigApp:
        return cast("MailmigApp", self.app)  # type: ignore[attr-defined]

    @property
    def project(self) -> Project:
        return self.mailmig.store.project

    def refresh_project(self) -> None:
        pass

    def worker_error_handled(self, worker: Worker[Any]) -> bool:
        """True when this view has dealt with `worker`'s error itself (the app then stays quiet)."""
        return False

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # Worker.StateChanged does not bubble: without this, a widget's failing worker would never
        # reach the app's one handler. Textual calls this as well as any subclass handler (MRO dispatch).
        if event.state == WorkerState.ERROR and not self.worker_error_handled(event.worker):
            self.mailmig.report_worker_failure(event.worker)
