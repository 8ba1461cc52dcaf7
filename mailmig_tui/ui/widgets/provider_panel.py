"""Old and new provider side by side: endpoints, MX, SPF, limits and where the values came from."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from mailmig_tui.core.i18n import _
from mailmig_tui.core.model import Project, Provider
from mailmig_tui.ui.project_view import ProjectView


def login_summary(p: Provider) -> str:
    """How mailmig logs in there, in a few words (the details are in `mailmig credentials show`)."""
    from mailmig_tui.core.oauth.settings import OAuthSettings
    from mailmig_tui.core.oauth.status import METHOD_LABELS

    if p.auth.method == "oauth2":
        return OAuthSettings.from_auth(p.auth).describe()
    return _(METHOD_LABELS.get(p.auth.method, p.auth.method))


def provider_table(project: Project) -> Table:
    table = Table(show_header=True, header_style="bold", box=None, expand=True, padding=(0, 1))
    table.add_column("", style="bold", no_wrap=True, ratio=1)
    table.add_column(_("Old provider"), ratio=3, overflow="fold")
    table.add_column(_("New provider"), ratio=3, overflow="fold")

    def cells(p: Provider) -> list[str]:
        return [
            p.name or p.preset,
            p.imap.describe(),
            p.smtp.describe(),
            login_summary(p),
            "\n".join(f"{m.preference} {m.host}" for m in p.mx) or "—",
            p.spf_include or "—",
            ", ".join(p.dkim_selectors) or "—",
            p.webmail or "—",
            _("{n} connections, {u} per user").format(n=p.limits.max_connections, u=p.limits.max_connections_per_user),
            p.source or "—",
        ]

    labels = [_("Name"), "IMAP", "SMTP", _("Login"), "MX", _("SPF include"), _("DKIM"), _("Webmail"), _("Limits"), _("Source")]
    for label, old, new in zip(labels, cells(project.old), cells(project.new), strict=True):
        table.add_row(label, old, new)
    return table


class ProviderPanel(ProjectView, Static):
    DEFAULT_CSS = "ProviderPanel { height: auto; }"

    def on_mount(self) -> None:
        self.refresh_project()

    def refresh_project(self) -> None:
        project = self.project
        from mailmig_tui.core.oauth.advice import project_advice

        note = Text("\n" + _("Override any value in the project file's [old_provider] / [new_provider] tables."), style="italic")
        warnings = [Text(_("⚠ Warning ({side} provider): {warning}").format(side=_(side), warning=warning), style="bold")
                    for side, warning in project_advice(project)]
        # Warnings first: a login that will be refused must not hide below the fold.
        self.update(Group(*warnings, provider_table(project), note))
