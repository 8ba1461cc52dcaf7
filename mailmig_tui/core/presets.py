"""Provider presets shipped with the package (presets.toml), turned into Provider objects."""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import Any

from mailmig_tui.core.errors import UsageError
from mailmig_tui.core.i18n import _
from mailmig_tui.core.model import Provider


@cache
def _raw_presets() -> dict[str, dict[str, Any]]:
    text = (resources.files("mailmig_tui.core") / "presets.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def preset_names() -> list[str]:
    return list(_raw_presets())


def bulk_import_format(name: str) -> dict[str, Any] | None:
    """Preset `name`'s `[<name>.bulk_import]` table (the new provider's bulk-user file), if it has one."""
    table = _raw_presets().get(name, {}).get("bulk_import")
    return table if isinstance(table, dict) else None


def preset_provider(name: str, domain: str) -> Provider:
    """A Provider filled from preset `name`, with host templates expanded for `domain`."""
    raw = _raw_presets().get(name)
    if raw is None:
        raise UsageError(
            _("unknown provider preset {name!r}; choose one of: {names}").format(
                name=name, names=", ".join(preset_names())
            )
        )
    data = dict(raw, preset=name)
    data.pop("bulk_import", None)  # the import file's format (core/accounts/export.py), not the project's
    data["mx"] = [dict(m, host=m["host"].format(domain_dashes=domain.replace(".", "-"))) for m in raw.get("mx", [])]
    return Provider.from_dict(data, ("preset", name))
