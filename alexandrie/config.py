"""Typed, frozen settings from ``alexandrie.toml`` and ``ALEXANDRIE_SECTION_KEY`` variables, defaults in one place.

A value of the wrong type, an unknown key or an unknown section stops the start-up with a
``ConfigError`` naming where it came from (the file or the variable), the key and what is allowed.
"""

import copy
import dataclasses
import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .errors import ConfigError

SIZE_UNITS = {
    "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4,
}
TRUE_WORDS, FALSE_WORDS = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
ENV_PREFIX = "ALEXANDRIE_"
# Section tables owned by a backend: the core checks only ``type``; the backend checks the rest.
BACKEND_SECTIONS = ("storage", "index")
PATH_KEYS = {("storage", "path"), ("index", "path")}


def _setting(default, kind: str):
    """A field with its default and how a raw value is read: bool, int, size, str, optional-str or names."""
    return field(default=default, metadata={"kind": kind})


@dataclass(frozen=True)
class GeneralSettings:
    bind_address: str = _setting("127.0.0.1:3000", "str")
    public_url: str = _setting("", "optional-str")  # empty: http:// + bind_address
    threads: int = _setting(8, "int")
    # `alexandrie serve` against slow clients: seconds to send a request's headers (from connecting or from
    # the previous response), open connections in all, and per client address (an IPv6 client by its /64).
    header_timeout: int = _setting(10, "int")
    connection_limit: int = _setting(500, "int")
    max_connections_per_client: int = _setting(50, "int")
    max_crate_size: int = _setting(10 * 1024**2, "size")
    max_unpacked_size: int = _setting(512 * 1024**2, "size")
    max_metadata_size: int = _setting(2 * 1024**2, "size")
    auth_required: bool = _setting(False, "bool")
    registry_name: str = _setting("alexandrie", "str")
    categories_file: str = _setting("", "optional-str")  # empty: crates.io's categories (services/categories.py)
    secret_key: str = _setting("", "optional-str")  # empty: one shared through the database
    disabled_plugins: tuple[str, ...] = _setting((), "names")


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = _setting("sqlite:///data/alexandrie.db", "str")
    max_conns: int = _setting(8, "int")
    auto_upgrade: bool = _setting(True, "bool")


@dataclass(frozen=True)
class FrontendSettings:
    enabled: bool = _setting(True, "bool")
    allow_registration: bool = _setting(True, "bool")
    login_required: bool = _setting(False, "bool")


@dataclass(frozen=True)
class RateLimitSettings:
    enabled: bool = _setting(True, "bool")
    storage: str = _setting("memory://", "str")
    strategy: str = _setting("moving-window", "str")
    login: str = _setting("10/minute", "optional-str")  # per client address; empty: no limit
    login_per_account: str = _setting("10/minute;100/day", "optional-str")  # failed sign-ins per login
    register: str = _setting("5/hour", "optional-str")  # accounts created per client address
    token_create: str = _setting("20/hour", "optional-str")
    publish: str = _setting("300/hour", "optional-str")  # a burst: `cargo publish --workspace` of 100 crates


@dataclass(frozen=True)
class CrateLimitSettings:
    """What a crate may hold. The publish policy (crates.io's defaults, raised per crate by an administrator)
    applies to ``cargo publish``; the safety caps apply to everything stored, imports and mirrors included."""

    # Publish policy: per-crate overrides in `alexandrie crates limits`.
    max_features: int = _setting(300, "int")
    max_dependencies: int = _setting(500, "int")
    max_keywords: int = _setting(5, "int")
    max_categories: int = _setting(5, "int")
    max_description: int = _setting(4096, "int")  # characters
    max_field_length: int = _setting(4096, "int")  # any other text: URLs, licence, a dependency's target cfg
    max_readme: int = _setting(1024**2, "size")
    readme_render_seconds: int = _setting(2, "int")  # then the README shows as text until its HTML is ready
    # Safety caps: no override, no exception.
    max_list_entries: int = _setting(10_000, "int")  # in any one list: deps, features, what a feature enables
    max_index_line: int = _setting(512 * 1024, "size")
    max_index_file: int = _setting(64 * 1024**2, "size")
    max_versions: int = _setting(20_000, "int")  # per crate


POLICY_LIMITS = ("max_features", "max_dependencies", "max_keywords", "max_categories", "max_description",
                 "max_field_length", "max_readme")


TYPED_SECTIONS = {"general": GeneralSettings, "database": DatabaseSettings, "frontend": FrontendSettings,
                  "rate_limits": RateLimitSettings, "limits": CrateLimitSettings}
BACKEND_DEFAULTS = {"storage": {"type": "disk", "path": "data/crate-storage"}, "index": {"type": "sparse"}}
SECTIONS = (*TYPED_SECTIONS, *BACKEND_SECTIONS, "plugins")
# Keys that changed section: refused with where they went, never silently ignored.
MOVED_KEYS = {("limits", f.name): "rate_limits" for f in dataclasses.fields(RateLimitSettings)}


@dataclass(frozen=True)
class Settings:
    """The whole configuration. ``storage`` and ``index`` are their backend's tables (paths resolved)."""

    general: GeneralSettings
    database: DatabaseSettings
    frontend: FrontendSettings
    rate_limits: RateLimitSettings
    limits: CrateLimitSettings
    storage: Mapping[str, Any]
    index: Mapping[str, Any]
    plugins: Mapping[str, Mapping[str, Any]]
    disabled_plugins: tuple[str, ...]  # [general] disabled_plugins, [plugins] disabled, ALEXANDRIE_DISABLE_PLUGINS
    base_dir: str
    source: str  # the file the settings came from, for messages
    tables: Mapping[str, Any] = field(repr=False)  # what was read, for deriving another configuration

    def plugin_table(self, name: str) -> dict:
        """A copy of ``[plugins.NAME]``, or an empty dict."""
        return copy.deepcopy(dict(self.plugins.get(name, {})))

    def derive(self, **tables) -> "Settings":
        """These settings with whole sections replaced (``database={...}``), read and checked again."""
        return load_config({**copy.deepcopy(dict(self.tables)), **tables, "base_dir": self.base_dir})


def find_config_file(explicit: str | None = None) -> Path | None:
    """``--config``, else ``$ALEXANDRIE_CONFIG``, else ``./alexandrie.toml`` when it exists."""
    chosen = explicit or os.environ.get("ALEXANDRIE_CONFIG")
    if chosen:
        path = Path(chosen)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist; pass an existing file to --config")
        return path
    default = Path("alexandrie.toml")
    return default if default.is_file() else None


def load_config(source: "str | os.PathLike | Mapping | Settings | None" = None) -> Settings:
    """Read a config file (a path, or the usual lookup when None) or a mapping, over the defaults."""
    if isinstance(source, Settings):
        return source
    if isinstance(source, Mapping):
        raw = copy.deepcopy(dict(source))
        base_dir, origin = Path(raw.pop("base_dir", None) or os.getcwd()), "the configuration"
    else:
        path = find_config_file(str(source) if source else None)
        raw, base_dir = (_read_toml(path), path.resolve().parent) if path else ({}, Path.cwd())
        origin = str(path) if path else "the built-in defaults"
    tables = _checked_tables(raw, origin)
    overrides = _environment_overrides()
    return _settings(tables, overrides, base_dir, origin)


def _read_toml(path: Path) -> dict:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc


def _checked_tables(raw: dict, origin: str) -> dict:
    unknown = [name for name in raw if name not in SECTIONS]
    if unknown:
        raise ConfigError(f"{origin}: [{unknown[0]}] is not a section of the configuration"
                          f"{_did_you_mean(unknown[0], SECTIONS)}; the sections are {', '.join(SECTIONS)}")
    for name, table in raw.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{origin}: {name} must be a table, written [{name}] with keys under it")
    return raw


def _did_you_mean(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _environment_overrides() -> dict[str, dict[str, tuple[str, str]]]:
    """``{section: {key: (raw value, variable name)}}`` from ``ALEXANDRIE_SECTION_KEY`` variables.

    Only the core's sections are overridden; ``[plugins.*]`` never is, and variables naming other
    sections (``ALEXANDRIE_CONFIG``, ``ALEXANDRIE_TEST_...``) are not overrides.
    """
    found: dict[str, dict[str, tuple[str, str]]] = {}
    for variable, value in os.environ.items():
        if not variable.startswith(ENV_PREFIX) or variable == "ALEXANDRIE_DISABLE_PLUGINS":
            continue
        section_and_key = _section_and_key(variable[len(ENV_PREFIX):].lower())
        if section_and_key:
            section, key = section_and_key
            found.setdefault(section, {})[key] = (value, variable)
    return found


def _section_and_key(name: str) -> tuple[str, str] | None:
    """``rate_limits_publish`` -> (rate_limits, publish): the longest section name that prefixes it."""
    for section in sorted((*TYPED_SECTIONS, *BACKEND_SECTIONS), key=len, reverse=True):
        if name.startswith(section + "_") and len(name) > len(section) + 1:
            return section, name[len(section) + 1:]
    return None


def _settings(tables: dict, overrides: dict, base_dir: Path, origin: str) -> Settings:
    sections = {name: _typed_section(name, cls, tables.get(name, {}), overrides.get(name, {}), origin)
                for name, cls in TYPED_SECTIONS.items()}
    general = _finish_general(sections["general"], origin)
    database = dataclasses.replace(sections["database"], url=sqlite_url_relative_to(sections["database"].url, base_dir))
    backends = {name: _backend_table(name, tables.get(name), overrides.get(name, {}), base_dir, origin)
                for name in BACKEND_SECTIONS}
    plugins = {name: table for name, table in tables.get("plugins", {}).items() if name != "disabled"}
    bad_plugin = next((name for name, table in plugins.items() if not isinstance(table, dict)), None)
    if bad_plugin:
        raise ConfigError(f"{origin}: [plugins] {bad_plugin} must be a table, written [plugins.{bad_plugin}]")
    return Settings(
        general=general, database=database, frontend=sections["frontend"],
        rate_limits=sections["rate_limits"], limits=sections["limits"],
        storage=_frozen(backends["storage"]), index=_frozen(backends["index"]),
        plugins=_frozen({name: _frozen(table) for name, table in plugins.items()}),
        disabled_plugins=_disabled_plugins(general, tables.get("plugins", {}), origin),
        base_dir=str(base_dir), source=origin, tables=_frozen(tables))


def _frozen(table: dict) -> Mapping:
    return MappingProxyType(table)


def _typed_section(name: str, cls, table: dict, overrides: dict, origin: str):
    known = {f.name: f for f in dataclasses.fields(cls)}
    values = {}
    for key, raw in table.items():
        values[key] = _read_value(name, known, key, raw, origin, from_env=False)
    for key, (raw, variable) in overrides.items():
        values[key] = _read_value(name, known, key, raw, f"{variable}={raw!r}", from_env=True)
    return cls(**values)


def _read_value(section: str, known: dict, key: str, raw, origin: str, *, from_env: bool):
    if (section, key) in MOVED_KEYS:
        raise ConfigError(f"{origin}: [{section}] {key} has moved to [{MOVED_KEYS[section, key]}] {key}; "
                          f"move the line under [{MOVED_KEYS[section, key]}]")
    if key not in known:
        raise ConfigError(f"{origin}: [{section}] {key} is not a setting{_did_you_mean(key, known)}; "
                          f"[{section}] takes {', '.join(known)}")
    kind = known[key].metadata["kind"]
    reader = ENV_READERS[kind] if from_env else FILE_READERS[kind]
    try:
        return reader(raw)
    except (TypeError, ValueError) as exc:
        if from_env:
            raise ConfigError(f"{origin}: [{section}] {key} takes {exc}") from None
        raise ConfigError(f"{origin}: [{section}] {key} = {_toml(raw)}: write {exc}") from None


def _toml(value) -> str:
    if isinstance(value, str):
        return '"' + value.replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


# --- Reading one value: from TOML (typed) and from the environment (text) ---------------------------------


def _file_bool(value) -> bool:
    if not isinstance(value, bool):
        raise TypeError("true or false, without quotes")
    return value


def _env_bool(value: str) -> bool:
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError("true or false (also 1/0, yes/no, on/off); any other word is refused, not guessed")


def _file_int(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise TypeError("a whole number of at least 1, without quotes")
    return value


def _env_int(value: str) -> int:
    try:
        return _file_int(int(value.strip()))
    except ValueError:
        raise ValueError("a whole number of at least 1") from None


def _size(value) -> int:
    if isinstance(value, bool):
        raise TypeError('a byte count or a size like "10 MiB" or "50 MB"')
    return parse_size(value, "size", reraise=ValueError)


def _file_str(value) -> str:
    if not isinstance(value, str):
        raise TypeError("text, in quotes")
    return value


def _file_optional_str(value) -> str:
    if value is False:
        return ""  # `publish = false` switches a limit off, like an empty string
    return _file_str(value)


def _file_names(value) -> tuple[str, ...]:
    if isinstance(value, str):
        return _env_names(value)
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise TypeError('a list of plugin names, like ["webhooks"]')
    return tuple(value)


def _env_names(value: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in value.split(",") if name.strip())


FILE_READERS = {"bool": _file_bool, "int": _file_int, "size": _size, "str": _file_str,
                "optional-str": _file_optional_str, "names": _file_names}
ENV_READERS = {"bool": _env_bool, "int": _env_int, "size": _size, "str": str, "optional-str": str,
               "names": _env_names}


# --- Derived values -------------------------------------------------------------------------------------------


def _finish_general(general: GeneralSettings, origin: str) -> GeneralSettings:
    problem = bind_address_problem(general.bind_address)
    if problem:
        raise ConfigError(f"{origin}: [general] bind_address = {_toml(general.bind_address)} {problem}")
    public_url = (general.public_url or f"http://{general.bind_address}").rstrip("/")
    if not re.fullmatch(r"https?://[^/\s]+(/[^\s]*)?", public_url):
        raise ConfigError(f"{origin}: [general] public_url = {public_url!r} must be an http(s) URL, "
                          'like "https://crates.example.com"')
    return dataclasses.replace(general, public_url=public_url)


def bind_address_problem(address: str) -> str | None:
    """What is wrong with a listening address, or None for HOST:PORT (an IPv6 host in brackets: ``[::1]:3000``).

    There is no default port: the listener, the log and the ``public_url`` derived from it must agree."""
    match = re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[^\s:\[\]]+)(?::(\d+))?", address)
    example = 'write HOST:PORT, like "127.0.0.1:3000" (IPv6: "[::1]:3000")'
    if match is None:
        return f"is not an address to listen on; {example}"
    if match.group(2) is None:
        return f"has no port; {example}"
    if not 1 <= int(match.group(2)) <= 65535:
        return f"has port {match.group(2)}, outside 1-65535; {example}"
    return None


def _backend_table(name: str, table, overrides: dict, base_dir: Path, origin: str) -> dict:
    merged = {**BACKEND_DEFAULTS[name], **(table or {})}
    for key, (raw, variable) in overrides.items():
        merged[key] = _backend_override(merged.get(key), raw, variable, name, key)
    if not isinstance(merged.get("type"), str):
        raise ConfigError(f"{origin}: [{name}] type = {_toml(merged.get('type'))}: write the backend's name, "
                          f'like type = "{BACKEND_DEFAULTS[name]["type"]}"')
    for section, key in PATH_KEYS:
        if section == name and key in merged and not isinstance(merged[key], str):
            raise ConfigError(f"{origin}: [{name}] {key} = {_toml(merged[key])}: write a folder, in quotes, "
                              f'like {key} = "data/{"crate-storage" if name == "storage" else "crate-index"}"')
        if section == name and isinstance(merged.get(key), str) and merged[key]:
            merged[key] = str((base_dir / Path(merged[key]).expanduser()).resolve())
    return merged


def _backend_override(current, raw: str, variable: str, section: str, key: str):
    reader = _env_bool if isinstance(current, bool) else _env_int if isinstance(current, int) else str
    try:
        return reader(raw)
    except ValueError as exc:
        raise ConfigError(f"{variable}={raw!r}: [{section}] {key} takes {exc}") from None


def _disabled_plugins(general: GeneralSettings, plugins_table: dict, origin: str) -> tuple[str, ...]:
    raw = plugins_table.get("disabled", [])
    try:
        listed = _file_names(raw)
    except TypeError as exc:
        raise ConfigError(f"{origin}: [plugins] disabled = {_toml(raw)}: write {exc}") from None
    from_env = _env_names(os.environ.get("ALEXANDRIE_DISABLE_PLUGINS", ""))
    return tuple(dict.fromkeys((*general.disabled_plugins, *listed, *from_env)))


def sqlite_url_relative_to(url: str, base_dir: Path) -> str:
    """Accept Alexandrie's plain-path SQLite form and resolve relative SQLite paths."""
    if "://" not in url:
        url = "sqlite:///" + url if url != ":memory:" else "sqlite:///:memory:"
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        path = url[len("sqlite:///"):]
        if path != ":memory:":
            url = "sqlite:///" + str((base_dir / path).resolve())
    return url


def parse_size(value, key: str = "size", reraise=None) -> int:
    """``10485760``, ``"10 MiB"`` or ``"50 MB"`` to a number of bytes."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", str(value))
    unit = (match.group(2) if match else "").lower() or "b"
    if not match or unit not in SIZE_UNITS:
        allowed = 'a byte count or a size like "10 MiB" or "50 MB"'
        if reraise is not None:
            raise reraise(allowed)
        raise ConfigError(f"{key} = {value!r}: write {allowed}")
    return int(float(match.group(1)) * SIZE_UNITS[unit])
