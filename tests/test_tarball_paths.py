"""A .crate whose paths are not written plainly, or that holds one file twice, is refused: the registry would
check one copy and cargo unpack another (a shadow `Cargo.toml` whose build script runs on the consumer)."""

import gzip
import io
import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from alexandrie.db import connection
from alexandrie.models import Crate, Version
from alexandrie.testing import CliContext, create_user_with_token, main, publish

NAME, VERS = "shadowed", "1.0.0"
PREFIX = f"{NAME}-{VERS}/"
MANIFEST = f'[package]\nname = "{NAME}"\nversion = "{VERS}"\nedition = "2021"\n'.encode()
SHADOW = MANIFEST + b'build = "evil.rs"\n'


def crate_file(*members: tuple[str, bytes | None]) -> bytes:
    """A gzip tar of (path, content) written as given; content None is a folder entry."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for path, content in members:
            info = tarfile.TarInfo(path)
            info.mode, info.mtime = 0o644, 1153704088
            if content is None:
                info.type = tarfile.DIRTYPE
                archive.addfile(info)
            else:
                info.size = len(content)
                archive.addfile(info, io.BytesIO(content))
    return gzip.compress(buffer.getvalue(), mtime=0)


def plain(*extra: tuple[str, bytes | None]) -> bytes:
    return crate_file((f"{PREFIX}Cargo.toml", MANIFEST), (f"{PREFIX}src/lib.rs", b"pub fn f() {}\n"), *extra)


@pytest.fixture
def registry(make_app):
    app = make_app()
    return app, create_user_with_token(app, "mallory")


def stored(app) -> tuple[int, list[Path]]:
    with app.app_context(), connection():
        versions = Version.select().count()
    root = Path(app.extensions["alexandrie"].settings.storage["path"])
    return versions, sorted(p for p in root.rglob("*") if p.is_file())


def refused(app, response, *words) -> str:
    assert response.status_code == 400, response.get_data(as_text=True)
    detail = response.get_json()["errors"][0]["detail"]
    for word in words:
        assert word in detail, detail
    assert stored(app) == (0, [])
    return detail


@pytest.mark.parametrize("shadow_path, cargo_path", [
    (f"{PREFIX}./Cargo.toml", f"{PREFIX}Cargo.toml"),
    (f"{NAME}-{VERS}//Cargo.toml", f"{PREFIX}Cargo.toml"),
    (f"{PREFIX}Cargo.toml/", f"{PREFIX}Cargo.toml"),
    (f"{PREFIX}src/./../Cargo.toml", None),
], ids=["dot", "double-slash", "trailing-slash", "dot-dot"])
def test_a_second_manifest_under_a_roundabout_path_is_refused(registry, shadow_path, cargo_path):
    app, token = registry
    tarball = plain((shadow_path, SHADOW))
    detail = refused(app, publish(app.test_client(), token, NAME, VERS, tarball=tarball), shadow_path)
    if cargo_path:
        assert f"which cargo would unpack as `{cargo_path}`" in detail and "write every path plainly" in detail
    else:
        assert "unsafe path" in detail


@pytest.mark.parametrize("extra, words", [
    ((f"{PREFIX}Cargo.toml", SHADOW), [f"`{PREFIX}Cargo.toml` twice", "cargo package"]),
    ((f"{PREFIX}src/lib.rs", b"pub fn g() {}\n"), [f"`{PREFIX}src/lib.rs` twice"]),
    ((f"{PREFIX}CARGO.TOML", SHADOW), [f"`{PREFIX}Cargo.toml` and `{PREFIX}CARGO.TOML`", "letter case", "rename"]),
    ((f"{PREFIX}src/Lib.rs", b""), [f"`{PREFIX}src/lib.rs` and `{PREFIX}src/Lib.rs`", "macOS and Windows"]),
    ((f"{PREFIX}SRC", b""), [f"`{PREFIX}SRC` both as a file and as a folder"]),
    ((f"{PREFIX}.CARGO-OK", b"ok"), ["the marker cargo writes"]),
], ids=["manifest-twice", "file-twice", "manifest-by-case", "file-by-case", "file-and-folder", "cargo-ok"])
def test_members_that_unpack_onto_each_other_are_refused(registry, extra, words):
    app, token = registry
    refused(app, publish(app.test_client(), token, NAME, VERS, tarball=plain(extra)), *words)


def test_folder_entries_other_tools_write_are_accepted(registry):
    app, token = registry
    tarball = crate_file((PREFIX, None), (f"{PREFIX}src/", None), (f"{PREFIX}Cargo.toml", MANIFEST),
                         (f"{PREFIX}src/lib.rs", b"pub fn f() {}\n"), (f"{PREFIX}src/", None))
    response = publish(app.test_client(), token, NAME, VERS, tarball=tarball)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert stored(app)[0] == 1


def import_file(app, tmp_path, tarball: bytes):
    path = tmp_path / f"{NAME}-{VERS}.crate"
    path.write_bytes(tarball)
    return CliRunner().invoke(main, ["import", str(path)], obj=CliContext(app=app)), path


def test_import_refuses_a_shadow_manifest_and_stores_nothing(make_app, tmp_path):
    app = make_app()
    result, path = import_file(app, tmp_path, plain((f"{PREFIX}./Cargo.toml", SHADOW)))
    assert result.exit_code == 1, result.output
    assert "imported 0, already present 0, failed 1" in result.output and str(path) in result.output
    assert f"`{PREFIX}./Cargo.toml`, which cargo would unpack as `{PREFIX}Cargo.toml`" in result.output
    assert "Traceback" not in result.output
    assert stored(app) == (0, [])
    with app.app_context(), connection():
        assert Crate.select().count() == 0


def read_differently(trick: str) -> bytes:
    """A crate whose second member Python's tarfile names otherwise than cargo's tar reader, which unpacks it
    over `Cargo.toml`."""
    benign, shadow = tarfile.TarInfo(f"{PREFIX}Cargo.toml"), tarfile.TarInfo(f"{PREFIX}Cargo.toml")
    benign.size = len(MANIFEST)
    shadow.size = len(SHADOW)
    fmt, global_headers = tarfile.PAX_FORMAT, {}
    if trick == "regular-file-ending-in-slash":  # tarfile: a folder; a ustar reader: a file
        shadow.name, shadow.type, fmt = f"{PREFIX}Cargo.toml/", tarfile.AREGTYPE, tarfile.USTAR_FORMAT
    elif trick == "global-pax-path":  # tarfile renames every entry without a path of its own
        global_headers = {"path": f"{PREFIX}README.md"}
        benign.pax_headers = {"path": f"{PREFIX}Cargo.toml"}
    elif trick == "gnu-sparse-name":  # tarfile renames by it; cargo's reader does not
        shadow.pax_headers = {"GNU.sparse.name": f"{PREFIX}notes.txt"}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt, pax_headers=global_headers) as archive:
        archive.addfile(benign, io.BytesIO(MANIFEST))
        archive.addfile(shadow, io.BytesIO(SHADOW))
    return gzip.compress(buffer.getvalue(), mtime=0)


@pytest.mark.parametrize("trick", ["regular-file-ending-in-slash", "global-pax-path", "gnu-sparse-name"])
def test_entries_tar_readers_name_differently_are_refused_by_publish_and_import(make_app, tmp_path, trick):
    app = make_app()
    token = create_user_with_token(app, "mallory")
    refused(app, publish(app.test_client(), token, NAME, VERS, tarball=read_differently(trick)), "cargo package")
    result, _ = import_file(app, tmp_path, read_differently(trick))
    assert result.exit_code == 1 and "failed 1" in result.output and "cargo package" in result.output, result.output
    assert stored(app) == (0, [])


def test_import_keeps_old_crates_whose_other_files_differ_only_by_case(make_app, tmp_path):
    """cargo on macOS and Windows packaged `README.md` and `readme.Md` together (rust-lang/cargo#13722), and
    crates.io holds such crates: an import must take them, a new publish is told to rename."""
    app = make_app()
    tarball = plain((f"{PREFIX}README.md", b"# one\n"), (f"{PREFIX}readme.Md", b"# two\n"))
    result, _ = import_file(app, tmp_path, tarball)
    assert result.exit_code == 0, result.output
    assert "imported 1" in result.output
    assert stored(app)[0] == 1


def test_publish_refuses_what_the_import_keeps(registry):
    app, token = registry
    tarball = plain((f"{PREFIX}README.md", b"# one\n"), (f"{PREFIX}readme.Md", b"# two\n"))
    refused(app, publish(app.test_client(), token, NAME, VERS, tarball=tarball), "differ only by letter case")
