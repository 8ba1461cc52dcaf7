"""The folder plan: which source folder goes to which target folder, and why.

Rules, in order:
1. `[copy] exclude` globs drop a folder; `[copy.folders]` overrides give its target outright.
2. Special-use folders (\\Sent \\Drafts \\Trash \\Junk \\Archive) — from the source's SPECIAL-USE flags,
   else from the common names providers use without it (Chinese ones included) — go to the target's own
   folder of that role (its SPECIAL-USE flag, else an existing folder with a common name, else the
   default English name). Subfolders follow their parent.
3. Everything else keeps its name. The source's namespace prefix (e.g. `INBOX.`) is taken off and the
   target's put on; levels are joined with the target's separator.
4. A level the target cannot hold (it contains the target's separator, or is empty) is renamed
   reversibly: the separator becomes its full-width twin (`.` → `．`, `/` → `／`), an empty level
   becomes `_`, and a name that would then collide gets ` (2)`, ` (3)`… The plan says so.

Hierarchy placeholders (\\Noselect) are not copied as folders of their own: their children create the
levels they need.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from imapclient.imap_utf7 import decode as decode_utf7
from imapclient.imap_utf7 import encode as encode_utf7

from mailmig_tui.core.copy.config import CopyConfig
from mailmig_tui.core.i18n import N_, _

ROLES = ("\\Sent", "\\Drafts", "\\Trash", "\\Junk", "\\Archive")
# Common names without SPECIAL-USE, most usual first (compared case-insensitively, top level only).
ROLE_NAMES: dict[str, tuple[str, ...]] = {
    "\\Sent": ("Sent", "Sent Items", "Sent Messages", "Sent Mail", "已发送", "已发送邮件", "发件箱", "寄件備份",
               "已傳送郵件", "Gesendet", "Envoyés", "Elementos enviados"),
    "\\Drafts": ("Drafts", "Draft", "草稿箱", "草稿", "草稿夹", "Entwürfe", "Brouillons", "Borradores"),
    "\\Trash": ("Trash", "Deleted Items", "Deleted Messages", "Deleted", "Bin", "已删除", "已删除邮件", "废件箱",
                "垃圾桶", "回收站", "Papierkorb", "Corbeille", "Papelera"),
    "\\Junk": ("Junk", "Spam", "Junk E-mail", "Junk Email", "Junk Mail", "Bulk Mail", "垃圾邮件", "垃圾箱",
               "广告邮件", "Spamverdacht", "Indésirables"),
    "\\Archive": ("Archive", "Archives", "归档", "存档", "Archiv"),
}
DEFAULT_ROLE_NAME = {"\\Sent": "Sent", "\\Drafts": "Drafts", "\\Trash": "Trash", "\\Junk": "Junk", "\\Archive": "Archive"}
FULLWIDTH = {".": "．", "/": "／", "\\": "＼"}
_UNFULLWIDTH = {v: k for k, v in FULLWIDTH.items()}

# Reasons (translated when shown).
R_SAME = N_("same name")
R_INBOX = N_("INBOX")
R_OVERRIDE = N_("[copy.folders] override")
R_EXCLUDED = N_("excluded by [copy] exclude")
R_PLACEHOLDER = N_("hierarchy placeholder (no messages of its own): not copied")
R_ROLE_FLAG = N_("special-use {role}: the source's flag, the target's {how}")
R_ROLE_NAME = N_("special-use {role}: by its name, the target's {how}")
R_ROLE_TAKEN = N_("{role} already comes from {other}: kept as its own folder")
R_RENAMED = N_("renamed: {what}")
R_PARENT = N_("under {parent}")


@dataclass(frozen=True)
class SourceFolder:
    raw: bytes
    name: str  # decoded, with the source's own separator
    delimiter: str
    flags: frozenset[str] = frozenset()  # lower-cased LIST flags (\noselect, \sent …)
    prefix: str = ""  # the source's personal namespace prefix, e.g. "INBOX."

    @property
    def selectable(self) -> bool:
        return not ({"\\noselect", "\\nonexistent"} & self.flags)

    @property
    def parts(self) -> list[str]:
        name = self.name
        if self.prefix and name.upper() != "INBOX" and name.startswith(self.prefix) and len(name) > len(self.prefix):
            name = name[len(self.prefix):]
        return name.split(self.delimiter) if self.delimiter else [name]

    @property
    def label(self) -> str:
        """The name with `/` between levels, as `[copy]` keys are written."""
        return "/".join(self.parts)


@dataclass(frozen=True)
class TargetFolder:
    raw: bytes
    name: str
    flags: frozenset[str] = frozenset()
    uidvalidity: int = 0  # from the listing's STATUS (0: not known)


@dataclass(frozen=True)
class TargetInfo:
    separator: str
    prefix: str = ""
    folders: tuple[TargetFolder, ...] = ()


@dataclass(frozen=True)
class FolderMapping:
    source_raw: bytes
    source_name: str
    target_name: str  # decoded, with the target's prefix and separator ("" when not copied)
    target_raw: bytes
    reason: str  # plain English; `describe()` translates
    reason_args: tuple[tuple[str, str], ...] = ()
    action: str = "copy"  # copy | exclude | skip
    role: str = ""
    renamed: bool = False
    exists: bool = False  # already on the target

    def describe(self) -> str:
        parts = []
        for reason, args in _split_reasons(self.reason, self.reason_args):
            parts.append(_(reason).format(**dict(args)))
        return "; ".join(parts)


def _split_reasons(reason: str, args: tuple[tuple[str, str], ...]) -> list[tuple[str, tuple[tuple[str, str], ...]]]:
    reasons = reason.split("\n")
    return [(r, args) for r in reasons]


def decode_name(raw: bytes) -> str:
    try:
        return str(decode_utf7(raw))
    except Exception:
        return raw.decode("utf-8", "replace")


def encode_name(name: str) -> bytes:
    return bytes(encode_utf7(name))


def source_role(folder: SourceFolder) -> tuple[str, str]:
    """(role, "flag"|"name"|"") of a source folder."""
    for role in ROLES:
        if role.lower() in folder.flags:
            return role, "flag"
    parts = folder.parts
    if len(parts) == 1:
        lowered = parts[0].strip().lower()
        for role in ROLES:
            if lowered in (n.lower() for n in ROLE_NAMES[role]):
                return role, "name"
    return "", ""


def _name_rank(role: str, name: str) -> int:
    names = [n.lower() for n in ROLE_NAMES[role]]
    try:
        return names.index(name.strip().lower())
    except ValueError:
        return len(names)


def target_roles(target: TargetInfo) -> dict[str, tuple[list[str], str]]:
    """role -> (the target folder's levels without prefix, how it was found)."""
    out: dict[str, tuple[list[str], str]] = {}
    for role in ROLES:
        flagged = [f for f in target.folders if role.lower() in f.flags]
        if flagged:
            out[role] = (_target_parts(target, flagged[0].name), _("SPECIAL-USE folder"))
            continue
        named = sorted((_name_rank(role, p[0]), p) for f in target.folders
                       if len(p := _target_parts(target, f.name)) == 1 and _name_rank(role, p[0]) < len(ROLE_NAMES[role]))
        if named:
            out[role] = (named[0][1], _("folder of that name"))
        else:
            out[role] = ([DEFAULT_ROLE_NAME[role]], _("default name"))
    return out


def _target_parts(target: TargetInfo, name: str) -> list[str]:
    if target.prefix and name.upper() != "INBOX" and name.startswith(target.prefix):
        name = name[len(target.prefix):]
    return name.split(target.separator) if target.separator else [name]


def _fix_part(part: str, separator: str) -> tuple[str, str]:
    """A level the target can hold, and what was changed ("" when nothing)."""
    if part == "":
        return "_", _("an empty level")
    if separator and separator in part:
        return part.replace(separator, FULLWIDTH.get(separator, "_")), _("{sep!r} separates levels on the target").format(sep=separator)
    return part, ""


def unfix_part(part: str) -> str:
    """The reverse of the full-width substitution (for reading a target name back)."""
    return "".join(_UNFULLWIDTH.get(ch, ch) for ch in part)


def _excluded(folder: SourceFolder, globs: list[str]) -> bool:
    names = {folder.label, folder.name}
    return any(fnmatch.fnmatchcase(n.lower(), g.lower()) for g in globs for n in names)


def _override(folder: SourceFolder, overrides: dict[str, str]) -> str | None:
    lowered = {k.lower(): v for k, v in overrides.items()}
    for key in (folder.label, folder.name):
        if key in overrides:
            return overrides[key]
        if key.lower() in lowered:
            return lowered[key.lower()]
    return None


def plan_folders(source: list[SourceFolder], target: TargetInfo, config: CopyConfig | None = None) -> list[FolderMapping]:
    """The whole mapping for one user, in source order; see the module docstring for the rules."""
    config = config or CopyConfig()
    roles = target_roles(target)
    existing = {f.name: f for f in target.folders}
    existing_lower = {f.name.lower() for f in target.folders}
    # Who gets each role: a SPECIAL-USE flag beats a name; among names, the most usual name wins.
    claims: dict[str, tuple[int, int, SourceFolder]] = {}
    for i, f in enumerate(source):
        if not f.selectable or _excluded(f, config.exclude) or _override(f, config.folders) is not None:
            continue
        role, how = source_role(f)
        if not role:
            continue
        rank = (0 if how == "flag" else 1 + _name_rank(role, f.parts[0]), i)
        if role not in claims or rank < claims[role][:2]:
            claims[role] = (*rank, f)
    winners = {id(c[2]): role for role, c in claims.items()}
    winner_names = {role: c[2].label for role, c in claims.items()}

    used: set[str] = set()
    out: list[FolderMapping] = []
    for f in source:
        if _excluded(f, config.exclude):
            out.append(FolderMapping(f.raw, f.name, "", b"", R_EXCLUDED, action="exclude"))
            continue
        if not f.selectable:
            out.append(FolderMapping(f.raw, f.name, "", b"", R_PLACEHOLDER, action="skip"))
            continue
        reasons: list[str] = []
        args: dict[str, str] = {}
        role = ""
        renamed = False
        parts = f.parts
        override = _override(f, config.folders)
        if override is not None:
            levels = override.split("/")
            reasons.append(R_OVERRIDE)
        elif len(parts) == 1 and parts[0].upper() == "INBOX":
            levels = ["INBOX"]
            reasons.append(R_INBOX)
        else:
            levels = list(parts)
            if levels[0].upper() == "INBOX" and len(levels) > 1 and target.prefix.upper() == "INBOX" + target.separator:
                levels = levels[1:]  # INBOX's children are the personal namespace itself there
            top_role = winners.get(id(f), "")
            parent_role = ""
            if not top_role and len(levels) > 1:
                # a subfolder of the folder that took a role follows it
                for role_name, label in winner_names.items():
                    if "/".join(parts[:1]) == label:
                        parent_role = role_name
            if top_role:
                role = top_role
                how = source_role(f)[1]
                levels = list(roles[role][0])
                reasons.append(R_ROLE_FLAG if how == "flag" else R_ROLE_NAME)
                args.update(role=role, how=roles[role][1])
            elif parent_role:
                levels = list(roles[parent_role][0]) + levels[1:]
                reasons.append(R_PARENT)
                args["parent"] = "/".join(roles[parent_role][0])
            else:
                src_role, _how = source_role(f)
                if src_role and src_role in winner_names:
                    reasons.append(R_ROLE_TAKEN)
                    args.update(role=src_role, other=winner_names[src_role])
                else:
                    reasons.append(R_SAME)
        fixed = []
        for part in levels:
            new, why = _fix_part(part, target.separator)
            if why:
                renamed = True
                args["what"] = _("{old!r} → {new!r} ({why})").format(old=part, new=new, why=why)
            fixed.append(new)
        if renamed:
            reasons.append(R_RENAMED)
        if fixed == ["INBOX"] or (len(fixed) == 1 and fixed[0].upper() == "INBOX"):
            name = "INBOX"
        else:
            name = target.prefix + target.separator.join(fixed)
        base = name
        n = 2
        while name.lower() in used:
            name = f"{base} ({n})"
            n += 1
        if name != base:
            renamed = True
            if R_RENAMED not in reasons:
                reasons.append(R_RENAMED)
            args["what"] = _("{old!r} → {new!r} (another folder has that name)").format(old=base, new=name)
        used.add(name.lower())
        out.append(FolderMapping(f.raw, f.name, name, encode_name(name), "\n".join(reasons),
                                 tuple(sorted(args.items())), "copy", role, renamed,
                                 name in existing or name.lower() in existing_lower))
    return out
