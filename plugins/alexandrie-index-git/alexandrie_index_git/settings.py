"""The ``[index]`` table for ``type = "git"``: checked once at start-up, with the fix in every error."""

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from alexandrie import ConfigError

SCALAR_KEYS = {
    "branch": str, "bare": bool, "author_name": str, "author_email": str, "message_template": str,
    "lock_timeout": float, "fsync": bool, "check_on_start": bool, "repair_grace": float,
    "push_retry_base": float, "push_retry_max": float, "push_poll_interval": float, "gc_every": int,
}
CREDENTIAL_KEYS = ("username", "password", "ssh_key", "ssh_public_key", "ssh_passphrase", "ssh_agent")
REMOTE_KEYS = {"name", "url", "branch", *CREDENTIAL_KEYS, "password_env", "ssh_passphrase_env"}
KNOWN_KEYS = {"type", "path", "remotes", *SCALAR_KEYS, *(f"push_{k}" for k in CREDENTIAL_KEYS)}
WRITE = {bool: "true or false, without quotes", int: "a whole number, without quotes", float: "a number",
         str: "text, in quotes"}


@dataclass(frozen=True)
class Credentials:
    """How to authenticate a push: user and password (https) or a key pair / the agent (ssh)."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ssh_key: str | None = None
    ssh_public_key: str | None = None
    ssh_passphrase: str | None = field(default=None, repr=False)
    ssh_agent: bool = False


@dataclass(frozen=True)
class RemoteSpec:
    """One push target. ``url`` None means the remote named ``name`` in the repository's git config."""

    name: str
    url: str | None
    branch: str | None = None
    credentials: Credentials = field(default_factory=Credentials)

    @property
    def display_url(self) -> str:
        return self.url or f"(git remote {self.name})"


@dataclass(frozen=True)
class GitIndexSettings:
    path: Path
    branch: str = "main"
    bare: bool = True
    author_name: str = "Alexandrie"
    author_email: str = "alexandrie@localhost"
    message_template: str = "{message}"
    lock_timeout: float = 60.0
    fsync: bool = True
    check_on_start: bool = True
    repair_grace: float = 2.0
    push_retry_base: float = 1.0
    push_retry_max: float = 300.0
    push_poll_interval: float = 60.0
    gc_every: int = 100
    remotes: tuple[RemoteSpec, ...] | None = None
    registry_name: str = "alexandrie"


def read_settings(table: dict, registry_name: str = "alexandrie") -> GitIndexSettings:
    """Check the ``[index]`` table; unknown keys and wrong types fail with the fix."""
    unknown = sorted(set(table) - KNOWN_KEYS)
    if unknown:
        raise ConfigError(f"[index] has unknown keys {', '.join(unknown)} for type = \"git\"; "
                          f"known keys: {', '.join(sorted(KNOWN_KEYS))}")
    if not table.get("path"):
        raise ConfigError('[index] type = "git" needs path = "DIR" (the index repository; '
                          "created when missing)")
    values = {key: _typed(key, table[key], kind) for key, kind in SCALAR_KEYS.items() if key in table}
    if values.get("gc_every", 0) < 0 or isinstance(values.get("gc_every"), bool):
        raise ConfigError("[index] gc_every must be a whole number of commits (0: never pack automatically)")
    _check_template(values.get("message_template", "{message}"))
    defaults = _credentials(table, "push_", "[index]")
    remotes = table.get("remotes")
    parsed = None if remotes is None else tuple(_remote(entry, i, defaults) for i, entry in enumerate(_list(remotes)))
    names = [remote.name for remote in parsed or ()]
    if len(set(names)) != len(names):
        raise ConfigError(f"[index] remotes has two remotes named the same ({', '.join(names)}); "
                          'give each a name = "..."')
    return GitIndexSettings(path=Path(table["path"]), remotes=parsed, registry_name=registry_name, **values)


def _typed(key: str, value, kind):
    if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind is bool and isinstance(value, str) and value.lower() in ("1", "0", "true", "false", "yes", "no"):
        return value.lower() in ("1", "true", "yes")
    if kind is int and isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if kind is float and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"[index] {key} = {_shown(value)}: write {WRITE[kind]}")
    return value


def _shown(value) -> str:
    return f'"{value}"' if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else repr(value)


def _checked(where: str, table: dict, key: str, kind=str):
    """``table[key]`` when it is missing or of ``kind``; the fix otherwise."""
    value = table.get(key)
    if value is not None and (not isinstance(value, kind) or (kind is not bool and isinstance(value, bool))):
        raise ConfigError(f"{where} {key} = {_shown(value)}: write {WRITE[kind]}")
    return value


def _check_template(template: str) -> None:
    try:
        template.format(message="m", action="a", crate="c", version="v", registry="r")
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(f"[index] message_template = {template!r} is invalid ({exc}); use the fields "
                          "{message}, {action}, {crate}, {version} and {registry}") from exc


def _list(value) -> list:
    if not isinstance(value, list):
        raise ConfigError('[index] remotes must be a list, like remotes = ["origin"] or '
                          'remotes = [{url = "https://host/index.git", username = "bot", password_env = "TOKEN"}]')
    return value


def _remote(entry, position: int, defaults: Credentials) -> RemoteSpec:
    where = f"[index] remotes[{position}]"
    if isinstance(entry, str):
        entry = {"name": entry} if _is_remote_name(entry) else {"url": entry}
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be a remote name, a URL or a table with url = ...")
    unknown = sorted(set(entry) - REMOTE_KEYS)
    if unknown:
        raise ConfigError(f"{where} has unknown keys {', '.join(unknown)}; known: {', '.join(sorted(REMOTE_KEYS))}")
    for key in ("url", "name", "branch"):
        _checked(where, entry, key)
    if not entry.get("url") and not entry.get("name"):
        raise ConfigError(f"{where} needs url = \"...\" (or name = \"REMOTE\" for a remote set up with git)")
    url, user_in_url, password_in_url = _split_credentials(entry.get("url"))
    own = _credentials(entry, "", where)
    credentials = Credentials(
        username=own.username or user_in_url or defaults.username,
        password=own.password or password_in_url or defaults.password,
        ssh_key=own.ssh_key or defaults.ssh_key, ssh_public_key=own.ssh_public_key or defaults.ssh_public_key,
        ssh_passphrase=own.ssh_passphrase or defaults.ssh_passphrase,
        ssh_agent=own.ssh_agent or defaults.ssh_agent)
    name = entry.get("name") or _name_from_url(url, position)
    return RemoteSpec(name=name, url=url, branch=entry.get("branch"), credentials=credentials)


def _is_remote_name(text: str) -> bool:
    return re.fullmatch(r"[A-Za-z0-9._-]+", text) is not None


def _credentials(table: dict, prefix: str, where: str) -> Credentials:
    for key in (*CREDENTIAL_KEYS, "password_env", "ssh_passphrase_env"):
        _checked(where, table, f"{prefix}{key}", bool if key == "ssh_agent" else str)

    def secret(key: str) -> str | None:
        env_name = table.get(f"{prefix}{key}_env")
        if env_name:
            if env_name not in os.environ:
                raise ConfigError(f"{where} {prefix}{key}_env = {env_name!r}, but ${env_name} is not set")
            return os.environ[env_name]
        return table.get(f"{prefix}{key}")

    ssh_key = table.get(f"{prefix}ssh_key")
    if ssh_key and not Path(ssh_key).expanduser().is_file():
        raise ConfigError(f"{where} {prefix}ssh_key = {ssh_key!r} is not a readable file")
    return Credentials(username=table.get(f"{prefix}username"), password=secret("password"),
                       ssh_key=str(Path(ssh_key).expanduser()) if ssh_key else None,
                       ssh_public_key=table.get(f"{prefix}ssh_public_key"),
                       ssh_passphrase=secret("ssh_passphrase"),
                       ssh_agent=bool(table.get(f"{prefix}ssh_agent", False)))


def _split_credentials(url: str | None) -> tuple[str | None, str | None, str | None]:
    """Take ``user:password@`` out of an http(s) URL, so it is never logged or shown."""
    if not url or not url.startswith(("http://", "https://")):
        return url, None, None
    parts = urlsplit(url)
    if parts.username is None:
        return url, None, None
    host = parts.hostname + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=host)), parts.username, parts.password


def _name_from_url(url: str, position: int) -> str:
    tail = re.sub(r"\.git$", "", url.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1])
    host = urlsplit(url).hostname or (url.split("@", 1)[-1].split(":", 1)[0] if "@" in url else "")
    label = f"{host}/{tail}" if host else tail
    return label or f"remote-{position}"
