"""What the migration report says: read from the project file and the SQLite files beside it, never asked
of a server.

Sources: the plan (core/plan.py) and the activity log; `[backup.last_run]`/`[backup.last_verify]` and the
archive's `index.sqlite`; `[copy.last_run]`, `[copy.users]` and the identity map; `[accounts.last_check]`;
`[matrix.last_run]` and the matrix's SQLite cells; the DNS watch history (core/dns/history.py);
`[golive]` (the gate's last check, the final delta, overrides); the send log; the monitor's history; the
checklist. Whatever has no record is said so ("not run", "unknown"): missing evidence is never shown as
success, and a check is only ✓ when its record says it passed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from mailmig_tui import __version__
from mailmig_tui.core.i18n import N_, _, using_language
from mailmig_tui.core.model import PLAN_KEYS, Project, now, subtable
from mailmig_tui.core.phases import Phase, PhaseStatus
from mailmig_tui.core.plan import label as plan_label
from mailmig_tui.core.report.blocks import FAIL, NONE, OK, WARN, Block

MAX_EVENTS = 60
RUN_STATES = {"done": N_("done"), "failed": N_("failed"), "cancelled": N_("stopped")}
SOURCES = {"old": N_("the old provider"), "archive": N_("the backup archive")}




def when(value: Any) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if isinstance(value, datetime) else _("unknown")


def day(value: Any) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M") if isinstance(value, datetime) else "—"


def mb(n: Any) -> str:
    from mailmig_tui.core.backup.summary import human_bytes

    try:
        return human_bytes(int(n))
    except (TypeError, ValueError):
        return _("unknown")


def count(n: Any) -> str:
    try:
        return f"{int(n):,}"
    except (TypeError, ValueError):
        return _("unknown")


def _list(value: Any) -> list[Any]:
    """A list the engines wrote (errors, failures…); anything else a hand edit left there reads as none."""
    return list(value) if isinstance(value, list) else []


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _strict_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def run_result(run: dict[str, Any], users: int, all_done: str) -> str:
    """A backup's or copy's run: ✓ only when its record says every user of the project finished."""
    total, ok = _strict_int(run.get("users")), _strict_int(run.get("users_ok"))
    failed, cancelled = _strict_int(run.get("users_failed")), _strict_int(run.get("users_cancelled"))
    if total is None or ok is None or failed is None or cancelled is None:
        return f"{NONE} " + _("unknown (the record is incomplete)")
    if failed or cancelled:
        return f"{FAIL} " + _("{failed} failed, {cancelled} stopped").format(failed=failed, cancelled=cancelled)
    if ok == total and ok >= users:
        return f"{OK} " + all_done
    return f"{WARN} " + _("{ok} of {n} users in the last run").format(ok=ok, n=users)


def _where(folder: Path, project_path: Path) -> str:
    """A folder beside the project as its name there (the report travels with the project), else in full."""
    base = project_path.absolute().parent
    try:
        return _("{path} (beside the project file)").format(path=folder.relative_to(base))
    except ValueError:
        return str(folder)


def not_run(what: str) -> str:
    return f"{NONE} " + _("not run: {what}").format(what=what)


@contextmanager
def read_only(path: Path) -> Iterator[sqlite3.Connection | None]:
    """A read-only connection to an SQLite file that exists (None if it does not or cannot be read):
    the report never creates or changes the engines' files."""
    if not path.is_file():
        yield None
        return
    try:
        db = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=10)
        db.execute("SELECT 1 FROM sqlite_master LIMIT 1")
    except sqlite3.Error:
        yield None
        return
    try:
        yield db
    finally:
        db.close()


def _rows(db: sqlite3.Connection | None, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if db is None:
        return []
    try:
        return list(db.execute(sql, args))
    except sqlite3.Error:
        return []


# --- the sections ----------------------------------------------------------------------------------


def _summary(project: Project, project_path: Path, generated: datetime) -> list[Block]:
    old, new = project.old, project.new
    pilots = sum(1 for u in project.users if u.role == "pilot")
    admins = sum(1 for u in project.users if u.role == "admin")
    zone = generated.astimezone().strftime("%z")
    blocks = [
        Block("h1", _("Migration report: {domain}").format(domain=project.domain)),
        Block("p", _("Generated by mailmig {version} on {date} from the project file {file} and the records beside it. "
                     "Times are local (UTC{zone}). Nothing here was asked of a server while writing it: each line "
                     "is what mailmig recorded when it happened; what has no record says so.").format(
            version=__version__, date=when(generated), file=project_path.name, zone=zone[:3] + ":" + zone[3:])),
        Block("kv", rows=[
            [_("Domain"), project.domain],
            [_("Old provider"), f"{old.name or old.preset} ({old.imap.host or _('no IMAP host set')})"],
            [_("New provider"), f"{new.name or new.preset} ({new.imap.host or _('no IMAP host set')})"],
            [_("Users"), _("{n}; pilots: {pilots}, admins: {admins}").format(n=len(project.users), pilots=pilots,
                                                                          admins=admins)],
        ]),
        Block("h2", _("Phases")),
        Block("p", _("The status of each phase as set in the project, and its checklist.")),
    ]
    rows = []
    for phase in Phase:
        status = project.phases[phase]
        items = project.items_for(phase)
        done = sum(1 for c in items if c.done)
        mark = {PhaseStatus.DONE: OK, PhaseStatus.BLOCKED: FAIL, PhaseStatus.IN_PROGRESS: WARN}.get(status, NONE)
        rows.append([f"{phase.number}. {phase.label}", f"{mark} {status.label}", f"{done}/{len(items)}"])
    blocks.append(Block("table", headers=[_("Phase"), _("Status"), _("Checklist done")], rows=rows))
    blocks.append(Block("h2", _("Users")))
    if project.users:
        roles = {"user": N_("user"), "pilot": N_("pilot"), "admin": N_("admin")}
        blocks.append(Block("table", headers=[_("User"), _("Name"), _("Department"), _("Role"), _("Login on the new side")],
                            rows=[[u.email, u.display_name or "—", u.department or "—", _(roles.get(u.role, u.role)),
                                   u.effective_new_login] for u in project.users]))
    else:
        blocks.append(Block("p", f"{NONE} " + _("The project lists no users.")))
    return blocks


def _happened(project: Project, watch: Any) -> dict[str, tuple[datetime | None, str]]:
    """When each planned step really happened, and the record that says so."""
    backup, copy, golive = project.section("backup"), project.section("copy"), project.section("golive")
    out: dict[str, tuple[datetime | None, str]] = {}

    def ticked(item_id: str) -> tuple[datetime | None, str] | None:
        try:
            item = project.item(item_id)
        except KeyError:
            return None
        if item.done and item.done_at:
            return item.done_at, _("checklist “{title}” ticked by {who}").format(title=item.title, who=item.done_by or "?")
        return None

    out["ttl_lowered"] = ticked("prep-ttl") or (None, _("no record (tick “Lower the MX TTL” in the checklist)"))
    run = subtable(backup, "last_run")
    if isinstance(run.get("started"), datetime):
        out["backup_start"] = run["started"], _("last backup run, finished {when}").format(when=when(run.get("finished")))
    else:
        out["backup_start"] = None, _("no backup has run")
    copy_run = subtable(copy, "last_run")
    users = subtable(copy, "users")
    prestaged: list[datetime] = [e["copied_at"] for e in users.values() if isinstance(e, dict)
                                 and e.get("phase") == "prestage" and isinstance(e.get("copied_at"), datetime)]
    if copy_run.get("phase") == "prestage" and isinstance(copy_run.get("started"), datetime):
        out["prestage_copy"] = copy_run["started"], _("last copy run (pre-stage)")
    elif prestaged:
        out["prestage_copy"] = min(prestaged), _("first user whose last copy was a pre-stage")
    else:
        out["prestage_copy"] = ticked("acct-prestage") or (None, _("no pre-stage copy recorded"))
    auth_since = subtable(golive, "observed").get("auth_new_since")
    if watch is not None and watch.cutover_at is not None:
        out["mx_cutover"] = watch.cutover_at, _("DNS watch: every authoritative server first seen serving the new MX")
    elif isinstance(auth_since, datetime):
        out["mx_cutover"] = auth_since, _("go-live gate: every authoritative server seen serving the new MX since")
    else:
        out["mx_cutover"] = None, _("not observed (no DNS watch or gate check saw the new MX)")
    if isinstance(golive.get("done_at"), datetime):
        overridden = any(isinstance(o, dict) and o.get("what") == "go_live" for o in _list(golive.get("overrides")))
        out["go_live"] = golive["done_at"], (_("marked done over a failing gate (override)") if overridden
                                             else _("marked done through the go-live gate"))
    else:
        out["go_live"] = None, _("not marked done")
    if isinstance(golive.get("old_provider_off_at"), datetime):
        out["old_provider_off"] = golive["old_provider_off_at"], _("recorded as switched off")
    else:
        out["old_provider_off"] = ticked("live-close-old") or (None, _("not recorded"))
    return out


def _delay(planned: datetime | None, actual: datetime | None) -> str:
    if planned is None or actual is None:
        return "—"
    delta = actual - planned
    minutes = int(abs(delta.total_seconds()) // 60)
    if minutes < 1:
        return _("on time")
    days, rest = divmod(minutes, 1440)
    text = (_("{d} d {h} h").format(d=days, h=rest // 60) if days else
            _("{h} h {m} min").format(h=rest // 60, m=rest % 60) if rest >= 60 else _("{m} min").format(m=rest))
    return _("{delta} late").format(delta=text) if delta > timedelta(0) else _("{delta} early").format(delta=text)


def _plan(project: Project, watch: Any, generated: datetime) -> list[Block]:
    happened = _happened(project, watch)
    rows = []
    for key in PLAN_KEYS:
        planned = project.plan.dates.get(key)
        actual, evidence = happened[key]
        if actual is not None:
            state = f"{OK} {when(actual)}"
        elif planned is not None and planned < generated:
            state = f"{FAIL} " + _("not done (planned date passed)")
        else:
            state = f"{NONE} " + _("not yet")
        rows.append([plan_label(key), day(planned) if planned else _("not planned"), state, _delay(planned, actual),
                     evidence])
    blocks = [Block("h2", _("Plan and what happened")),
              Block("table", headers=[_("Step"), _("Planned"), _("Happened"), _("Difference"), _("Evidence")], rows=rows)]
    if project.plan.old_mx_ttl:
        blocks.append(Block("p", _("Old MX TTL in the plan: {ttl} s.").format(ttl=project.plan.old_mx_ttl)))
    return blocks


def _verify_word(value: str) -> str:
    return {"ok": f"{OK} " + _("verified"), "different": f"{FAIL} " + _("differs"),
            "error": f"{FAIL} " + _("could not verify")}.get(value, f"{NONE} " + _("not verified"))


def _backup(project: Project, project_path: Path, glance: list[list[str]]) -> list[Block]:
    from mailmig_tui.core.backup.engine import INDEX_NAME, default_dest

    section = project.section("backup")
    run, check = subtable(section, "last_run"), subtable(section, "last_verify")
    blocks = [Block("h2", _("Backup"))]
    if not run:
        blocks.append(Block("p", not_run(_("no backup has run (`mailmig backup`)"))))
        glance.append([_("Backup"), not_run(_("no backup has run (`mailmig backup`)"))])
        return blocks
    dest = default_dest(project_path, project)
    finished = run.get("finished")
    result = run_result(run, len(project.users), _("every user backed up"))
    verified_after = isinstance(check.get("at"), datetime) and isinstance(finished, datetime) and check["at"] >= finished
    if not check:
        verify = not_run(_("the backup has not been verified (`mailmig verify`)"))
    elif not verified_after:
        verify = f"{FAIL} " + _("last verify ({when}) is older than the last backup run").format(when=when(check.get("at")))
    elif _int(check.get("users_ok")) == _int(check.get("users")) and _int(check.get("users")) >= len(project.users):
        verify = f"{OK} " + _("{n} users verified on {when}").format(n=_int(check.get("users")), when=when(check["at"]))
    else:
        verify = f"{FAIL} " + _("{bad} of {n} users differ or were not verified ({when})").format(
            bad=max(len(project.users), _int(check.get("users"))) - _int(check.get("users_ok")),
            n=max(len(project.users), _int(check.get("users"))), when=when(check["at"]))
    glance.append([_("Backup"), result if result.startswith(FAIL) else verify])
    blocks.append(Block("kv", rows=[
        [_("Archive"), _where(dest, project_path)],
        [_("Last run"), _("{start} to {end}").format(start=when(run.get("started")), end=when(finished))],
        [_("Result"), result],
        [_("Fetched in the last run"), _("{messages} messages, {size}").format(messages=count(run.get("messages")),
                                                                             size=mb(run.get("bytes")))],
        [_("Verify"), verify],
    ]))
    errors = [str(e) for e in _list(run.get("errors"))] + [str(d) for d in _list(check.get("differences"))]
    if errors:
        blocks.append(Block("h3", _("Problems recorded")))
        blocks.append(Block("ul", items=errors[:50]))
    # Per user: what the archive's index holds (read, never recomputed), and the verify's verdict.
    per_user: dict[str, tuple[int, int, int, int]] = {}
    with read_only(dest / INDEX_NAME) as db:
        for user, n, size, folders, deleted in _rows(db, "SELECT user, count(*), coalesce(sum(size), 0), "
                                                     "count(DISTINCT folder), sum(deleted_on_server != '') "
                                                     "FROM messages GROUP BY user"):
            per_user[str(user)] = (int(n), int(size), int(folders), int(deleted or 0))
        index_found = db is not None
    results = check.get("results") if verified_after and isinstance(check.get("results"), dict) else None
    differing = {str(d).split(":", 1)[0] for d in _list(check.get("differences"))} if verified_after else set()
    rows = []
    for u in project.users:
        n, size, folders, deleted = per_user.get(u.email, (0, 0, 0, 0))
        if results is not None:
            verdict = _verify_word(str(results.get(u.email, "")))
        elif u.email in differing:
            verdict = _verify_word("different")
        elif verified_after and _int(check.get("users_ok")) == _int(check.get("users")) >= len(project.users):
            verdict = _verify_word("ok")
        else:
            verdict = _verify_word("")
        archived = count(n) if index_found else _("unknown")
        rows.append([u.email, archived, mb(size) if index_found else _("unknown"), count(folders) if index_found
                     else _("unknown"), count(deleted) if index_found else _("unknown"), verdict])
    blocks.append(Block("h3", _("Per user")))
    if not index_found:
        blocks.append(Block("note", _("The archive's index ({path}) was not found: the per-user counts are unknown.")
                            .format(path=dest / INDEX_NAME)))
    blocks.append(Block("table", headers=[_("User"), _("Messages archived"), _("Size"), _("Folders"),
                                          _("Gone from server (kept)"), _("Verify")], rows=rows))
    return blocks


def _copy(project: Project, project_path: Path, glance: list[list[str]]) -> list[Block]:
    from mailmig_tui.core.copy.config import default_copy_dir, parse_copy_section
    from mailmig_tui.core.copy.engine import IDMAP_NAME
    from mailmig_tui.core.copy.summary import phase_label

    section = project.section("copy")
    run, check, users = subtable(section, "last_run"), subtable(section, "last_verify"), subtable(section, "users")
    blocks = [Block("h2", _("Copy to the new provider"))]
    if not run and not users:
        blocks.append(Block("p", not_run(_("nothing has been copied (`mailmig copy`)"))))
        glance.append([_("Copy"), not_run(_("nothing has been copied (`mailmig copy`)"))])
        return blocks
    try:
        folder = default_copy_dir(project_path, parse_copy_section(section))
    except ValueError:
        folder = default_copy_dir(project_path, parse_copy_section(None))
    if run:
        blocks.append(Block("kv", rows=[
            [_("Last run"), _("{phase} from {source}: {start} to {end}").format(
                phase=phase_label(str(run.get("phase", ""))),
                source=_(SOURCES.get(str(run.get("source", "?")), str(run.get("source", "?")))),
                start=when(run.get("started")), end=when(run.get("finished")))],
            [_("Result"), run_result(run, len(project.users), _("every user copied"))],
            [_("Copied in the last run"), _("{messages} messages, {size}").format(
                messages=count(run.get("messages")), size=mb(run.get("bytes")))],
            [_("Last verify"), (f"{OK} " if check and _int(check.get("users_ok")) == _int(check.get("users")) else
                                f"{FAIL} ") + _("{ok}/{n} users match ({when})").format(
                ok=_int(check.get("users_ok")), n=_int(check.get("users")), when=when(check.get("at")))
             if check else not_run(_("`mailmig verify --copy`"))],
        ]))
        errors = [str(e) for e in _list(run.get("errors"))] + [str(d) for d in _list(check.get("differences"))]
        if errors:
            blocks.append(Block("h3", _("Problems recorded")))
            blocks.append(Block("ul", items=errors[:50]))
    mapped: dict[str, tuple[int, int]] = {}
    with read_only(folder / IDMAP_NAME) as db:
        for user, n, size in _rows(db, "SELECT user, count(*), coalesce(sum(size), 0) FROM messages "
                                       "WHERE state = 'done' GROUP BY user"):
            mapped[str(user)] = (int(n), int(size))
        idmap_found = db is not None
    rows = []
    good = 0
    for u in project.users:
        entry = users.get(u.email) if isinstance(users.get(u.email), dict) else {}
        assert isinstance(entry, dict)
        n, size = mapped.get(u.email, (0, 0))
        if entry.get("copied_at"):
            state = str(entry.get("state", "?"))
            last = (f"{OK} " if state == "done" else f"{FAIL} ") + _("{state}, {phase}, {when}").format(
                state=_(RUN_STATES.get(state, state)), phase=phase_label(str(entry.get("phase", ""))), when=day(entry.get("copied_at")))
        else:
            last = not_run(_("not copied"))
        verified = entry.get("verified_at")
        if isinstance(verified, datetime) and isinstance(entry.get("copied_at"), datetime) and verified >= entry["copied_at"]:
            verdict = _verify_word(str(entry.get("verify", "")))
            if entry.get("verify") == "different":
                verdict += " " + _("({missing} missing, {extra} extra, {different} different)").format(
                    missing=_int(entry.get("verify_missing")), extra=_int(entry.get("verify_extra")),
                    different=_int(entry.get("verify_different")))
        elif isinstance(verified, datetime):
            verdict = f"{FAIL} " + _("verified before the last copy")
        else:
            verdict = _verify_word("")
        good += last.startswith(OK) and verdict.startswith(OK)
        rows.append([u.email, count(n) if idmap_found else _("unknown"), mb(size) if idmap_found else _("unknown"),
                     last, verdict])
    glance.append([_("Copy"), (f"{OK} " if good == len(project.users) else f"{FAIL} ") + _(
        "{ok} of {n} users copied and verified since their last copy").format(ok=good, n=len(project.users))])
    blocks.append(Block("h3", _("Per user")))
    if not idmap_found:
        blocks.append(Block("note", _("The identity map ({path}) was not found: the copied counts are unknown.").format(
            path=folder / IDMAP_NAME)))
    blocks.append(Block("table", headers=[_("User"), _("Messages on the new side"), _("Size"), _("Last copy"),
                                          _("Verify")], rows=rows))
    return blocks


def _accounts(project: Project, glance: list[list[str]]) -> list[Block]:
    last = subtable(project.section("accounts"), "last_check")
    blocks = [Block("h2", _("Account logins"))]
    if not last:
        blocks.append(Block("p", not_run(_("the logins have not been checked (`mailmig accounts check`)"))))
        glance.append([_("Account logins"), not_run(_("the logins have not been checked (`mailmig accounts check`)"))])
        return blocks
    users, ok = _int(last.get("users")), _int(last.get("users_ok"))
    mark = OK if ok == users and users >= len(project.users) else FAIL
    line = f"{mark} " + _("Last check {when}: {ok} of {users} users log in on both sides.").format(
        when=when(last.get("at")), ok=ok, users=users)
    blocks.append(Block("p", line))
    glance.append([_("Account logins"), line])
    failures = [str(f) for f in _list(last.get("failures"))]
    if failures:
        blocks.append(Block("ul", items=failures[:50]))
    return blocks


_STATE_WORDS = {"new": N_("new"), "old": N_("old"), "mixed": N_("mixed"), "negative": N_("absent"),
                "error": N_("no answer")}


def _state_word(state: str) -> str:
    mark = {"new": OK, "old": NONE, "mixed": WARN, "negative": NONE, "error": FAIL}.get(state, NONE)
    return f"{mark} {_(_STATE_WORDS.get(state, state))}"


def _dns(project: Project, watch: Any, glance: list[list[str]]) -> list[Block]:
    blocks = [Block("h2", _("DNS timeline"))]
    golive = project.section("golive")
    drained = subtable(golive, "observed").get("drained_at")
    if watch is None:
        glance.append([_("DNS"), not_run(_("no DNS watch recorded"))])
        blocks.append(Block("p", not_run(_("the propagation watcher has no history for this project "
                                            "(`mailmig dns watch`, or the DNS tab's Propagation)"))))
    else:
        kv = [
            [_("Watched"), _("{start} to {end} ({n} sweeps)").format(start=when(watch.first_sweep),
                                                                    end=when(watch.last_sweep), n=watch.sweeps)],
            [_("MX cutover"), f"{OK} " + _("every authoritative server served the new MX at {when}").format(
                when=when(watch.cutover_at)) if watch.cutover_at else f"{NONE} " + _("not seen: the zone still "
                                                                                      "published the old MX")],
            [_("Propagation complete"), f"{OK} " + when(watch.complete_at) if watch.complete_at else f"{NONE} " + _(
                "not seen by the watcher")],
        ]
        blocks.append(Block("kv", rows=kv))
        glance.append([_("DNS"), f"{OK} " + _("propagation complete at {when}").format(when=when(watch.complete_at))
                       if watch.complete_at else f"{WARN} " + _("cutover at {when}; propagation not seen complete").format(
                           when=when(watch.cutover_at)) if watch.cutover_at else f"{NONE} " + _(
                           "the zone still published the old MX")])
        rows = []
        for kind, label in (("authoritative", _("authoritative")), ("resolver", _("resolver"))):
            # in the order they flipped (never-flipped last): the timeline reads top to bottom
            servers = sorted((s for s in watch.states if s.kind == kind and s.record == "mx"),
                             key=lambda s: (s.first_new is None, s.first_new or s.last_at, s.server))
            for s in servers:
                first = when(s.first_new) if s.first_new else f"{NONE} " + _("never seen")
                again = ""
                if s.first_new and s.state == "new" and s.since > s.first_new:
                    again = " · " + _("went back, new again since {when}").format(when=when(s.since))
                rows.append([s.server, label, first, _state_word(s.state) + again, when(s.last_at)])
        if rows:
            blocks.append(Block("h3", _("When each server first answered the new MX")))
            blocks.append(Block("table", headers=[_("Server"), _("Kind"), _("First answered the new MX"),
                                                  _("Last answer"), _("Last asked")], rows=rows))
        others = sorted({s.record for s in watch.states if s.record != "mx"})
        if others:
            rows = []
            for record in others:
                states = [s for s in watch.states if s.record == record and s.kind == "resolver"]
                on_new = [s for s in states if s.state == "new"]
                firsts = [s.first_new for s in states if s.first_new]
                rows.append([record, f"{len(on_new)}/{len(states)}", when(max(firsts)) if firsts and len(firsts) == len(
                    states) else f"{NONE} " + _("not every resolver yet")])
            blocks.append(Block("h3", _("Other records")))
            blocks.append(Block("table", headers=[_("Record"), _("Resolvers on the new value"), _("Last one flipped")],
                                rows=rows))
    if isinstance(drained, datetime):
        blocks.append(Block("p", _("Old MX drained (its TTL ran out since the cutover, by the go-live gate's clock): "
                                   "{when}.").format(when=when(drained))))
    return blocks


def _matrix(project: Project, project_path: Path, glance: list[list[str]]) -> list[Block]:
    from mailmig_tui.core.matrix.checks import CHECK_IDS, NOT_RUN, SYMBOLS, WORDS, title
    from mailmig_tui.core.matrix.config import db_path, parse_matrix_section

    run = subtable(project.section("matrix"), "last_run")
    blocks = [Block("h2", _("Test matrix"))]
    if not run:
        blocks.append(Block("p", not_run(_("the test matrix has not run (`mailmig test`)"))))
        glance.append([_("Test matrix"), not_run(_("the test matrix has not run (`mailmig test`)"))])
        return blocks
    blocks.append(Block("p", _("Last run {when}: {passed} passed, {failed} failed, {warnings} warnings, {not_run} not "
                               "run ({cells} cells); pilots {pp}/{p} pass, everyone {up}/{u}.").format(
        when=when(run.get("at")), passed=_int(run.get("passed")), failed=_int(run.get("failed")),
        warnings=_int(run.get("warnings")), not_run=_int(run.get("not_run")), cells=_int(run.get("cells")),
        pp=_int(run.get("pilots_passed")), p=_int(run.get("pilots")), up=_int(run.get("users_passed")),
        u=_int(run.get("users"))) + (" " + _("The run was stopped before the end.") if run.get("cancelled") else "")))
    pilots, users_n = _int(run.get("pilots")), len(project.users)
    all_pass = _int(run.get("users_passed")) == users_n > 0 and _int(run.get("pilots_passed")) == pilots
    glance.append([_("Test matrix"), (f"{OK} " if all_pass else f"{FAIL} ") + _(
        "pilots {pp}/{p} pass, everyone {up}/{u} ({when})").format(
        pp=_int(run.get("pilots_passed")), p=pilots, up=_int(run.get("users_passed")), u=users_n,
        when=when(run.get("at")))])
    try:
        path = db_path(project_path, parse_matrix_section(project.section("matrix")))
    except ValueError:
        path = db_path(project_path, parse_matrix_section(None))
    latest: dict[tuple[str, str], tuple[str, str]] = {}
    with read_only(path) as db:
        runs = _rows(db, "SELECT count(*), min(started) FROM runs")
        if runs and runs[0][0]:
            blocks.append(Block("p", _("{n} runs recorded since {first}; each cell below is its latest result.").format(
                n=runs[0][0], first=when(datetime.fromisoformat(str(runs[0][1]))) if runs[0][1] else "?")))
        # the newest real result of every cell; a later "not run" never hides an earlier result
        for user, check, status, reason in _rows(db, "SELECT user, check_id, status, reason FROM cells ORDER BY run, rowid"):
            key = (str(user), str(check))
            if status != NOT_RUN or key not in latest or latest[key][0] == NOT_RUN:
                latest[key] = (str(status), str(reason))
        found = db is not None
    if not found:
        blocks.append(Block("note", _("The matrix's results ({path}) were not found: per-user cells are unknown.").format(
            path=path)))
        return blocks
    rows = []
    reasons = []
    for u in project.users:
        cells = []
        for check in CHECK_IDS:
            status, reason = latest.get((u.email.lower(), check), (NOT_RUN, ""))
            cells.append(f"{SYMBOLS.get(status, '?')} {_(WORDS.get(status, status))}")
            if status == "failed" and reason:
                reasons.append(f"{u.email} {title(check)}: {reason}")
        rows.append([u.email + (f" ({_('pilot')})" if u.role == "pilot" else ""), *cells])
    blocks.append(Block("table", headers=[_("User"), *[title(c) for c in CHECK_IDS]], rows=rows))
    if reasons:
        blocks.append(Block("h3", _("Failures")))
        blocks.append(Block("ul", items=reasons[:50]))
    return blocks


def _golive(project: Project, project_path: Path, glance: list[list[str]]) -> list[Block]:
    from mailmig_tui.core.mailout.log import sendlog_path

    golive = project.section("golive")
    last = subtable(golive, "last_check")
    blocks = [Block("h2", _("Go-live gate"))]
    if not last:
        blocks.append(Block("p", not_run(_("the gate has not been checked (`mailmig golive check`)"))))
        glance.append([_("Go-live gate"), not_run(_("the gate has not been checked (`mailmig golive check`)"))])
    elif last.get("passed") is True and not _list(last.get("failing")):
        glance.append([_("Go-live gate"), f"{OK} " + _("passed on {when}").format(when=when(last.get("at")))])
        blocks.append(Block("p", f"{OK} " + _("Passed on {when}: safe to switch the old provider off.").format(
            when=when(last.get("at")))))
    else:
        failing = [str(f) for f in _list(last.get("failing"))]
        glance.append([_("Go-live gate"), f"{FAIL} " + _("{n} conditions fail ({when})").format(
            n=len(failing), when=when(last.get("at")))])
        blocks.append(Block("p", f"{FAIL} " + _("Not passing on {when}: {n} conditions fail.").format(
            when=when(last.get("at")), n=len(failing))))
        if failing:
            blocks.append(Block("ul", items=failing))
    delta = subtable(golive, "final_delta")
    if delta:
        blocks.append(Block("p", _("Final delta: {when}, {messages} messages, {failed} users failed.").format(
            when=when(delta.get("started")), messages=count(delta.get("messages")), failed=_int(delta.get("users_failed")))))
    else:
        blocks.append(Block("p", not_run(_("the final delta (`mailmig golive final-delta`)"))))
    overrides = [o for o in _list(golive.get("overrides")) if isinstance(o, dict)]
    if overrides:
        blocks.append(Block("h3", _("Overrides of a failing gate")))
        blocks.append(Block("table", headers=[_("When"), _("Who"), _("Marked"), _("Reason"), _("Failing then")], rows=[
            [when(o.get("at")), str(o.get("who", "?")), str(o.get("what", "?")), str(o.get("reason", "")),
             "; ".join(str(f).split(":", 1)[0] for f in _list(o.get("failing")))] for o in overrides]))
    # The staff notices, from the send log (what the SMTP server accepted, per recipient).
    blocks.append(Block("h3", _("Staff notices")))
    with read_only(sendlog_path(project_path)) as db:
        counts = _rows(db, "SELECT notice, state, count(*), max(at) FROM sends GROUP BY notice, state ORDER BY notice")
    if not counts:
        blocks.append(Block("p", not_run(_("no notice has been sent (`mailmig notices send`)"))))
    else:
        by_notice: dict[str, dict[str, int]] = {}
        last_at: dict[str, str] = {}
        for notice, state, n, at in counts:
            by_notice.setdefault(str(notice), {})[str(state)] = int(n)
            last_at[str(notice)] = max(last_at.get(str(notice), ""), str(at))
        rows = []
        for notice, states in by_notice.items():
            sent = states.get("sent", 0)
            mark = OK if sent >= len(project.users) and sent == sum(states.values()) else FAIL
            rows.append([notice, f"{mark} " + _("{sent} of {n} accepted").format(sent=sent, n=len(project.users)),
                         ", ".join(f"{k} {v}" for k, v in sorted(states.items()) if k != "sent") or "—",
                         when(datetime.fromisoformat(last_at[notice])) if last_at[notice] else "—"])
        blocks.append(Block("table", headers=[_("Notice"), _("Sent"), _("Not accepted"), _("Last")], rows=rows))
    return blocks


def _monitor(project_path: Path) -> list[Block]:
    from mailmig_tui.core.monitor.history import history_path

    blocks = [Block("h2", _("Health monitor"))]
    with read_only(history_path(project_path)) as db:
        latest = _rows(db, "SELECT run FROM results ORDER BY run DESC LIMIT 1")
        rows = _rows(db, "SELECT key, status, title, detail, at FROM results WHERE run = ? ORDER BY rowid",
                     (latest[0][0],)) if latest else []
        runs = _rows(db, "SELECT count(DISTINCT run), min(run) FROM results")
    if not rows:
        blocks.append(Block("p", not_run(_("the health monitor has not run (`mailmig monitor`)"))))
        return blocks
    n, first = runs[0] if runs else (0, None)
    blocks.append(Block("p", _("{n} runs since {first}; the latest, {when}:").format(
        n=n, first=when(datetime.fromisoformat(first)) if first else "?",
        when=when(datetime.fromisoformat(str(latest[0][0]))))))
    marks = {"ok": OK, "warn": WARN, "fail": FAIL, "unknown": NONE, "info": NONE}
    words = {"ok": N_("ok"), "warn": N_("warning"), "fail": N_("failing"), "unknown": N_("unknown"), "info": N_("note")}
    blocks.append(Block("table", headers=[_("Check"), _("Status"), _("Detail")], rows=[
        [str(t), f"{marks.get(str(s), NONE)} {_(words.get(str(s), str(s)))}", str(d)] for _k, s, t, d, _at in rows]))
    return blocks


def _checklist(project: Project, generated: datetime, glance: list[list[str]]) -> list[Block]:
    blocks = [Block("h2", _("Open checklist items"))]
    today = generated.date()
    rows = []
    for phase in Phase:
        for item in project.items_for(phase):
            if item.done:
                continue
            due = item.due.isoformat() if item.due else "—"
            if item.is_overdue(today):
                due = f"{FAIL} " + _("{date} (overdue)").format(date=due)
            rows.append([f"{phase.number}. {phase.short}", item.title, item.owner or "—", due, item.note or ""])
    overdue = sum(1 for r in rows if r[3].startswith(FAIL))
    glance.append([_("Checklist"), f"{OK} " + _("every item ticked") if not rows else (f"{FAIL} " if overdue else f"{WARN} ")
                   + _("{n} open, {overdue} overdue").format(n=len(rows), overdue=overdue)])
    if rows:
        blocks.append(Block("table", headers=[_("Phase"), _("Item"), _("Owner"), _("Due"), _("Note")], rows=rows))
    else:
        blocks.append(Block("p", f"{OK} " + _("Every checklist item is ticked.")))
    return blocks


def _activity(project: Project) -> list[Block]:
    events = project.events[-MAX_EVENTS:]
    blocks = [Block("h2", _("Activity log"))]
    if not events:
        blocks.append(Block("p", _("The activity log is empty.")))
        return blocks
    if len(project.events) > MAX_EVENTS:
        blocks.append(Block("p", _("The last {n} of {total} entries.").format(n=MAX_EVENTS, total=len(project.events))))
    blocks.append(Block("table", headers=[_("When"), _("Who"), _("What")],
                        rows=[[when(e.at), e.who, e.what] for e in events]))
    return blocks


def build(project: Project, project_path: Path, language: str = "en", generated: datetime | None = None) -> list[Block]:
    """The report's blocks, in `language` (en or zh_CN), from what `project` and the files beside
    `project_path` recorded."""
    from mailmig_tui.core.dns.history import read_history, watch_history_path

    with using_language(language):
        generated = generated or now()
        watch = read_history(watch_history_path(project_path))
        glance: list[list[str]] = []
        body = [*_plan(project, watch, generated), *_backup(project, project_path, glance),
                *_copy(project, project_path, glance), *_accounts(project, glance), *_dns(project, watch, glance),
                *_matrix(project, project_path, glance), *_golive(project, project_path, glance),
                *_monitor(project_path), *_checklist(project, generated, glance), *_activity(project)]
        head = _summary(project, project_path, generated)
        # At a glance, right after the summary: each area's verdict, as the section below says it.
        at_a_glance = [Block("h2", _("At a glance")), Block("table", headers=[_("Area"), _("Result")], rows=glance)]
        return [*head[:3], *at_a_glance, *head[3:], *body]


def footer(project: Project, language: str, generated: datetime) -> str:
    with using_language(language):
        return _("mailmig migration report · {domain} · {date}").format(domain=project.domain, date=when(generated))
