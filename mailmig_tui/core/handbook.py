"""The newcomer handbook: the page an admin hands a new member of staff after the migration.

Everything on it comes from the project and the new provider's preset: webmail, IMAP and SMTP host
names, ports and TLS, the admins to ask, the dates. Nothing is guessed: a value the project does not
have (a generic provider with no host set) is shown as "ask your administrator", never invented.

The text is built once as a list of blocks (heading, paragraph, list, settings table) in the requested
language, then rendered as Markdown or as one self-contained HTML page that prints well.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime

from mailmig_tui.core.i18n import _, current_language, using_language
from mailmig_tui.core.model import Endpoint, Project, now

FORMATS = ("md", "html")

# Providers whose IMAP/SMTP no longer accept a plain password: clients sign in through the provider's
# own account type (a browser window), so the handbook says that instead of "type your password".
OAUTH_PRESETS = {"microsoft-365": "Microsoft 365", "google-workspace": "Google"}


@dataclass
class Block:
    kind: str  # h1 | h2 | p | ul | ol | table | note
    text: str = ""
    items: list[str] = field(default_factory=list)
    rows: list[tuple[str, str]] = field(default_factory=list)


def _tls_words(mode: str) -> str:
    return {"ssl": _("SSL/TLS"), "starttls": _("STARTTLS"), "plain": _("none (not recommended)")}.get(mode, mode)


def _ask_admin() -> str:
    return _("ask your administrator")


def _host(endpoint: Endpoint) -> str:
    return endpoint.host or _ask_admin()


def _port(endpoint: Endpoint) -> str:
    return str(endpoint.port) if endpoint.host and endpoint.port else _ask_admin()


def _tls(endpoint: Endpoint) -> str:
    return _tls_words(endpoint.tls) if endpoint.host else _ask_admin()


def _date(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d") if value else ""


def build(project: Project, language: str = "en", generated: datetime | None = None) -> list[Block]:
    """The handbook's blocks, in `language` (en or zh_CN)."""
    with using_language(language):
        return _build(project, generated or now())


def _build(project: Project, generated: datetime) -> list[Block]:
    new = project.new
    provider = new.name or new.preset
    domain = project.domain
    oauth = OAUTH_PRESETS.get(new.preset)
    space = "" if current_language() == "zh_CN" else " "  # Chinese sentences follow each other unspaced
    blocks: list[Block] = [
        Block("h1", _("Email at {domain}: a guide for new staff").format(domain=domain)),
        Block("p", _("Your company email address ends in @{domain}. Mail is hosted by {provider}. "
                     "This page tells you how to read and send it in a browser, on your phone and on your "
                     "computer, and who to ask when something does not work.").format(domain=domain,
                                                                                      provider=provider)),
        Block("h2", _("In a browser (webmail)")),
    ]
    if new.webmail:
        blocks.append(Block("p", _("Open {url} and sign in with your full email address (for example "
                                   "name@{domain}) and your password.").format(url=new.webmail, domain=domain)))
    else:
        blocks.append(Block("p", _("Your administrator will tell you the webmail address.")))

    blocks.append(Block("h2", _("Settings for mail apps")))
    rows = [
        (_("User name"), _("your full email address, e.g. name@{domain}").format(domain=domain)),
        (_("Incoming mail (IMAP) server"), _host(new.imap)),
        (_("IMAP port"), _port(new.imap)),
        (_("IMAP security"), _tls(new.imap)),
        (_("Outgoing mail (SMTP) server"), _host(new.smtp)),
        (_("SMTP port"), _port(new.smtp)),
        (_("SMTP security"), _tls(new.smtp)),
        (_("SMTP authentication"), _("yes, the same user name and password")),
    ]
    if oauth:
        rows[-1] = (_("SMTP authentication"), _("yes, sign in with your {account} account").format(account=oauth))
    blocks.append(Block("table", rows=rows))
    if oauth:
        blocks.append(Block("note", _("{provider} does not accept a plain password in mail apps. When an app asks "
                                      "for the account type, choose {account}: it opens a sign-in page in a "
                                      "browser.").format(provider=provider, account=oauth)))
    if not (new.imap.host and new.smtp.host):
        blocks.append(Block("note", _("Some settings are not filled in yet; your administrator has them.")))

    blocks.append(Block("h2", _("On your phone")))
    if oauth:
        phone = [
            _("iPhone or iPad: Settings → Mail → Accounts → Add Account → {account}; sign in in the page that "
              "opens.").format(account=oauth),
            _("Android: open the Gmail or Outlook app → Add account → {account}; sign in in the page that "
              "opens.").format(account=oauth),
        ]
    else:
        phone = [
            _("iPhone or iPad: Settings → Mail → Accounts → Add Account → Other → Add Mail Account; enter your "
              "name, address and password, choose IMAP, then the servers from the table above."),
            _("Android: open the Gmail app → Settings → Add account → Other; enter your address, choose "
              "Personal (IMAP), then the password and the servers from the table above."),
        ]
    blocks.append(Block("ul", items=phone))

    blocks.append(Block("h2", _("On your computer")))
    desktop = [
        _("Outlook: File → Add Account; enter your address. If it does not find the settings, choose "
          "Advanced options → Let me set up my account manually → IMAP and use the table above."),
        _("Thunderbird: ☰ → Account Settings → Account Actions → Add Mail Account; enter your name, address "
          "and password. Thunderbird finds the settings itself; check they match the table above."),
        _("Foxmail: Settings → Account → New; enter your address and password, choose IMAP, then the "
          "servers from the table above."),
        _("Apple Mail: Mail → Add Account → Other Mail Account; then the servers from the table above."),
    ]
    blocks.append(Block("ul", items=desktop))

    blocks.append(Block("h2", _("Who to ask")))
    admins = [u for u in project.users if u.role == "admin"]
    if admins:
        blocks.append(Block("ul", items=[f"{u.display_name or u.email} <{u.email}>" for u in admins]))
    else:
        blocks.append(Block("p", _("Your IT department.")))

    blocks.append(Block("h2", _("Questions")))
    off_at = project.plan.dates.get("old_provider_off")
    live_at = project.plan.dates.get("go_live")
    off, went_live = _date(off_at), _date(live_at)
    old_name = project.old.name or project.old.preset
    faq = [
        _("Where is my old mail? Mail from before the move ({old}) was copied into your new mailbox, in the "
          "same folders.").format(old=old_name)
        + (space + (_("The old system was switched off on {date}.") if off_at and off_at <= generated
                  else _("The old system is switched off on {date}.")).format(date=off) if off else ""),
        _("What is my password? Your administrator gives it to you privately; never send it by email or chat. "
          "Change it after your first sign-in in webmail."),
        _("A message I expect did not arrive: look in the Junk (spam) folder first; if it is not there, ask "
          "your administrator with the sender's address and the time it was sent."),
        _("My address stays the same: people write to you at the same @{domain} address as before.").format(
            domain=domain),
    ]
    blocks.append(Block("ul", items=faq))
    footer = _("Generated by mailmig on {date}.").format(date=generated.strftime("%Y-%m-%d"))
    if went_live:
        footer += space + (_("The new system has been in use since {date}.") if live_at and live_at <= generated
                         else _("The new system is in use from {date}.")).format(date=went_live)
    blocks.append(Block("p", footer))
    return blocks


# --- rendering ---------------------------------------------------------------------------------------


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def to_markdown(blocks: list[Block]) -> str:
    out: list[str] = []
    for b in blocks:
        if b.kind == "h1":
            out.append(f"# {b.text}\n")
        elif b.kind == "h2":
            out.append(f"## {b.text}\n")
        elif b.kind == "p":
            out.append(f"{b.text}\n")
        elif b.kind == "note":
            out.append(f"> {b.text}\n")
        elif b.kind in ("ul", "ol"):
            out.append("\n".join(f"- {item}" for item in b.items) + "\n")
        elif b.kind == "table":
            out.append("| | |\n|---|---|\n" + "\n".join(f"| {_md_cell(k)} | {_md_cell(v)} |" for k, v in b.rows) + "\n")
    return "\n".join(out)


_CSS = """
body { font-family: system-ui, "Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", sans-serif;
       max-width: 46rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.5; color: #111; }
h1 { font-size: 1.6rem; border-bottom: 2px solid #333; padding-bottom: .3rem; }
h2 { font-size: 1.2rem; margin-top: 1.6rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; border: 1px solid #999; padding: .3rem .5rem; vertical-align: top; }
th { width: 40%; background: #eee; }
.note { border-left: 4px solid #555; padding: .2rem .8rem; background: #f5f5f5; }
@media print { body { margin: 0; max-width: none; } h2 { break-after: avoid; } table, ul { break-inside: avoid; } }
"""


def to_html(blocks: list[Block], language: str = "en") -> str:
    e = html.escape
    title = next((b.text for b in blocks if b.kind == "h1"), "mailmig")
    lang = "zh-CN" if language == "zh_CN" else "en"
    body: list[str] = []
    for b in blocks:
        if b.kind in ("h1", "h2"):
            body.append(f"<{b.kind}>{e(b.text)}</{b.kind}>")
        elif b.kind == "p":
            body.append(f"<p>{e(b.text)}</p>")
        elif b.kind == "note":
            body.append(f'<p class="note">{e(b.text)}</p>')
        elif b.kind in ("ul", "ol"):
            body.append(f"<{b.kind}>" + "".join(f"<li>{e(i)}</li>" for i in b.items) + f"</{b.kind}>")
        elif b.kind == "table":
            body.append("<table>" + "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in b.rows)
                        + "</table>")
    return (f'<!DOCTYPE html>\n<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n<title>{e(title)}</title>\n'
            f"<style>{_CSS}</style>\n</head>\n<body>\n" + "\n".join(body) + "\n</body>\n</html>\n")


def render(project: Project, language: str = "en", fmt: str = "md", generated: datetime | None = None) -> str:
    blocks = build(project, language, generated)
    return to_html(blocks, language) if fmt == "html" else to_markdown(blocks)
