"""Pick storage and index backends by the name given in the config, devpi style."""

from .errors import ConfigError
from .interfaces import BackendSpec


def available_backends(specs_lists) -> dict[str, BackendSpec]:
    """Flatten what the backend hooks returned into {name or alias: spec}."""
    found: dict[str, BackendSpec] = {}
    for specs in specs_lists:
        for spec in specs or ():
            for name in (spec.name, *spec.aliases):
                found.setdefault(name, spec)
    return found


def select_backend(kind: str, specs_lists, settings, app):
    """Build the backend ``settings["type"]`` names, or fail listing what is installed."""
    available = available_backends(specs_lists)
    name = settings.get("type")
    spec = available.get(name)
    if spec is None:
        names = ", ".join(sorted({s.name for s in available.values()})) or "none"
        raise ConfigError(
            f"[{kind}] type = {name!r} is not an installed {kind} backend; installed: {names}. "
            f"Is the plugin that provides it installed (pip install ...) and not disabled?")
    try:
        return spec.factory(dict(settings), app)
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(f"[{kind}] type = {name!r} could not start: {exc}") from exc
