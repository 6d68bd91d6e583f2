"""The core wheel ships its templates and declares its console script and pytest plugin."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def core_wheel(tmp_path_factory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                    "-w", str(out), str(ROOT)], check=True)
    return zipfile.ZipFile(next(out.glob("alexandrie-*.whl")))


def test_wheel_ships_the_top_level_templates(core_wheel):
    names = set(core_wheel.namelist())
    shipped = {n.removeprefix("alexandrie/templates/") for n in names if n.startswith("alexandrie/templates/")}
    on_disk = {str(p.relative_to(ROOT / "templates")) for p in (ROOT / "templates").rglob("*")
               if p.is_file() and p.suffix in (".html", ".css", ".svg") and "__pycache__" not in p.parts}
    assert on_disk and on_disk <= shipped


def test_wheel_declares_console_script_and_pytest_plugin(core_wheel):
    entry_points = next(n for n in core_wheel.namelist() if n.endswith("entry_points.txt"))
    text = core_wheel.read(entry_points).decode()
    assert "alexandrie = alexandrie.cli:main" in text
    assert "alexandrie = alexandrie.testing" in text


def test_every_plugin_declares_one_alexandrie_entry_point():
    for setup_cfg in sorted((ROOT / "plugins").glob("*/setup.cfg")):
        text = setup_cfg.read_text()
        section = text.split("[options.entry_points]", 1)[1]
        assert "alexandrie =" in section, f"{setup_cfg} declares no entry point in the alexandrie group"
