"""Read and check the JSON metadata cargo sends with a publish, and turn its deps into index form."""

import re
from dataclasses import dataclass, field
from datetime import datetime

from ..errors import BadRequest
from .names import name_problem
from .versions import version_problem

MAX_DESCRIPTION = 4096
MAX_KEYWORDS = 5
MAX_CATEGORIES = 5
MAX_DEPS = 1000
MAX_FEATURES = 1000
KEYWORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9_+-]{0,19}")
CATEGORY = re.compile(r"[a-z0-9][a-z0-9-]*(::[a-z0-9][a-z0-9-]*)*")
FEATURE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_+.-]*")
DEP_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")
RUST_VERSION = re.compile(r"\d+(\.\d+){0,2}")
REQ = re.compile(r"[\w.*^~=<>, +-]+")
DEP_KINDS = ("normal", "build", "dev")


@dataclass
class NewVersion:
    """A publish, checked and normalised; ``deps`` are already in index form."""

    name: str
    vers: str
    deps: list[dict]
    features: dict[str, list[str]]
    cksum: str = ""
    tarball: bytes = field(default=b"", repr=False)
    authors: list[str] = field(default_factory=list)
    description: str | None = None
    documentation: str | None = None
    homepage: str | None = None
    repository: str | None = None
    license: str | None = None
    license_file: str | None = None
    readme: str | None = None
    readme_file: str | None = None
    keywords: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    badges: dict = field(default_factory=dict)
    links: str | None = None
    rust_version: str | None = None
    # Imports carry what another registry already decided; a publish leaves them as they are.
    yanked: bool = False
    published_at: datetime | None = None


def read_metadata(meta) -> NewVersion:
    """Type-check every field cargo sends; any problem is a 400 naming the field."""
    if not isinstance(meta, dict):
        raise BadRequest("the publish metadata must be a JSON object")
    name = _string(meta, "name", required=True)
    vers = _string(meta, "vers", required=True)
    for problem in (name_problem(name), version_problem(vers)):
        if problem:
            raise BadRequest(problem)
    return NewVersion(
        name=name, vers=vers,
        deps=[index_dependency(d, i) for i, d in enumerate(_list(meta, "deps", MAX_DEPS))],
        features=_features(meta.get("features")),
        authors=_strings(meta, "authors", 100, 256),
        description=_string(meta, "description", limit=MAX_DESCRIPTION),
        documentation=_string(meta, "documentation", limit=2048),
        homepage=_string(meta, "homepage", limit=2048),
        repository=_string(meta, "repository", limit=2048),
        license=_string(meta, "license", limit=256),
        license_file=_string(meta, "license_file", limit=256),
        readme=_string(meta, "readme", limit=None),
        readme_file=_string(meta, "readme_file", limit=256),
        keywords=_keywords(meta),
        categories=_strings(meta, "categories", MAX_CATEGORIES, 64),
        badges=_badges(meta.get("badges")),
        links=_string(meta, "links", limit=128),
        rust_version=_rust_version(meta),
    )


def _string(meta: dict, key: str, required=False, limit: int | None = 256) -> str | None:
    value = meta.get(key)
    if value is None:
        if required:
            raise BadRequest(f"the publish metadata has no `{key}`")
        return None
    if not isinstance(value, str):
        raise BadRequest(f"`{key}` in the publish metadata must be a string, not {type(value).__name__}")
    if limit is not None and len(value) > limit:
        raise BadRequest(f"`{key}` is longer than {limit} characters; shorten it in Cargo.toml")
    if "\0" in value:
        raise BadRequest(f"`{key}` contains a NUL character; remove it from Cargo.toml")
    return value


def _list(meta: dict, key: str, limit: int) -> list:
    value = meta.get(key) or []
    if not isinstance(value, list):
        raise BadRequest(f"`{key}` in the publish metadata must be a list")
    if len(value) > limit:
        raise BadRequest(f"`{key}` has {len(value)} entries; at most {limit} are allowed")
    return value


def _strings(meta: dict, key: str, limit: int, item_limit: int) -> list[str]:
    values = _list(meta, key, limit)
    for value in values:
        if not isinstance(value, str) or len(value) > item_limit:
            raise BadRequest(f"every entry of `{key}` must be a string of at most {item_limit} characters")
    return values


def _keywords(meta: dict) -> list[str]:
    keywords = _strings(meta, "keywords", MAX_KEYWORDS, 20)
    for keyword in keywords:
        if not KEYWORD.fullmatch(keyword):
            raise BadRequest(f"keyword `{keyword}` is invalid: use at most 20 ASCII letters, digits, "
                             "`_`, `-` or `+`, starting with a letter or digit")
    return [k.lower() for k in keywords]


def _features(value) -> dict[str, list[str]]:
    value = value or {}
    if not isinstance(value, dict) or len(value) > MAX_FEATURES:
        raise BadRequest(f"`features` must be an object of at most {MAX_FEATURES} features")
    for feature, enables in value.items():
        if not FEATURE.fullmatch(feature) or len(feature) > 100:
            raise BadRequest(f"feature name `{feature[:100]}` is invalid")
        if not isinstance(enables, list) or not all(isinstance(e, str) and len(e) <= 200 for e in enables):
            raise BadRequest(f"feature `{feature}` must list what it enables as strings")
    return value


def _badges(value) -> dict:
    """Cargo sends ``{badge: {key: value}}``; anything deeper is refused, not stored."""
    value = value or {}
    if not isinstance(value, dict) or not all(
            isinstance(attrs, dict) and all(isinstance(v, str) for v in attrs.values()) for attrs in value.values()):
        raise BadRequest('`badges` must be an object like {"maintenance": {"status": "actively-developed"}}')
    return value


def _rust_version(meta: dict) -> str | None:
    value = _string(meta, "rust_version", limit=32)
    if value is not None and not RUST_VERSION.fullmatch(value):
        raise BadRequest(f"rust-version `{value}` is invalid: write it like `1.70` or `1.70.0`")
    return value


def index_dependency(dep, position: int) -> dict:
    """A publish dependency in index form: renamed deps swap ``name`` and ``package``."""
    if not isinstance(dep, dict):
        raise BadRequest(f"dependency #{position + 1} must be an object")
    real = _dep_string(dep, "name", position, required=True)
    explicit = _dep_string(dep, "explicit_name_in_toml", position)
    req = _dep_string(dep, "version_req", position, required=True)
    for dep_name in filter(None, (real, explicit)):
        if not DEP_NAME.fullmatch(dep_name) or len(dep_name) > 64:
            raise BadRequest(f"dependency name `{dep_name[:80]}` is invalid")
    if not REQ.fullmatch(req) or len(req) > 256:
        raise BadRequest(f"dependency `{real}` has an invalid version requirement `{req[:80]}`")
    if any(k in dep for k in ("artifact", "bindep_target", "lib")):
        raise BadRequest(f"dependency `{real}` is an artifact dependency (-Zbindeps), which this registry does "
                         "not support")
    kind = dep.get("kind") or "normal"
    if kind not in DEP_KINDS:
        raise BadRequest(f"dependency `{real}` has kind `{kind}`; expected one of {', '.join(DEP_KINDS)}")
    return {
        "name": explicit or real,
        "req": req,
        "features": _dep_features(dep, real),
        "optional": _dep_bool(dep, "optional", False, real),
        "default_features": _dep_bool(dep, "default_features", True, real),
        "target": _dep_string(dep, "target", position),
        "kind": kind,
        "registry": _dep_string(dep, "registry", position),
        "package": real if explicit else None,
    }


def _dep_string(dep: dict, key: str, position: int, required=False) -> str | None:
    value = dep.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise BadRequest(f"dependency #{position + 1}: `{key}` must be a non-empty string")
    if len(value) > (256 if key == "target" else 2048):
        raise BadRequest(f"dependency #{position + 1}: `{key}` is too long")
    if "\0" in value:
        raise BadRequest(f"dependency #{position + 1}: `{key}` contains a NUL character")
    return value


def _dep_bool(dep: dict, key: str, default: bool, name: str) -> bool:
    value = dep.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise BadRequest(f"dependency `{name}`: `{key}` must be true or false")
    return value


def _dep_features(dep: dict, name: str) -> list[str]:
    value = dep.get("features") or []
    if not isinstance(value, list) or not all(isinstance(f, str) and len(f) <= 200 for f in value):
        raise BadRequest(f"dependency `{name}`: `features` must be a list of strings")
    return [f for f in value if f]
