"""The report as a list of blocks (headings, paragraphs, key/value lists, tables), rendered as Markdown
or as one self-contained HTML page that prints well. Every value is escaped in both: names come from
servers and from hand-edited project files and are never trusted."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

# A cell's status is its leading symbol (never its colour alone): ✓ done/passed, ✗ failed, ! warning,
# — not run / unknown. HTML adds a class per symbol for a discreet colour on screen.
MARKS = {"✓": "ok", "✗": "fail", "!": "warn", "—": "none", "?": "none"}
OK, FAIL, WARN, NONE = "✓", "✗", "!", "—"


@dataclass
class Block:
    kind: str  # h1 | h2 | h3 | p | note | kv | table | ul
    text: str = ""
    rows: list[list[str]] = field(default_factory=list)
    headers: list[str] = field(default_factory=list)
    items: list[str] = field(default_factory=list)


# --- Markdown ------------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\*\[\]<>|&])")


def md_text(text: str) -> str:
    """Text that Markdown shows as it is: no markup, no HTML, no table breaks, one line."""
    text = " ".join(text.replace("\r", " ").split("\n"))
    return _MD_SPECIAL.sub(r"\\\1", text)


def to_markdown(blocks: list[Block]) -> str:
    out: list[str] = []
    for b in blocks:
        if b.kind == "h1":
            out.append(f"# {md_text(b.text)}\n")
        elif b.kind == "h2":
            out.append(f"## {md_text(b.text)}\n")
        elif b.kind == "h3":
            out.append(f"### {md_text(b.text)}\n")
        elif b.kind == "p":
            out.append(f"{md_text(b.text)}\n")
        elif b.kind == "note":
            out.append(f"> {md_text(b.text)}\n")
        elif b.kind == "ul":
            out.append("\n".join(f"- {md_text(i)}" for i in b.items) + "\n")
        elif b.kind == "kv":
            lines = ["| | |", "|---|---|"] + [f"| **{md_text(k)}** | {md_text(v)} |" for k, v, *_ in b.rows]
            out.append("\n".join(lines) + "\n")
        elif b.kind == "table":
            lines = ["| " + " | ".join(md_text(h) for h in b.headers) + " |",
                     "|" + "|".join("---" for _h in b.headers) + "|"]
            lines += ["| " + " | ".join(md_text(c) for c in row) + " |" for row in b.rows]
            out.append("\n".join(lines) + "\n")
    return "\n".join(out)


# --- HTML ----------------------------------------------------------------------------------------

CSS = """
:root { color-scheme: light; }
body { font-family: system-ui, "Noto Sans CJK SC", "WenQuanYi Micro Hei", "PingFang SC", "Microsoft YaHei",
       sans-serif; max-width: 62rem; margin: 2rem auto; padding: 0 1.2rem; line-height: 1.45; color: #111;
       background: #fff; font-size: 15px; }
h1 { font-size: 1.7rem; margin: 0 0 .2rem; border-bottom: 3px solid #1f4e79; padding-bottom: .3rem; color: #1f4e79; }
h2 { font-size: 1.2rem; margin: 1.8rem 0 .5rem; padding-bottom: .15rem; border-bottom: 1px solid #bbb; color: #1f4e79; }
h3 { font-size: 1rem; margin: 1rem 0 .3rem; }
p { margin: .4rem 0; }
p.lead { color: #444; margin-bottom: 1rem; }
table { border-collapse: collapse; width: 100%; margin: .4rem 0 .8rem; font-size: .92rem; }
th, td { text-align: left; border: 1px solid #c8c8c8; padding: .25rem .5rem; vertical-align: top;
         overflow-wrap: anywhere; }
thead th { background: #e8eef5; font-weight: 600; overflow-wrap: normal; }
table.kv th { width: 30%; background: #f3f5f8; font-weight: 600; }
td.date { white-space: nowrap; }
tbody td:first-child { overflow-wrap: normal; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.ok { color: #176317; } .fail { color: #a00000; font-weight: 600; } .warn { color: #8a5a00; } .none { color: #666; }
p.status.none { color: #555; }
.note { border-left: 4px solid #8a5a00; padding: .3rem .8rem; background: #fbf6ea; margin: .5rem 0; }
ul { margin: .3rem 0 .8rem; padding-left: 1.4rem; }
footer { margin-top: 2rem; color: #666; font-size: .85rem; border-top: 1px solid #ccc; padding-top: .4rem; }
@page { margin: 16mm 14mm; }
@media print {
  body { margin: 0; max-width: none; font-size: 10.5pt; }
  h2 { break-after: avoid; page-break-after: avoid; }
  h2.section { break-before: auto; }
  table, .note, ul { break-inside: auto; }
  tr, td, th { break-inside: avoid; page-break-inside: avoid; }
  thead { display: table-header-group; }
  .ok, .fail, .warn, .none { color: #000; }
  a { color: #000; text-decoration: none; }
}
"""

_NUMBER = re.compile(r"^[\d,.]+( [kMGT]?B)?$")
_DATE = re.compile(r"^(\S )?\d{4}-\d\d-\d\d( \d\d:\d\d(:\d\d)?)?$")


def _cell(tag: str, text: str) -> str:
    classes = []
    mark = MARKS.get(text[:1])
    if mark:
        classes.append(mark)
    if _NUMBER.match(text):
        classes.append("num")
    elif _DATE.match(text):
        classes.append("date")
    attr = f' class="{" ".join(classes)}"' if classes else ""
    return f"<{tag}{attr}>{html.escape(text)}</{tag}>"


def to_html(blocks: list[Block], language: str = "en", footer: str = "") -> str:
    e = html.escape
    title = next((b.text for b in blocks if b.kind == "h1"), "mailmig")
    lang = "zh-CN" if language == "zh_CN" else "en"
    body: list[str] = []
    first_p = True
    for b in blocks:
        if b.kind == "h1":
            body.append(f"<h1>{e(b.text)}</h1>")
        elif b.kind == "h2":
            body.append(f'<h2 class="section">{e(b.text)}</h2>')
        elif b.kind == "h3":
            body.append(f"<h3>{e(b.text)}</h3>")
        elif b.kind == "p":
            mark = MARKS.get(b.text[:1])
            cls = "lead" if first_p else f"status {mark}" if mark else ""
            body.append(f'<p class="{cls}">{e(b.text)}</p>' if cls else f"<p>{e(b.text)}</p>")
            first_p = False
        elif b.kind == "note":
            body.append(f'<p class="note">{e(b.text)}</p>')
        elif b.kind == "ul":
            body.append("<ul>" + "".join(f"<li>{e(i)}</li>" for i in b.items) + "</ul>")
        elif b.kind == "kv":
            body.append('<table class="kv"><tbody>' + "".join(
                f"<tr><th>{e(k)}</th>{_cell('td', v)}</tr>" for k, v, *_ in b.rows) + "</tbody></table>")
        elif b.kind == "table":
            head = "<thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in b.headers) + "</tr></thead>"
            rows = "".join("<tr>" + "".join(_cell("td", c) for c in row) + "</tr>" for row in b.rows)
            body.append(f"<table>{head}<tbody>{rows}</tbody></table>")
    if footer:
        body.append(f"<footer>{e(footer)}</footer>")
    return (f'<!DOCTYPE html>\n<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n<title>{e(title)}</title>\n'
            f"<style>{CSS}</style>\n</head>\n<body>\n" + "\n".join(body) + "\n</body>\n</html>\n")
