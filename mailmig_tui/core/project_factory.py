"""Creating projects: `mailmig new` and the demo project."""

from __future__ import annotations

import re
import shutil
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from mailmig_tui.core import clock
from mailmig_tui.core.checklist import default_checklist, set_done
from mailmig_tui.core.errors import UsageError
from mailmig_tui.core.i18n import _
from mailmig_tui.core.model import Project, User
from mailmig_tui.core.phases import Phase, PhaseStatus
from mailmig_tui.core.presets import preset_provider
from mailmig_tui.core.store import ProjectStore

DOMAIN_RE = re.compile(r"^(?=.{3,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$")


def project_filename(domain: str) -> str:
    return f"{domain}.mailmig.toml"


def validate_domain(domain: str) -> str:
    domain = domain.strip().lower().rstrip(".")
    if not DOMAIN_RE.match(domain):
        raise UsageError(_("{domain!r} is not a domain name such as corp.example").format(domain=domain))
    return domain


def new_project(domain: str, old_preset: str, new_preset: str, language: str = "") -> Project:
    domain = validate_domain(domain)
    project = Project(
        domain=domain,
        old=preset_provider(old_preset, domain),
        new=preset_provider(new_preset, domain),
        checklist=default_checklist(),
        language=language,
    )
    project.log(_("created the project ({old} → {new})").format(old=old_preset, new=new_preset))
    return project


DEMO_USERS = [
    ("zhang.wei", "张伟", "管理层", "admin"),
    ("li.na", "李娜", "财务部", "pilot"),
    ("wang.fang", "王芳", "销售部/华东", "pilot"),
    ("liu.yang", "刘洋", "研发部", "user"),
    ("chen.jing", "陈静", "人事部", "user"),
    ("alice.wong", "Alice Wong", "Sales/HK", "pilot"),
    ("bob.smith", "Bob Smith", "Engineering", "user"),
    ("zhao.lei", "赵磊", "研发部", "user"),
    ("sun.li", "孙丽", "客服部", "user"),
    ("zhou.jie", "周杰", "销售部/华南", "user"),
]


def demo_project(today: datetime | None = None, language: str = "") -> Project:
    """A realistic migration a week before cutover: some preparation done, the plan filled in."""
    today = (today or clock.now()).replace(minute=0, second=0, microsecond=0)
    project = new_project("corp.example", "tencent-exmail", "aliyun-mail", language)
    project.users = [
        User(f"{login}@corp.example", name, dept, role=role) for login, name, dept, role in DEMO_USERS
    ]
    day = timedelta(days=1)
    project.plan.old_mx_ttl = 3600
    project.plan.dates.update({
        "ttl_lowered": today - 2 * day,
        "backup_start": today + 1 * day,
        "prestage_copy": today + 2 * day,
        "mx_cutover": (today + 6 * day).replace(hour=22),
        "go_live": (today + 13 * day).replace(hour=9),
        "old_provider_off": (today + 45 * day).replace(hour=9),
    })
    for item_id in ("prep-vet-provider", "prep-admin-access", "prep-plan-dates", "prep-ttl", "prep-inventory"):
        set_done(project, item_id, True)
    project.item("prep-announce").owner = "li.na"
    project.item("prep-announce").due = (today - day).date()
    project.item("prep-imap-enabled").owner = "zhang.wei"
    project.item("prep-imap-enabled").due = (today + day).date()
    project.item("backup-run").owner = "zhang.wei"
    project.item("backup-run").due = (today + 1 * day).date()
    project.item("dns-mx").due = (today + 6 * day).date()
    project.item("prep-contract").note = _("Exmail contract ends on the 31st; 30 days' notice.")
    project.phases[Phase.PREPARATION] = PhaseStatus.IN_PROGRESS
    return project


def create_demo(folder: Path | None = None, language: str = "") -> Path:
    """Write the demo project into a fresh folder (a temp folder by default) and return its path."""
    folder = folder or Path(tempfile.mkdtemp(prefix="mailmig-demo-"))
    path = folder / project_filename("corp.example")
    store = ProjectStore.create(path, demo_project(language=language))
    store.close()
    return path


def copy_project(source: Path, folder: Path) -> Path:
    target = folder / source.name
    shutil.copy2(source, target)
    return target
