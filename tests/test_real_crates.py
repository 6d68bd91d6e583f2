"""Real crates.io crates import unchanged under the default limits, and real cargo resolves against them.

web-sys 0.3.60 (1,503 features, past crates.io's default of 300) comes from Debian's
librust-web-sys-dev, which ``dev.py test`` installs under CI; its normalized ``Cargo.toml`` is the one
crates.io serves. Its two dependencies are stood in for by tiny crates of the versions it asks for.
"""

import io
import json
import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from alexandrie.cli import main
from alexandrie.testing import Cargo, LiveServer, make_crate, require, require_tool, write_package

WEB_SYS = Path("/usr/share/cargo/registry/web-sys-0.3.60")
LEFT_OUT = {"debian", ".cargo-checksum.json"}  # Debian's additions to the crate's tree


def _repacked(tree: Path) -> bytes:
    """The tree as a ``.crate``: every file under ``NAME-VERSION/``, as cargo package writes it."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.GNU_FORMAT) as archive:
        for path in sorted(tree.rglob("*")):
            relative = path.relative_to(tree)
            if path.is_file() and relative.parts[0] not in LEFT_OUT:
                archive.add(path, arcname=f"{tree.name}/{relative.as_posix()}", recursive=False)
    return buffer.getvalue()


@pytest.fixture
def registry_cli(make_app, tmp_path):
    app = make_app(rate_limits={"enabled": False})
    url = app.extensions["alexandrie"].settings.database.url
    storage = app.extensions["alexandrie"].settings.storage["path"]
    config = tmp_path / "alexandrie.toml"
    config.write_text(f'[database]\nurl = "{url}"\n[storage]\ntype = "disk"\npath = "{storage}"\n')
    return app, lambda *args: CliRunner().invoke(main, ["--config", str(config), *args])


def test_web_sys_with_1503_features_imports_and_a_consumer_resolves_its_features(registry_cli, tmp_path):
    require((WEB_SYS / "Cargo.toml").is_file(), f"{WEB_SYS} is missing: apt-get install librust-web-sys-dev")
    require_tool("cargo")
    app, cli = registry_cli
    crates = tmp_path / "crates"
    crates.mkdir()
    (crates / "web-sys-0.3.60.crate").write_bytes(_repacked(WEB_SYS))
    for name, version in (("js-sys", "0.3.60"), ("wasm-bindgen", "0.2.83")):
        (crates / f"{name}-{version}.crate").write_bytes(make_crate(name, version))
    result = cli("import", "--mirror", str(crates))
    assert result.exit_code == 0 and "imported 3, already present 0, failed 0" in result.output, result.output

    server = LiveServer(app).start()
    try:
        line = json.loads(app.test_client().get("/index/we/b-/web-sys").data)
        assert len(line["features"]) + len(line.get("features2", {})) == 1503
        consumer = write_package(tmp_path / "work", "uses-web-sys", manifest_extra=(
            '[dependencies]\nweb-sys = { version = "0.3.60", registry = "alex", '
            'features = ["Window", "HtmlCanvasElement", "WebGl2RenderingContext"] }\n'))
        cargo = Cargo(tmp_path / "cargo-home", server)
        cargo.run("generate-lockfile", cwd=consumer)
        lock = (consumer / "Cargo.lock").read_text()
        assert 'name = "web-sys"\nversion = "0.3.60"' in lock and 'name = "wasm-bindgen"' in lock
        refused = cargo.run("generate-lockfile", cwd=_with_feature(consumer, "NoSuchFeature"), check=False)
        assert refused.returncode != 0 and "NoSuchFeature" in refused.stderr
    finally:
        server.stop()


def _with_feature(package: Path, feature: str) -> Path:
    manifest = package / "Cargo.toml"
    manifest.write_text(manifest.read_text().replace('"Window"', f'"{feature}"'))
    return package
