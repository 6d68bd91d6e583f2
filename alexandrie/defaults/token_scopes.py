"""Built-in limits on what a token or a user may change: token scopes, crate patterns, read-only users.

Each refusal raises ``Forbidden`` naming what is missing, so cargo shows the reason.
"""

import re
from datetime import datetime, timedelta

from alexandrie import hookimpl
from alexandrie.access import require_scope
from alexandrie.errors import BadRequest, Forbidden
from alexandrie.models import utcnow
from alexandrie.naming import canonical_name

WRITE_ACTIONS = {"publish-new": "publish crates", "publish-update": "publish crates", "yank": "yank versions",
                 "change-owners": "change crate owners"}


@hookimpl(tryfirst=True)
def alexandrie_permission_allowed(identity, action, crate):
    if identity.user.is_read_only and action in WRITE_ACTIONS:
        raise Forbidden(f"user `{identity.login}` is read-only on this registry: they may read and download "
                        f"crates but not {WRITE_ACTIONS[action]}; ask an administrator for write access")
    require_scope(identity, action)
    if crate is not None:
        require_crate_pattern(identity, crate.name)
    return None


@hookimpl(tryfirst=True)
def alexandrie_validate_publish(new_version, identity):
    # A new crate reaches the permission hook without a name, so the patterns are checked here.
    require_crate_pattern(identity, new_version.name)
    return None


def pattern_matches(pattern: str, name: str) -> bool:
    """crates.io's rule: an exact name, or a prefix followed by a single trailing ``*``."""
    if pattern.endswith("*"):
        return canonical_name(name).startswith(canonical_name(pattern[:-1]))
    return canonical_name(name) == canonical_name(pattern)


def require_crate_pattern(identity, name: str) -> None:
    token = identity.token
    if token is None or token.crate_patterns is None:
        return
    if not any(pattern_matches(p, name) for p in token.crate_patterns):
        raise Forbidden(f"this API token (`{token.label}`) is limited to crates matching "
                        f"{', '.join(f'`{p}`' for p in token.crate_patterns)}, and `{name}` is not one of them; "
                        "use a token that covers this crate")


# --- Creating and listing scoped tokens (CLI and web forms) ----------------------------------

DURATION = re.compile(r"\s*(\d+)\s*([mhdw])\s*")
UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
PATTERN = re.compile(r"[A-Za-z0-9_-]+\*?|\*")


def expiry_from(duration: str | None) -> datetime | None:
    """``30d``, ``12h``, ``90m`` or ``2w`` from now (naive UTC); None or empty: never."""
    if not duration:
        return None
    match = DURATION.fullmatch(duration)
    if not match or int(match.group(1)) == 0:
        raise BadRequest(f"expiry {duration!r}: write a number and a unit, like 30d, 12h, 90m or 2w")
    return utcnow() + timedelta(**{UNITS[match.group(2)]: int(match.group(1))})


def check_patterns(patterns) -> list[str]:
    cleaned = [p.strip() for p in patterns or () if p.strip()]
    bad = [p for p in cleaned if not PATTERN.fullmatch(p)]
    if bad:
        raise BadRequest(f"crate pattern {', '.join(repr(p) for p in bad)}: use a crate name, optionally "
                         "ending in * (e.g. my-team-*)")
    return cleaned


def describe_token(row) -> str:
    def when(moment):
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else "never"

    state = "revoked" if row.revoked_at else ("expired" if row.expires_at and row.expires_at <= utcnow() else "active")
    return (f"{row.id}\t{row.label}\t{state}\tscopes={','.join(row.scopes) if row.scopes else 'all'}\t"
            f"crates={','.join(row.crate_patterns) if row.crate_patterns else 'all'}\t"
            f"expires={when(row.expires_at)}\tlast_used={when(row.last_used_at)}")
