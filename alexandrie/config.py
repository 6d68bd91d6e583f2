"""Load ``alexandrie.toml``: defaults, relative paths, size units and environment overrides."""

import copy
import os
import re
import tomllib
from pathlib import Path

from .errors import ConfigError

DEFAULTS: dict = {
    "general": {
        "bind_address": "127.0.0.1:3000",
        "public_url": None,
        "threads": 8,
        "max_crate_size": "10 MiB",
        "max_unpacked_size": "512 MiB",
        "max_metadata_size": "2 MiB",
        "auth_required": False,
        "registry_name": "alexandrie",
    },
    "database": {"url": "sqlite:///data/alexandrie.db", "max_conns": 8, "auto_upgrade": True},
    "storage": {"type": "disk", "path": "data/crate-storage"},
    "index": {"type": "sparse"},
    "frontend": {"enabled": True, "allow_registration": True, "login_required": False},
    "limits": {"enabled": True, "storage": "memory://", "strategy": "moving-window",
               "login": "10/minute", "token_create": "20/hour", "publish": "30/minute"},
    "plugins": {},
}

SIZE_UNITS = {
    "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4,
}

PATH_KEYS = {("storage", "path"), ("index", "path")}


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


def load_config(source: str | os.PathLike | dict | None = None) -> dict:
    """Merge a config file (path) or mapping over the defaults and normalise it."""
    if isinstance(source, dict):
        raw, base_dir = copy.deepcopy(source), Path(source.get("base_dir", os.getcwd()))
    else:
        path = find_config_file(str(source) if source else None)
        raw, base_dir = (_read_toml(path), path.resolve().parent) if path else ({}, Path.cwd())
    config = _merge(copy.deepcopy(DEFAULTS), raw)
    _apply_env_overrides(config)
    return _normalise(config, base_dir)


def _read_toml(path: Path) -> dict:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc


def _merge(base: dict, override: dict) -> dict:
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
    return base


def _apply_env_overrides(config: dict) -> None:
    """``ALEXANDRIE_DATABASE_URL=...`` overrides ``[database] url`` (one level of sections)."""
    for var, value in os.environ.items():
        match = re.fullmatch(r"ALEXANDRIE_([A-Z]+)_([A-Z_]+)", var)
        if not match or var == "ALEXANDRIE_DISABLE_PLUGINS":
            continue
        section, key = match.group(1).lower(), match.group(2).lower()
        if section in config and isinstance(config[section], dict) and section != "plugins":
            try:
                config[section][key] = _coerce(value, config[section].get(key))
            except ValueError:
                raise ConfigError(f"{var}={value!r}: [{section}] {key} takes a whole number") from None


def _coerce(value: str, current):
    if isinstance(current, bool):
        return value.lower() in ("1", "true", "yes", "on")
    if isinstance(current, int):
        return int(value)
    return value


def _normalise(config: dict, base_dir: Path) -> dict:
    config["base_dir"] = str(base_dir)
    for section, key in PATH_KEYS:
        value = config.get(section, {}).get(key)
        if value:
            config[section][key] = str((base_dir / Path(value).expanduser()).resolve())
    general = config["general"]
    for key in ("max_crate_size", "max_unpacked_size", "max_metadata_size"):
        general[key] = parse_size(general[key], key)
    general["threads"] = _whole_number(general["threads"], "[general] threads")
    config["database"]["max_conns"] = _whole_number(config["database"]["max_conns"], "[database] max_conns")
    general["public_url"] = (general["public_url"] or f"http://{general['bind_address']}").rstrip("/")
    if not re.fullmatch(r"https?://[^/\s]+(/[^\s]*)?", general["public_url"]):
        raise ConfigError(f"[general] public_url = {general['public_url']!r} must be an http(s) URL")
    config["database"]["url"] = sqlite_url_relative_to(str(config["database"]["url"]), base_dir)
    return config


def _whole_number(value, key: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key} = {value!r}: write a whole number") from None


def sqlite_url_relative_to(url: str, base_dir: Path) -> str:
    """Accept Alexandrie's plain-path SQLite form and resolve relative SQLite paths."""
    if "://" not in url:
        url = "sqlite:///" + url if url != ":memory:" else "sqlite:///:memory:"
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        path = url[len("sqlite:///"):]
        if path != ":memory:":
            url = "sqlite:///" + str((base_dir / path).resolve())
    return url


def parse_size(value, key: str = "size") -> int:
    """``10485760``, ``"10 MiB"`` or ``"50 MB"`` to a number of bytes."""
    if isinstance(value, int):
        return value
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", str(value))
    unit = (match.group(2) if match else "").lower() or "b"
    if not match or unit not in SIZE_UNITS:
        raise ConfigError(f"{key} = {value!r}: write a byte count or a size like \"10 MiB\" or \"50 MB\"")
    return int(float(match.group(1)) * SIZE_UNITS[unit])


def plugin_config(config: dict, name: str) -> dict:
    """The ``[plugins.NAME]`` table, or an empty dict."""
    return dict(config.get("plugins", {}).get(name, {}))


def get_plugin_config(name: str, app=None) -> dict:
    """The ``[plugins.NAME]`` table of ``app`` (default: the app in context), or an empty dict.

    Public as ``alexandrie.get_plugin_config``; a copy, so changing it changes nothing.
    """
    if app is None:
        from flask import current_app

        app = current_app
    return copy.deepcopy(plugin_config(app.extensions["alexandrie"].config, name))
