"""The layers of the core, read from its imports: the CLI and the web layer call the services; the services
call the contract, persistence and the pure rules; nothing imports upward, nothing imports in a cycle, and an
import inside a function says why it is there."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "alexandrie"

# Every module's layer, by dotted prefix (the longest match wins).
LAYER_OF = {
    "alexandrie": "api",  # the package root: the public API, re-exported from every layer
    "alexandrie.version": "contract", "alexandrie.errors": "contract", "alexandrie.auth": "contract",
    "alexandrie.events": "contract", "alexandrie.interfaces": "contract", "alexandrie.hookspecs": "contract",
    "alexandrie.plugins": "contract", "alexandrie.config": "contract", "alexandrie.backends": "contract",
    "alexandrie.registry": "contract",
    "alexandrie.rules": "rules",
    "alexandrie.db": "persistence", "alexandrie.models": "persistence", "alexandrie.migrations": "persistence",
    "alexandrie.files": "persistence",
    "alexandrie.services": "services",
    "alexandrie.defaults": "defaults",
    "alexandrie.web": "web",
    "alexandrie.app": "app",
    "alexandrie.cli": "cli", "alexandrie.__main__": "cli",
    "alexandrie.testing": "testing",
}
BELOW_SERVICES = {"contract", "rules", "persistence"}
MAY_IMPORT = {
    "contract": {"contract"},
    "rules": {"contract", "rules"},
    "persistence": {"contract", "persistence"},
    "services": BELOW_SERVICES | {"services"},
    "defaults": BELOW_SERVICES | {"services", "defaults"},
    "web": BELOW_SERVICES | {"services", "web"},
    "app": BELOW_SERVICES | {"services", "web", "app"},
    "cli": BELOW_SERVICES | {"services", "web", "app", "cli"},
    "testing": BELOW_SERVICES | {"services", "web", "app", "cli", "testing"},
    "api": BELOW_SERVICES | {"services", "web", "app", "cli"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def layer(module: str) -> str:
    prefixes = [p for p in LAYER_OF if module == p or module.startswith(p + ".")]
    return LAYER_OF[max(prefixes, key=len)]


def _type_checking_only(node: ast.AST, parents: dict) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def imports(module: str) -> list[tuple[str, ast.AST, bool]]:
    """(imported core module, node, at module level) for every runtime import of ``module``."""
    path = MODULES[module]
    tree = ast.parse(path.read_text())
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in _import_nodes(tree, parents):
        for target in _targets(node, package):
            if target in MODULES and target != module:
                found.append((target, node, _at_module_level(node, parents)))
    return found


def _import_nodes(tree: ast.AST, parents: dict) -> list:
    return [node for node in ast.walk(tree)
            if isinstance(node, (ast.Import, ast.ImportFrom)) and not _type_checking_only(node, parents)]


def _at_module_level(node: ast.AST, parents: dict) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return False
    return True


def _targets(node, package: str) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        base = package.split(".")[:len(package.split(".")) - (node.level - 1)]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    # `from package import name` imports the submodule `name` when there is one, else a name of `package`.
    return [f"{source}.{alias.name}" if f"{source}.{alias.name}" in MODULES else source for alias in node.names]


def graph() -> dict[str, set[str]]:
    return {module: {target for target, _, _ in imports(module)} for module in MODULES}


def test_every_module_has_a_layer():
    assert all(layer(module) for module in MODULES)
    assert {layer(m) for m in MODULES} == set(MAY_IMPORT)


def test_nothing_imports_upward():
    upward = [f"{module} ({layer(module)}) imports {target} ({layer(target)})"
              for module in sorted(MODULES) for target, _, _ in imports(module)
              if layer(target) not in MAY_IMPORT[layer(module)]]
    assert not upward, "\n".join(upward)


def test_the_package_root_is_imported_by_no_module_of_the_core():
    """It is the plugins' entry; a core module importing it would tie every layer to every other."""
    importers = [module for module in MODULES for target, _, _ in imports(module) if target == "alexandrie"]
    assert not importers


def test_services_know_no_http_request_and_no_click():
    offenders = []
    for module in (m for m in MODULES if layer(m) in {"services", "rules", "persistence", "contract"}):
        tree = ast.parse(MODULES[module].read_text())
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for node in _import_nodes(tree, parents):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            offenders += [f"{module}: {name}" for name in names if name.split(".")[0] == "click"]
            if isinstance(node, ast.ImportFrom) and node.module == "flask":
                offenders += [f"{module}: flask.{a.name}" for a in node.names if a.name in ("request", "g", "session")]
    assert not offenders, offenders


def test_there_is_no_import_cycle():
    edges, index, low, stack, on_stack, cycles = graph(), {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = [stack.pop()]
            while component[-1] != node:
                component.append(stack.pop())
            on_stack.difference_update(component)
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(edges):
        if module not in index:
            visit(module)
    assert not cycles, cycles


def test_an_import_inside_a_function_says_why():
    unexplained = []
    for path in MODULES.values():
        text = path.read_text()
        tree, lines = ast.parse(text), text.splitlines()
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for node in _import_nodes(tree, parents):
            if not _at_module_level(node, parents) and "#" not in lines[node.lineno - 1] \
                    and "#" not in lines[node.lineno - 2]:
                unexplained.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    assert not unexplained, "move these imports to the top of the module, or say in a comment why not:\n" + \
        "\n".join(unexplained)
