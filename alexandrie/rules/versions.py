"""Strict SemVer 2.0 parsing and ordering, as the Rust ``semver`` crate accepts it."""

import re
from functools import total_ordering

MAX_VERSION_LENGTH = 150
MAX_NUMBER = 2**64 - 1  # the Rust semver crate keeps MAJOR, MINOR and PATCH in a u64

_NUM = r"0|[1-9][0-9]*"
_PRE_ID = r"(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
_BUILD_ID = r"[0-9A-Za-z-]+"
SEMVER = re.compile(
    rf"(?P<major>{_NUM})\.(?P<minor>{_NUM})\.(?P<patch>{_NUM})"
    rf"(?:-(?P<pre>{_PRE_ID}(?:\.{_PRE_ID})*))?"
    rf"(?:\+(?P<build>{_BUILD_ID}(?:\.{_BUILD_ID})*))?"
)


def version_problem(text: str) -> str | None:
    """Why ``text`` is not a strict semver version, or None when it is."""
    if len(text) > MAX_VERSION_LENGTH:
        return f"the version is longer than {MAX_VERSION_LENGTH} characters"
    match = SEMVER.fullmatch(text)
    if not match:
        return (f"`{text[:80]}` is not a semver version: write MAJOR.MINOR.PATCH, "
                "optionally with -pre-release and +build parts, without leading zeros or a `v`")
    if any(int(match.group(part)) > MAX_NUMBER for part in ("major", "minor", "patch")):
        return f"version `{text[:80]}` has a number larger than {MAX_NUMBER}, which cargo cannot read"
    return None


def without_build(text: str) -> str:
    """The version with ``+build`` metadata removed: the part that must be unique."""
    return text.split("+", 1)[0]


@total_ordering
class SemVer:
    """Orderable semver version (build metadata ignored, as in SemVer precedence)."""

    __slots__ = ("text", "_key")

    def __init__(self, text: str):
        problem = version_problem(text)
        if problem:
            raise ValueError(problem)
        match = SEMVER.fullmatch(text)
        self.text = text
        pre = match.group("pre")
        pre_key = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split(".")) if pre else ()
        core = (int(match.group("major")), int(match.group("minor")), int(match.group("patch")))
        # A release sorts after every pre-release of the same core version.
        self._key = (core, 0 if pre else 1, pre_key)

    @property
    def is_prerelease(self) -> bool:
        return self._key[1] == 0

    def __eq__(self, other):
        return self._key == other._key

    def __lt__(self, other):
        return self._key < other._key

    def __hash__(self):
        return hash(self._key)

    def __repr__(self):
        return f"SemVer({self.text!r})"


def semver_or_none(text: str) -> SemVer | None:
    """``text`` parsed, or None when it is not SemVer (a version imported from a registry that allowed it)."""
    try:
        return SemVer(text)
    except ValueError:
        return None


def version_sort_key(num: str, published_at, row_id: int = 0) -> tuple:
    """Orders a crate's versions lowest first: by SemVer, every one that is not SemVer below them all, those
    by publication. Sort with ``reverse=True`` for highest first."""
    parsed = semver_or_none(num)
    return (1, parsed, row_id) if parsed is not None else (0, published_at, row_id)


def max_version(texts, *, prefer_release: bool = True) -> str | None:
    """The highest version, preferring releases over pre-releases like crates.io."""
    parsed = [SemVer(t) for t in texts]
    if prefer_release and any(not v.is_prerelease for v in parsed):
        parsed = [v for v in parsed if not v.is_prerelease]
    return max(parsed).text if parsed else None
