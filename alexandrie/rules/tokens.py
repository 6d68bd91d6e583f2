"""Rules for API tokens: scopes, crate-name patterns and expiry durations."""

import re
from datetime import UTC, datetime, timedelta

from ..auth import TOKEN_SCOPES
from ..errors import BadRequest
from .names import canonical_name

DURATION = re.compile(r"\s*(\d+)\s*([mhdw])\s*")
UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
PATTERN = re.compile(r"[A-Za-z0-9_-]+\*?|\*")


def token_allows(token, scope: str) -> bool:
    """A session (no token) or an unrestricted token allows everything."""
    return token is None or token.scopes is None or scope in token.scopes


def check_scopes(scopes) -> list[str] | None:
    """The scopes to store (None: unrestricted); an unknown one is refused."""
    unknown = sorted(set(scopes or ()) - set(TOKEN_SCOPES))
    if unknown:
        raise BadRequest(f"unknown token scope {', '.join(unknown)}; use {', '.join(TOKEN_SCOPES)}")
    return list(scopes) if scopes else None


def pattern_matches(pattern: str, name: str) -> bool:
    """crates.io's rule: an exact name, or a prefix followed by a single trailing ``*``."""
    if pattern.endswith("*"):
        return canonical_name(name).startswith(canonical_name(pattern[:-1]))
    return canonical_name(name) == canonical_name(pattern)


def check_patterns(patterns) -> list[str]:
    cleaned = [p.strip() for p in patterns or () if p.strip()]
    bad = [p for p in cleaned if not PATTERN.fullmatch(p)]
    if bad:
        raise BadRequest(f"crate pattern {', '.join(repr(p) for p in bad)}: use a crate name, optionally "
                         "ending in * (e.g. my-team-*)")
    return cleaned


def expiry_from(duration: str | None, now: datetime | None = None) -> datetime | None:
    """``30d``, ``12h``, ``90m`` or ``2w`` from ``now`` (naive UTC); None or empty: never."""
    if not duration:
        return None
    match = DURATION.fullmatch(duration)
    if not match or int(match.group(1)) == 0:
        raise BadRequest(f"expiry {duration!r}: write a number and a unit, like 30d, 12h, 90m or 2w")
    start = now or datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    return start + timedelta(**{UNITS[match.group(2)]: int(match.group(1))})


def iso_moment(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None
