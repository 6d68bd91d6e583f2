"""Meta-tests that keep the hook surface honest: every hookspec is documented in docs/plugins.md with the
signature the code has, says what returning None means, and has a behavioural test calling it."""

import ast
import re
from pathlib import Path

import pytest

from alexandrie import hookspecs
from alexandrie.plugins import DEFAULT_PLUGINS, get_plugin_manager

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "plugins.md"


def spec_functions() -> dict[str, ast.FunctionDef]:
    tree = ast.parse(Path(hookspecs.__file__).read_text())
    return {node.name: node for node in tree.body
            if isinstance(node, ast.FunctionDef) and any("hookspec" in ast.unparse(d) for d in node.decorator_list)}


SPECS = spec_functions()


def code_signature(node: ast.FunctionDef) -> str:
    return f"def {node.name}({ast.unparse(node.args)}) -> {ast.unparse(node.returns)}"


def documented_sections() -> dict[str, str]:
    """``### `alexandrie_x` `` sections of the hook reference, by hook name."""
    reference = DOC.read_text().split("## Hook reference", 1)[1].split("\n## ", 1)[0]
    parts = re.split(r"^### `(alexandrie_\w+)`\s*$", reference, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


def documented_signature(section: str) -> str:
    match = re.search(r"```python\n(def alexandrie_\w+\(.*?\) -> .+?)\n```", section, flags=re.S)
    assert match, "the section has no ```python def ...``` signature block"
    return " ".join(match.group(1).split())


def test_the_parser_sees_every_spec_the_plugin_manager_has():
    pm = get_plugin_manager(load_entrypoints=False)
    registered = {name for name in dir(pm.hook) if name.startswith("alexandrie_")}
    assert set(SPECS) == registered and len(SPECS) >= 12


def test_every_hook_is_documented_and_nothing_else():
    assert set(documented_sections()) == set(SPECS)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_documented_signature_matches_the_code(name):
    section = documented_sections()[name]
    assert documented_signature(section) == code_signature(SPECS[name])


@pytest.mark.parametrize("name", sorted(SPECS))
def test_firstresult_is_documented_exactly_when_the_spec_has_it(name):
    pm = get_plugin_manager(load_entrypoints=False)
    firstresult = bool(getattr(pm.hook, name).spec.opts.get("firstresult"))
    assert bool(re.search(r"\*\*firstresult\.?\*\*", documented_sections()[name])) == firstresult


@pytest.mark.parametrize("name", sorted(SPECS))
def test_spec_docstring_says_what_none_or_the_return_value_means(name):
    doc = " ".join((ast.get_docstring(SPECS[name]) or "").split())
    assert doc, f"{name} has no docstring"
    assert "None" in doc or "return value is ignored" in doc


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_hook_has_a_behavioural_test(name):
    """datasette's rule: a ``test_hook_<name>`` exists under tests/ or plugins/*/tests."""
    pattern = re.compile(rf"^\s*def test_hook_{name}(_\w+)?\(", re.M)
    files = [*ROOT.glob("tests/**/test_*.py"), *ROOT.glob("plugins/*/tests/**/test_*.py")]
    assert any(pattern.search(path.read_text()) for path in files), \
        f"write `def test_hook_{name}(...)` (tests/test_hooks.py) that calls {name} through the registry"


def test_the_documentation_parser_catches_a_wrong_signature():
    """The checks above would fail if the doc drifted: prove it on a doctored copy."""
    section = documented_sections()["alexandrie_event"].replace("(event: Event)", "(evt: Event)")
    assert documented_signature(section) != code_signature(SPECS["alexandrie_event"])


def test_the_discovery_section_names_every_built_in_plugin():
    discovery = DOC.read_text().split("## How plugins are found", 1)[1].split("\n## ", 1)[0]
    missing = [name for name in DEFAULT_PLUGINS if f"`{name}`" not in discovery]
    assert not missing, f"docs/plugins.md does not describe the built-in plugins {missing}"
