"""A crate's own publish limits: the ``[limits]`` policy with an administrator's overrides, the way
crates.io lets web-sys publish 1,500 features past its default of 300."""

import dataclasses
import json

from ..config import POLICY_LIMITS, CrateLimitSettings
from ..errors import BadRequest
from ..events import CrateLimitsChangedEvent
from ..models import Crate
from ..registry import registry
from .changes import change
from .crates import find_crate


def overrides_of(crate: Crate | None) -> dict[str, int]:
    """The administrator's overrides of one crate (empty for a crate not yet published)."""
    if crate is None or not crate.limit_overrides:
        return {}
    stored = json.loads(crate.limit_overrides)
    return {key: value for key, value in stored.items() if key in POLICY_LIMITS}


def limits_for(crate: Crate | None) -> CrateLimitSettings:
    """The limits a publish of ``crate`` is held to."""
    return dataclasses.replace(registry().settings.limits, **overrides_of(crate))


def set_overrides(crate_name: str, actor: str | None, changes: dict[str, int | None]) -> dict[str, int]:
    """Set (a number) or drop (None) overrides; returns the crate's overrides after the change."""
    for key, value in changes.items():
        _check_override(key, value)
    with change() as current:
        crate = find_crate(crate_name, lock=True)
        overrides = {**overrides_of(crate), **changes}
        overrides = {key: value for key, value in sorted(overrides.items()) if value is not None}
        Crate.update(limit_overrides=json.dumps(overrides) if overrides else None).where(Crate.id == crate.id).execute()
        current.record(CrateLimitsChangedEvent(actor=actor, crate=crate.name, limits=overrides))
    return overrides


def _check_override(key: str, value) -> None:
    if key not in POLICY_LIMITS:
        raise BadRequest(f"`{key}` is not a publish limit; the limits a crate can override are "
                         f"{', '.join(POLICY_LIMITS)}")
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise BadRequest(f"`{key}` takes a whole number of at least 1")
