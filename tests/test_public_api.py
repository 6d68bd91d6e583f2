"""The public plugin API is held: every distribution under plugins/ and examples/ imports from the core only
``alexandrie`` (its ``__all__``), ``alexandrie.testing`` and the tables of ``alexandrie.models``; and the paths
the docs gave before the API existed still work."""

import ast
import importlib
from pathlib import Path

import pytest

import alexandrie
import alexandrie.models
import alexandrie.testing

ROOT = Path(__file__).resolve().parent.parent
DISTRIBUTIONS = sorted({p.parent for p in [*ROOT.glob("plugins/*/pyproject.toml"), *ROOT.glob("examples/*/pyproject.toml")]})
PUBLIC_MODULES = {"alexandrie": set(alexandrie.__all__) | {"testing", "models"},
                  "alexandrie.testing": set(alexandrie.testing.__all__),
                  "alexandrie.models": {name for name in vars(alexandrie.models) if not name.startswith("_")}}


def core_imports(path: Path):
    """(line, what) for every use of the core in a file: imported modules, imported names, attributes."""
    tree = ast.parse(path.read_text())
    bound = set()  # local names bound to the `alexandrie` package itself
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "alexandrie" or alias.name.startswith("alexandrie."):
                    yield node.lineno, alias.name, None
                    if alias.name == "alexandrie" or alias.asname is None:
                        bound.add(alias.asname or "alexandrie")
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module \
                and (node.module == "alexandrie" or node.module.startswith("alexandrie.")):
            for alias in node.names:
                yield node.lineno, node.module, alias.name
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in bound:
            yield node.lineno, "alexandrie", node.attr


def violations(path: Path, base: Path = ROOT) -> list[str]:
    found = []
    for line, module, name in core_imports(path):
        allowed = PUBLIC_MODULES.get(module)
        if allowed is None or (name is not None and name not in allowed):
            found.append(f"{path.relative_to(base)}:{line}: {module}{'.' + name if name else ''}")
    return found


def test_every_distribution_is_checked():
    names = {d.name for d in DISTRIBUTIONS}
    assert {"alexandrie-index-git", "alexandrie-storage-disk", "alexandrie-storage-minio", "alexandrie-webhooks",
            "alexandrie-render-mistune", "alexandrie-policy-licence", "alexandrie-activity-feed",
            "alexandrie-auth-proxy-header"} <= names


@pytest.mark.parametrize("distribution", DISTRIBUTIONS, ids=lambda d: d.name)
def test_distribution_imports_only_the_public_api(distribution):
    files = [p for p in distribution.rglob("*.py") if "build" not in p.parts]
    assert files
    found = [v for path in files for v in violations(path)]
    assert not found, "import these from `alexandrie` (add them to its __all__ if a plugin needs them):\n" + \
        "\n".join(found)


def test_the_guard_catches_an_internal_import(tmp_path):
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text("import alexandrie\nfrom alexandrie import hookimpl\nfrom alexandrie.db import locked\n"
                      "from alexandrie.services.publishing import store_versions\nalexandrie.plugins\n")
    offences = [v.split(": ", 1)[1] for v in violations(sneaky, base=tmp_path)]
    assert offences == ["alexandrie.db.locked", "alexandrie.services.publishing.store_versions",
                        "alexandrie.plugins"]


def test_everything_in_all_is_importable():
    for name in alexandrie.__all__:
        assert hasattr(alexandrie, name), name
    for name in alexandrie.testing.__all__:
        assert hasattr(alexandrie.testing, name), name


@pytest.mark.parametrize("path, public", [
    ("alexandrie.db.BaseModel", "BaseModel"), ("alexandrie.db.connection", "connection"),
    ("alexandrie.db.write_transaction", "write_transaction"), ("alexandrie.cli.in_app", "in_app"),
    ("alexandrie.errors.Forbidden", "Forbidden"), ("alexandrie.errors.BadRequest", "BadRequest"),
    ("alexandrie.errors.NotFound", "NotFound"), ("alexandrie.errors.Conflict", "Conflict"),
    ("alexandrie.auth.Identity", "Identity"), ("alexandrie.events.PublishEvent", "PublishEvent"),
    ("alexandrie.hookspecs.hookimpl", "hookimpl"), ("alexandrie.interfaces.Storage", "Storage"),
])
def test_the_paths_documented_before_keep_working(path, public):
    module, _, name = path.rpartition(".")
    assert getattr(importlib.import_module(module), name) is getattr(alexandrie, public)
