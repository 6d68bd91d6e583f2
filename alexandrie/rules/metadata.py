"""Read and check the JSON metadata cargo sends with a publish, and turn its deps into index form."""

import re
from dataclasses import dataclass, field
from datetime import datetime

from ..config import CrateLimitSettings
from ..errors import BadRequest
from .names import MAX_NAME_LENGTH, name_problem
from .versions import version_problem

KEYWORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9_+-]{0,19}")
CATEGORY = re.compile(r"[a-z0-9][a-z0-9-]*(::[a-z0-9][a-z0-9-]*)*")
MAX_CATEGORY_LENGTH = 64  # crates.io's longest slug has 43 characters
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


def read_metadata(meta, limits: CrateLimitSettings) -> NewVersion:
    """Type-check every field cargo sends, as crates.io's typed decoder does; any problem is a 400 naming the
    field. Only the safety caps apply here: the publish policy is ``policy_problems``, asked at publish."""
    if not isinstance(meta, dict):
        raise BadRequest("the publish metadata must be a JSON object")
    name = _string(meta, "name", required=True)
    vers = _string(meta, "vers", required=True)
    for problem in (name_problem(name), version_problem(vers)):
        if problem:
            raise BadRequest(problem)
    entries = limits.max_list_entries
    return NewVersion(
        name=name, vers=vers,
        deps=[index_dependency(d, i, entries) for i, d in enumerate(_list(meta, "deps", entries, required=True))],
        features=_features(meta, entries),
        authors=_strings(meta, "authors", entries),
        description=_string(meta, "description"),
        documentation=_string(meta, "documentation"),
        homepage=_string(meta, "homepage"),
        repository=_string(meta, "repository"),
        license=_string(meta, "license"),
        license_file=_string(meta, "license_file"),
        readme=_string(meta, "readme"),
        readme_file=_string(meta, "readme_file"),
        keywords=_keywords(meta, entries),
        categories=_strings(meta, "categories", entries),
        badges=_badges(meta.get("badges", {})),
        links=_string(meta, "links"),
        rust_version=_rust_version(meta),
    )


def is_category(slug: str) -> bool:
    """Whether ``slug`` can name a category (lowercase, URL-safe, ``parent::child``); which categories exist
    is the registry's list (``services/categories.py``)."""
    return len(slug) <= MAX_CATEGORY_LENGTH and CATEGORY.fullmatch(slug) is not None


def policy_problems(new: NewVersion, limits: CrateLimitSettings, *, crate_exists: bool = True) -> list[str]:
    """What this version holds beyond the publish policy; each problem names the ``[limits]`` setting and,
    for a crate that exists (overrides need one), the command an administrator raises it for this crate with.

    The limits are this crate's: the configured ones with an administrator's overrides applied.
    """
    counts = [(f"the crate has {len(new.features)} features", len(new.features), "max_features"),
              (f"the crate has {len(new.deps)} dependencies", len(new.deps), "max_dependencies"),
              (f"the crate has {len(new.keywords)} keywords", len(new.keywords), "max_keywords"),
              (f"the crate has {len(new.categories)} categories", len(new.categories), "max_categories")]
    description, readme = len(new.description or ""), len((new.readme or "").encode())
    counts += [(f"the description is {description} characters long", description, "max_description"),
               (f"the README is {readme} bytes", readme, "max_readme")]
    longest = max(_text_fields(new), key=lambda pair: len(pair[1]), default=("", ""))
    counts.append((f"{longest[0]} is {len(longest[1])} characters long", len(longest[1]), "max_field_length"))
    return [_over_policy(what, setting, count, limits, new.name if crate_exists else None)
            for what, count, setting in counts if count > getattr(limits, setting)]


def _over_policy(what: str, setting: str, count: int, limits: CrateLimitSettings, crate: str | None) -> str:
    advice = (f"raise it for this crate (`alexandrie crate limits {crate} {setting}={count}`)" if crate
              else f"raise `{setting}` under [limits] in alexandrie.toml")
    return (f"{what}; this registry allows {getattr(limits, setting)} ([limits] {setting}): shorten it, "
            f"or ask an administrator to {advice}")


def _text_fields(new: NewVersion):
    """(what, text) for every text field the length policy covers, dependencies and features included."""
    for key in ("documentation", "homepage", "repository", "license", "license_file", "readme_file", "links"):
        yield f"`{key}`", getattr(new, key) or ""
    for author in new.authors:
        yield f"author `{author[:40]}`", author
    for dep in new.deps:
        for key in ("req", "target", "registry"):
            yield f"`{key}` of dependency `{dep['name']}`", dep.get(key) or ""
    for feature, enables in new.features.items():
        yield f"feature name `{feature[:40]}`", feature
        for entry in enables:
            yield f"entry `{entry[:40]}` of feature `{feature[:40]}`", entry


def _string(meta: dict, key: str, required=False) -> str | None:
    value = meta.get(key)
    if value is None:
        if required:
            raise BadRequest(f"the publish metadata has no `{key}`")
        return None
    if not isinstance(value, str):
        raise BadRequest(f"`{key}` in the publish metadata must be a string, not {_json_type(value)}")
    if "\0" in value:
        raise BadRequest(f"`{key}` contains a NUL character; remove it from Cargo.toml")
    return value


def _json_type(value) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "true/false", int: "a number",
             float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _list(meta: dict, key: str, limit: int, required=False) -> list:
    if key not in meta and not required:
        return []
    value = meta.get(key)
    if not isinstance(value, list):
        what = "is missing" if key not in meta else f"is {_json_type(value)}"
        raise BadRequest(f"`{key}` in the publish metadata must be a list; it {what}")
    _refuse_oversized(f"`{key}`", len(value), limit)
    return value


def _refuse_oversized(what: str, count: int, limit: int) -> None:
    if count > limit:
        raise BadRequest(f"{what} has {count} entries; this registry stores at most {limit} "
                         "([limits] max_list_entries)")


def _strings(meta: dict, key: str, limit: int) -> list[str]:
    values = _list(meta, key, limit)
    for value in values:
        if not isinstance(value, str) or "\0" in value:
            raise BadRequest(f"every entry of `{key}` must be a string without NUL characters")
    return values


def _keywords(meta: dict, limit: int) -> list[str]:
    keywords = _strings(meta, "keywords", limit)
    for keyword in keywords:
        if not KEYWORD.fullmatch(keyword):
            raise BadRequest(f"keyword `{keyword[:80]}` is invalid: use at most 20 ASCII letters, digits, "
                             "`_`, `-` or `+`, starting with a letter or digit")
    return [k.lower() for k in keywords]


def _features(meta: dict, limit: int) -> dict[str, list[str]]:
    value = meta.get("features")
    if not isinstance(value, dict):
        what = "is missing" if "features" not in meta else f"is {_json_type(value)}"
        raise BadRequest(f'`features` in the publish metadata must be an object like {{"std": []}}; it {what}')
    _refuse_oversized("`features`", len(value), limit)
    for feature, enables in value.items():
        if not FEATURE.fullmatch(feature):
            raise BadRequest(f"feature name `{feature[:100]}` is invalid: use ASCII letters, digits, `_`, `-`, `+` "
                             "or `.`, starting with a letter, a digit or `_`")
        if not isinstance(enables, list) or not all(isinstance(e, str) for e in enables):
            raise BadRequest(f"feature `{feature}` must list what it enables as strings")
        _refuse_oversized(f"feature `{feature}`", len(enables), limit)
    return value


def _badges(value) -> dict:
    """Cargo sends ``{badge: {key: value}}``; anything deeper is refused, not stored."""
    if not isinstance(value, dict) or not all(
            isinstance(attrs, dict) and all(isinstance(v, str) for v in attrs.values()) for attrs in value.values()):
        raise BadRequest('`badges` must be an object like {"maintenance": {"status": "actively-developed"}}')
    return value


def _rust_version(meta: dict) -> str | None:
    value = _string(meta, "rust_version")
    if value is not None and not RUST_VERSION.fullmatch(value):
        raise BadRequest(f"rust-version `{value[:80]}` is invalid: write it like `1.70` or `1.70.0`")
    return value


def index_dependency(dep, position: int, limit: int) -> dict:
    """A publish dependency in index form: renamed deps swap ``name`` and ``package``."""
    if not isinstance(dep, dict):
        raise BadRequest(f"dependency #{position + 1} of `deps` must be an object, not {_json_type(dep)}")
    real = _dep_string(dep, "name", f"dependency #{position + 1}", required=True)
    which = f"dependency `{real[:80]}`"
    explicit = _dep_string(dep, "explicit_name_in_toml", which)
    req = _dep_string(dep, "version_req", which, required=True)
    for dep_name in filter(None, (real, explicit)):
        if not DEP_NAME.fullmatch(dep_name) or len(dep_name) > MAX_NAME_LENGTH:
            raise BadRequest(f"dependency name `{dep_name[:80]}` is invalid: use at most {MAX_NAME_LENGTH} ASCII "
                             "letters, digits, `-` or `_`")
    if not REQ.fullmatch(req):
        raise BadRequest(f"{which} has an invalid version requirement `{req[:80]}`; write it like `^1.2`")
    if any(k in dep for k in ("artifact", "bindep_target", "lib")):
        raise BadRequest(f"{which} is an artifact dependency (-Zbindeps), which this registry does not support")
    kind = dep.get("kind") or "normal"
    if kind not in DEP_KINDS:
        raise BadRequest(f"{which} has kind `{str(kind)[:40]}`; expected one of {', '.join(DEP_KINDS)}")
    return {
        "name": explicit or real,
        "req": req,
        "features": _dep_features(dep, real, limit),
        "optional": _dep_bool(dep, "optional", False, real),
        "default_features": _dep_bool(dep, "default_features", True, real),
        "target": _dep_string(dep, "target", which),
        "kind": kind,
        "registry": _dep_string(dep, "registry", which),
        "package": real if explicit else None,
    }


def _dep_string(dep: dict, key: str, which: str, required=False) -> str | None:
    value = dep.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{which}: `{key}` must be a non-empty string")
    if "\0" in value:
        raise BadRequest(f"{which}: `{key}` contains a NUL character; remove it from Cargo.toml")
    return value


def _dep_bool(dep: dict, key: str, default: bool, name: str) -> bool:
    value = dep.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise BadRequest(f"dependency `{name}`: `{key}` must be true or false")
    return value


def _dep_features(dep: dict, name: str, limit: int) -> list[str]:
    value = dep.get("features", [])
    if not isinstance(value, list) or not all(isinstance(f, str) for f in value):
        raise BadRequest(f"dependency `{name}`: `features` must be a list of strings")
    _refuse_oversized(f"the features of dependency `{name}`", len(value), limit)
    return [f for f in value if f]
