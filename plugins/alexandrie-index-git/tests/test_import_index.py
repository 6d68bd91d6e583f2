"""``alexandrie import --index PATH --crates DIR``: migrating from another crates.io-format git index."""

import json
import subprocess

import pytest

from alexandrie import connection, index_path, registry
from alexandrie import testing as kit
from alexandrie.models import Version
from alexandrie.testing import (
    crate_metadata,
    create_app,
    dependency,
    get_plugin_manager,
    make_crate,
    publish_body,
    require_tool,
)

CRATES_IO = "https://github.com/rust-lang/crates.io-index"


@pytest.fixture
def source(git_app, publisher):
    """A registry with a git index: deps (local, crates.io, renamed), features2, yanks, a README."""
    app = git_app()
    api = publisher(app)
    readme = {"README.md": b"# Base\n\nThe base crate.\n"}
    manifest = '[package]\nname = "base"\nversion = "{}"\nedition = "2021"\ndescription = "Base"\nlicense = "MIT"\nkeywords = ["Alpha"]\n'
    for version in ("0.1.0", "0.2.0"):
        body = publish_body(crate_metadata("base", version, description="Base"),
                            make_crate("base", version, manifest=manifest.format(version), files=readme))
        assert api.client.put("/api/v1/crates/new", data=body, headers={"Authorization": api.token}).status_code == 200
    deps = [dependency("base", "^0.2"), dependency("serde", "^1", registry=CRATES_IO, optional=True),
            dependency("base", "^0.1", explicit_name_in_toml="old_base", kind="dev")]
    assert api.publish("uses-base", "1.0.0", deps=deps, features={"json": ["dep:serde"], "default": []},
                       rust_version="1.70", links="native").status_code == 200
    api.yank("base", "0.1.0")
    return app, api


def storage_dir(app):
    return registry(app).settings.storage["path"]


def index_dir(app):
    return registry(app).settings.index["path"]


@pytest.fixture
def target(scratch_database, tmp_path):
    """Another registry with a database of its own (on PostgreSQL/MySQL too), and a git index."""
    config = kit.test_config(tmp_path / "target", database={"url": scratch_database()},
                             index={"type": "git", "path": str(tmp_path / "target-index"), "repair_grace": 0})
    app = create_app(config, pm=get_plugin_manager())
    yield app
    registry(app).index.close()
    registry(app).database.close_all()


def test_an_index_and_its_crates_import_exactly(source, target, publisher, cli_runner, head_file, tmp_path):
    app, api = source
    result = cli_runner(target, "import", "--index", index_dir(app), "--crates", storage_dir(app))
    assert result.exit_code == 0, result.output
    assert "imported 3 versions, already present 0, not imported 0" in result.output
    client = target.test_client()
    for name in ("base", "uses-base"):
        imported = client.get(f"/index/{index_path(name)}").data
        assert imported == api.sparse(name)  # deps, features, yanked, pubtime: line for line
        assert head_file(tmp_path / "target-index", index_path(name)) == imported
    with target.app_context(), connection():
        base = Version.select().where(Version.num == "0.2.0").get()
        assert base.readme.startswith("# Base") and base.description == "Base" and base.keywords == ["alpha"]
    stored = registry(target).storage.read_crate("base", "0.1.0")
    assert stored == registry(app).storage.read_crate("base", "0.1.0")

    again = cli_runner(target, "import", "--index", index_dir(app), "--crates", storage_dir(app))
    assert again.exit_code == 0 and "imported 0 versions, already present 3" in again.output


def test_checksum_mismatches_and_missing_files_are_reported(source, target, cli_runner, tmp_path):
    app, api = source
    crates = tmp_path / "copied-crates"
    subprocess.run(["cp", "-r", storage_dir(app), str(crates)], check=True)
    tampered = next(crates.rglob("base-0.2.0.crate"))
    tampered.write_bytes(make_crate("base", "0.2.0", files={"extra.txt": b"not what was published"}))
    next(crates.rglob("uses-base-1.0.0.crate")).unlink()
    result = cli_runner(target, "import", "--index", index_dir(app), "--crates", str(crates))
    assert result.exit_code == 1
    assert "imported 1 versions, already present 0, not imported 2" in result.output
    assert f"base 0.2.0: checksum mismatch: {tampered}" in result.output
    assert "uses-base 1.0.0: no uses-base-1.0.0.crate in the crates folder" in result.output
    with target.app_context(), connection():
        assert [v.num for v in Version.select()] == ["0.1.0"]


def test_a_rust_alexandrie_index_with_mixed_case_paths_and_a_panamax_layout(target, cli_runner, tmp_path):
    """Old lines have no pubtime or v; paths keep the crate's case; crate files live in NAME/VERSION/download."""
    require_tool("git")
    index, crates = tmp_path / "old-index", tmp_path / "old-crates"
    (index / "Fo" / "o-").mkdir(parents=True)
    data = make_crate("Foo-Bar", "0.1.0")
    import hashlib

    line = {"name": "Foo-Bar", "vers": "0.1.0", "deps": [{"name": "serde", "req": "^1.0", "features": [],
            "optional": False, "default_features": True, "target": None, "kind": "normal",
            "registry": CRATES_IO}], "cksum": hashlib.sha256(data).hexdigest(), "features": {}, "yanked": True}
    (index / "Fo" / "o-" / "Foo-Bar").write_text(json.dumps(line) + "\n")
    (index / "config.json").write_text('{"dl": "x", "api": "y"}')
    subprocess.run(["git", "init", "-q", "-b", "master"], cwd=index, check=True)
    subprocess.run(["git", "add", "."], cwd=index, check=True)
    subprocess.run(["git", "-c", "user.name=x", "-c", "user.email=x@x", "commit", "-qm", "old"], cwd=index, check=True)
    (crates / "crates" / "Foo-Bar" / "0.1.0").mkdir(parents=True)
    (crates / "crates" / "Foo-Bar" / "0.1.0" / "download").write_bytes(data)
    result = cli_runner(target, "import", "--index", str(index), "--crates", str(crates))
    assert result.exit_code == 0, result.output
    served = json.loads(target.test_client().get("/index/fo/o-/foo-bar").data)
    assert served["yanked"] is True and served["deps"] == line["deps"] and served["name"] == "Foo-Bar"
    assert served["pubtime"] and served["v"] == 1


def test_import_options_are_checked(target, cli_runner, tmp_path):
    result = cli_runner(target, "import", "--index", str(tmp_path))
    assert result.exit_code == 2 and "--crates DIR" in result.output
