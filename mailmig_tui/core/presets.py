"""Provider presets shipped with the package (presets.toml), turned into Provider objects."""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import Any

from mailmig_tui.core.errors import UsageError
from mailmig_tui.core.i18n import _
from mailmig_tui.core.model import Provider

# Facts about a provider that stay in the preset, not copied into the project.
PRESET_ONLY_KEYS = ("auth_methods", "auth_docs", "bulk_import")  # bulk_import: core/accounts/export.py


def preset_auth_methods(name: str) -> list[str]:
    """What the preset's provider accepts: "user", "master", "authzid", "oauth2:<flavour>"; [] means any."""
    value = _raw_presets().get(name, {}).get("auth_methods", [])
    return [str(v) for v in value] if isinstance(value, list) else []


def preset_auth_docs(name: str) -> list[str]:
    value = _raw_presets().get(name, {}).get("auth_docs", [])
    return [str(v) for v in value] if isinstance(value, list) else []


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
    data = {k: v for k, v in raw.items() if k not in PRESET_ONLY_KEYS}
    data["preset"] = name
    data["mx"] = [dict(m, host=m["host"].format(domain_dashes=domain.replace(".", "-"))) for m in raw.get("mx", [])]
    return Provider.from_dict(data, ("preset", name))
