"""Old and new provider side by side: endpoints, MX, SPF, limits and where the values came from; `o`/`n` edit
the servers and admin login in a form (the same validated edit as `mailmig provider set`)."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from mailmig_tui.core.endpoints import EndpointChange, EndpointError, apply_change, check_host, check_port
from mailmig_tui.core.i18n import N_, _
from mailmig_tui.core.model import AUTH_METHODS, TLS_MODES, Project, Provider
from mailmig_tui.ui.project_view import ProjectView
from mailmig_tui.ui.widgets.dialogs import Field, FormDialog


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
            "\n".join(f"{m.preference} {m.host}" for m in sorted(p.mx, key=lambda m: m.preference)) or "—",
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


class ProviderPanel(ProjectView, VerticalScroll):
    """Shown on the Preparation and DNS screens. `o` / `n` edit the old / new provider's servers."""

    EDITING_ACTIONS = frozenset({"edit_provider"})
    BINDINGS = [
        Binding("o", "edit_provider('old')", N_("Edit old servers"), id="providers.edit_old"),
        Binding("n", "edit_provider('new')", N_("Edit new servers"), id="providers.edit_new"),
    ]
    DEFAULT_CSS = "ProviderPanel { height: 1fr; } ProviderPanel > Static { height: auto; }"

    def compose(self) -> ComposeResult:
        yield Static(id="provider-table")

    def on_mount(self) -> None:
        self.refresh_project()

    def refresh_project(self) -> None:
        project = self.project
        note = Text("\n" + _("o / n: edit the old / new provider's servers and admin login. Anything else: the "
                             "project file's [old_provider] / [new_provider] tables."), style="italic")
        from mailmig_tui.core.oauth.advice import project_advice

        warnings = [Text(_("⚠ Warning ({side} provider): {warning}").format(side=_(side), warning=warning), style="bold")
                    for side, warning in project_advice(project)]
        # Warnings first: a login that will be refused must not hide below the fold.
        self.query_one("#provider-table", Static).update(Group(*warnings, provider_table(project), note))

    def action_edit_provider(self, side: str) -> None:
        if not self.mailmig.check_writable():
            return
        provider = self.project.old if side == "old" else self.project.new
        title = _("Old provider's servers") if side == "old" else _("New provider's servers")

        def done(values: dict[str, str] | None) -> None:
            if not values:
                return
            change = EndpointChange(
                imap_host=values["imap_host"].strip(), imap_port=int(values["imap_port"]) if values["imap_port"].strip() else None,
                imap_tls=values["imap_tls"].strip(), smtp_host=values["smtp_host"].strip(),
                smtp_port=int(values["smtp_port"]) if values["smtp_port"].strip() else None,
                smtp_tls=values["smtp_tls"].strip(), auth_method=values["auth"].strip() or "user",
                master_user=values["master_user"].strip())
            self.mailmig.mutate(lambda p: apply_change(p.old if side == "old" else p.new, change),
                                _("set the {side} provider's servers").format(side=side))

        self.app.push_screen(FormDialog(title, endpoint_fields(provider), compact=True), done)


def _problem(check: Callable[[str, str], object], field: str, optional: bool = True) -> Callable[[str], str | None]:
    def validate(value: str) -> str | None:
        if optional and not value.strip():
            return None
        try:
            check(value.strip(), field)
        except EndpointError as exc:
            return str(exc).split(": ", 1)[-1]
        return None
    return validate


def _choice(choices: tuple[str, ...]) -> Callable[[str], str | None]:
    def validate(value: str) -> str | None:
        return None if value.strip() in choices else _("one of {choices}").format(choices=", ".join(choices))
    return validate


def endpoint_fields(provider: Provider) -> list[Field]:
    return [
        Field("imap_host", _("IMAP host"), provider.imap.host, "imap.corp.example", _problem(check_host, "imap host")),
        Field("imap_port", _("IMAP port"), str(provider.imap.port or ""), "993", _problem(check_port, "imap port")),
        Field("imap_tls", _("IMAP TLS (ssl, starttls, plain)"), provider.imap.tls, "ssl", _choice(TLS_MODES)),
        Field("smtp_host", _("SMTP host"), provider.smtp.host, "smtp.corp.example", _problem(check_host, "smtp host")),
        Field("smtp_port", _("SMTP port"), str(provider.smtp.port or ""), "465", _problem(check_port, "smtp port")),
        Field("smtp_tls", _("SMTP TLS (ssl, starttls, plain)"), provider.smtp.tls, "ssl", _choice(TLS_MODES)),
        Field("auth", _("Login (user: each user; master or authzid: one admin)"), provider.auth.method, "user",
              _choice(AUTH_METHODS)),
        Field("master_user", _("Admin login (its password: mailmig credentials set)"), provider.auth.master_user,
              "admin@corp.example"),
    ]
