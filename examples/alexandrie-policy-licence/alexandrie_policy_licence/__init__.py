"""A publish policy for Alexandrie: only allowed licences, and the Cargo.toml fields the registry requires.

Configured in ``[plugins.policy-licence]``::

    allowed_licences = ["MIT", "Apache-2.0", "BSD-3-Clause"]   # SPDX ids; absent: any licence
    required_fields = ["description", "repository"]          # absent: none
    allow_licence_file = false   # accept `license-file` instead of an SPDX `license` (default false)
"""

import re
from dataclasses import dataclass

from alexandrie import ConfigError, get_plugin_config, hookimpl

NAME = "policy-licence"
FIELDS = {  # publish metadata attribute -> the Cargo.toml key a user writes
    "description": "description", "repository": "repository", "homepage": "homepage",
    "documentation": "documentation", "license": "license", "readme": "readme",
    "authors": "authors", "keywords": "keywords", "categories": "categories", "rust_version": "rust-version",
}
SPDX_OPERATORS = {"AND", "OR", "WITH"}


@dataclass(frozen=True)
class Policy:
    allowed_licences: frozenset[str] | None
    required_fields: tuple[str, ...]
    allow_licence_file: bool

    def problems(self, new_version) -> list[str]:
        return [*self._missing_fields(new_version), *self._licence_problems(new_version)]

    def _missing_fields(self, new_version) -> list[str]:
        missing = [FIELDS[f] for f in self.required_fields if not getattr(new_version, f)]
        if not missing:
            return []
        keys = ", ".join(f"`{key}`" for key in missing)
        return [f"this registry requires {keys} in the [package] section of Cargo.toml; add "
                f"{'it' if len(missing) == 1 else 'them'} and publish again"]

    def _licence_problems(self, new_version) -> list[str]:
        if self.allowed_licences is None:
            return []
        if not new_version.license:
            if new_version.license_file and self.allow_licence_file:
                return []
            return [f"declare the licence as an SPDX expression, e.g. `license = \"MIT\"` in Cargo.toml; "
                    f"this registry accepts {_listing(self.allowed_licences)}"]
        refused = [lic for lic in licence_ids(new_version.license) if lic not in self.allowed_licences]
        if not refused:
            return []
        return [f"licence {', '.join(f'`{lic}`' for lic in refused)} is not allowed on this registry "
                f"(accepted: {_listing(self.allowed_licences)}); change `license` in Cargo.toml or ask "
                f"the registry operator"]


def licence_ids(expression: str) -> list[str]:
    """The licence ids in an SPDX expression: ``(MIT OR Apache-2.0) AND Zlib`` gives MIT, Apache-2.0, Zlib.
    Exception ids after ``WITH`` are not licences; ``MIT/Apache-2.0`` (old cargo style) counts as OR."""
    tokens = re.findall(r"[^\s()/]+", expression)
    ids, after_with = [], False
    for token in tokens:
        if token.upper() in SPDX_OPERATORS:
            after_with = token.upper() == "WITH"
            continue
        if not after_with:
            ids.append(token.removesuffix("+"))
        after_with = False
    return ids


def _listing(licences) -> str:
    return ", ".join(sorted(licences))


def load_policy(settings: dict) -> Policy:
    """Check ``[plugins.policy-licence]``; mistakes name the key and the fix."""
    allowed = settings.get("allowed_licences")
    if allowed is not None and (not isinstance(allowed, list) or not all(isinstance(x, str) for x in allowed)):
        raise ConfigError(f'[plugins.{NAME}] allowed_licences: write a list of SPDX ids, like ["MIT", "Apache-2.0"]')
    required = settings.get("required_fields", [])
    unknown = [f for f in required if f not in FIELDS] if isinstance(required, list) else [required]
    if unknown:
        raise ConfigError(f"[plugins.{NAME}] required_fields: unknown field {', '.join(map(str, unknown))}; "
                          f"choose from {', '.join(FIELDS)}")
    allow_file = settings.get("allow_licence_file", False)
    if not isinstance(allow_file, bool):
        raise ConfigError(f"[plugins.{NAME}] allow_licence_file: write true or false")
    return Policy(frozenset(allowed) if allowed is not None else None, tuple(required), allow_file)


@hookimpl
def alexandrie_check_config(settings):
    """A mistake in the table stops the start-up before the registry creates anything."""
    try:
        load_policy(settings.plugin_table(NAME))
    except ConfigError as exc:
        return str(exc)
    return None


@hookimpl
def alexandrie_startup(app):
    app.extensions[NAME] = load_policy(get_plugin_config(NAME, app))


@hookimpl
def alexandrie_validate_publish(new_version, identity):
    from flask import current_app

    policy = current_app.extensions.get(NAME)
    return policy.problems(new_version) if policy else None
