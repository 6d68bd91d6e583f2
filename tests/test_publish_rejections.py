"""Every malformed publish gets a 4xx with a helpful JSON detail and leaves nothing behind."""

import gzip
import io
import json
import os
import random
import struct
import tarfile
from pathlib import Path

import pytest

import alexandrie_storage_disk
from alexandrie.app import create_app
from alexandrie.db import connection
from alexandrie.errors import AlexandrieError
from alexandrie.models import ApiToken, Crate, Dependency, IndexFile, Version, utcnow
from alexandrie.plugins import get_plugin_manager
from alexandrie.rules.tarball import inspect_crate
from alexandrie.services.tokens import create_token
from alexandrie.services.users import create_user
from alexandrie.testing import crate_metadata, dependency, make_crate, publish_body, reset_database
from alexandrie.testing import test_config as registry_config

NAME, VERS = "hostile", "0.1.0"


class Registry:
    """A test registry with one signed-in user and helpers to publish and inspect what was stored."""

    def __init__(self, app, token):
        self.app, self.token = app, token
        self.client = app.test_client()
        self.storage_dir = Path(app.extensions["alexandrie"].settings.storage["path"])

    def put(self, body: bytes, token: str | None = "default", **headers):
        token = self.token if token == "default" else token
        if token:
            headers["Authorization"] = token
        return self.client.put("/api/v1/crates/new", data=body, headers=headers)

    def publish(self, name=NAME, vers=VERS, *, meta=None, tarball=None, **fields):
        meta = meta if meta is not None else crate_metadata(name, vers, **fields)
        tarball = tarball if tarball is not None else make_crate(name, vers)
        return self.put(publish_body(meta, tarball))

    def rows(self) -> dict:
        with self.app.app_context(), connection():
            return {model.__name__: model.select().count() for model in (Crate, Version, Dependency, IndexFile)}

    def stored_files(self) -> list[Path]:
        return sorted(p for p in self.storage_dir.rglob("*") if p.is_file())


LIMITS = {"max_unpacked_size": "1 MiB", "max_metadata_size": "256 KiB"}


def quick_token(app, login: str) -> str:
    """A user without a password (hashing one is slow) and an API token for it."""
    with app.app_context(), connection():
        return create_token(create_user(login), "tests")[1]


def build_core_app(data_dir: Path, plugins=(), **sections):
    """The core alone with disk storage: other installed plugins cannot change what is refused."""
    pm = get_plugin_manager(load_entrypoints=False, plugins=[alexandrie_storage_disk, *plugins])
    app = create_app(registry_config(data_dir, **sections), pm=pm)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def core_app(make_app):
    def build(plugins=(), **sections):
        return make_app(plugins=[alexandrie_storage_disk, *plugins], load_entrypoints=False, **sections)
    return build


@pytest.fixture(scope="module")
def shared_registry(tmp_path_factory):
    """One SQLite registry shared by every test that only expects refusals: each checks it is still empty."""
    # Rate limiting would answer 429 after 30 publishes; it has its own tests.
    app = build_core_app(tmp_path_factory.mktemp("refusals"), general=LIMITS, rate_limits={"enabled": False})
    yield Registry(app, quick_token(app, "mallory"))
    reset_database(app)


@pytest.fixture
def registry(request, core_app):
    if os.environ.get("ALEXANDRIE_TEST_DATABASE_URL"):
        # A server database is one for every app in the run, emptied after each test: no sharing there.
        app = core_app(general=LIMITS, rate_limits={"enabled": False})
        return Registry(app, quick_token(app, "mallory"))
    return request.getfixturevalue("shared_registry")


@pytest.fixture
def fresh_registry(core_app):
    """A registry of its own, for tests that publish or change tokens."""
    app = core_app(general=LIMITS)
    return Registry(app, quick_token(app, "mallory"))


def assert_refused(registry, response, status, *detail_words, before=None, files_before=None):
    """A 4xx in cargo's error shape, naming the problem, with nothing stored."""
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert isinstance(body, dict) and list(body) == ["errors"], body
    assert len(body["errors"]) == 1 and isinstance(body["errors"][0]["detail"], str)
    detail = body["errors"][0]["detail"]
    assert "\n" not in detail, "cargo prints the detail on one line after its own words"
    for word in detail_words:
        assert word.lower() in detail.lower(), detail
    assert registry.rows() == (before or {"Crate": 0, "Version": 0, "Dependency": 0, "IndexFile": 0})
    assert registry.stored_files() == (files_before or [])
    return detail


def frame(*parts: bytes) -> bytes:
    return b"".join(parts)


def u32(value: int) -> bytes:
    return struct.pack("<I", value)


GOOD_META = json.dumps(crate_metadata(NAME, VERS)).encode()
GOOD_CRATE = make_crate(NAME, VERS)


# --- The binary frame -----------------------------------------------------------------------------


@pytest.mark.parametrize("body, words", [
    (b"\x01\x00", ["truncated", "length of the metadata"]),
    (u32(500) + b"{}", ["truncated", "500 bytes"]),
    (u32(len(GOOD_META)) + GOOD_META, ["truncated", "length of the crate file"]),
    (u32(len(GOOD_META)) + GOOD_META + b"\x10\x00", ["truncated", "length of the crate file"]),
    (u32(len(GOOD_META)) + GOOD_META + u32(len(GOOD_CRATE) + 10) + GOOD_CRATE, ["truncated", "crate file"]),
    (publish_body(GOOD_META, GOOD_CRATE) + b"extra", ["5 unexpected bytes"]),
], ids=["no-length", "json-past-end", "no-tar-length", "half-tar-length", "tar-past-end", "trailing-bytes"])
def test_broken_frames_are_refused(registry, body, words):
    assert_refused(registry, registry.put(body), 400, *words)


def test_empty_body_is_refused(registry):
    assert_refused(registry, registry.put(b""), 400, "empty", "cargo publish")


@pytest.mark.parametrize("raw, words", [
    (b"not json at all", ["not valid UTF-8 JSON"]),
    (b"\xff\xfe{}", ["not valid UTF-8 JSON"]),
    (b'{"name": "hostile", "vers": ', ["not valid UTF-8 JSON"]),
    (b"[1, 2, 3]", ["must be a JSON object"]),
    (b'"hostile"', ["must be a JSON object"]),
    (b"null", ["must be a JSON object"]),
    (b"", ["not valid UTF-8 JSON"]),
], ids=["text", "not-utf8", "cut-json", "array", "string", "null", "zero-length"])
def test_metadata_that_is_not_a_json_object_is_refused(registry, raw, words):
    assert_refused(registry, registry.put(publish_body(raw, GOOD_CRATE)), 400, *words)


def test_deeply_nested_json_is_refused_not_a_crash(registry):
    raw = b"[" * 100_000 + b"]" * 100_000
    assert_refused(registry, registry.put(publish_body(raw, GOOD_CRATE)), 400, "metadata")


def test_deeply_nested_badges_are_refused_not_a_crash(registry):
    badges = {"x": 1}
    for _ in range(900):
        badges = {"x": badges}
    meta = crate_metadata(NAME, VERS, badges=badges)
    assert_refused(registry, registry.publish(meta=meta), 400, "badges")


@pytest.mark.parametrize("needle, replacement", [
    ('"description": null', '"description": "\\ud800"'),
    ('"features": {}', '"features": {"\\udfff": []}'),
    ('"authors": []', '"authors": ["ok", "half \\udbff pair"]'),
], ids=["description", "feature-name", "author"])
def test_lone_surrogates_in_the_metadata_are_refused(registry, needle, replacement):
    raw = json.dumps(crate_metadata(NAME, VERS))
    assert needle in raw
    body = publish_body(raw.replace(needle, replacement).encode(), GOOD_CRATE)
    assert_refused(registry, registry.put(body), 400, "metadata", "surrogates")


def test_escaped_non_ascii_text_is_accepted(fresh_registry):
    raw = json.dumps(crate_metadata(NAME, VERS, description="caf\u00e9 \U0001F980"), ensure_ascii=True)
    assert fresh_registry.put(publish_body(raw.encode(), GOOD_CRATE)).status_code == 200


def test_metadata_length_over_the_limit_is_refused_before_reading(registry):
    body = u32(10 * 1024 * 1024) + b"{}"
    assert_refused(registry, registry.put(body), 413, "10485760 bytes", "limit of 262144",
                   "[general] max_metadata_size")


def test_huge_json_is_refused(registry):
    meta = crate_metadata(NAME, VERS, readme="x" * 300_000)
    assert_refused(registry, registry.publish(meta=meta), 413, "metadata", "limit", "[general] max_metadata_size",
                   "README")


def test_upload_over_max_crate_size_is_refused(core_app):
    app = core_app(general={"max_crate_size": "2 KiB", "max_metadata_size": "1 KiB"})
    registry = Registry(app, quick_token(app, "mallory"))
    big = make_crate(NAME, VERS, files={"src/noise.rs": random.Random(1).randbytes(8000)})
    assert len(big) > 4096
    response = registry.publish(tarball=big)
    assert_refused(registry, response, 413, "2048 bytes", "[general] max_crate_size")


def test_a_crate_file_over_max_crate_size_is_refused_even_when_the_frame_fits(core_app):
    app = core_app(general={"max_crate_size": "4 KiB", "max_metadata_size": "16 KiB"})
    registry = Registry(app, quick_token(app, "mallory"))
    big = make_crate(NAME, VERS, files={"src/noise.rs": random.Random(2).randbytes(5000)})
    assert 4096 < len(big) < 4096 + 16 * 1024
    assert_refused(registry, registry.publish(tarball=big), 413, "4096 bytes", "max_crate_size")


def test_upload_over_the_limit_without_content_length_is_refused(core_app):
    app = core_app(general={"max_crate_size": "2 KiB", "max_metadata_size": "1 KiB"})
    registry = Registry(app, quick_token(app, "mallory"))
    tarball = make_crate(NAME, VERS, files={"big": random.Random(1).randbytes(8000)})
    body = publish_body(crate_metadata(NAME, VERS), tarball)
    response = registry.client.put("/api/v1/crates/new", input_stream=io.BytesIO(body),
                                   headers={"Authorization": registry.token, "Transfer-Encoding": "chunked"},
                                   environ_overrides={"wsgi.input_terminated": True})
    assert_refused(registry, response, 413, "limit", "[general] max_crate_size")


# --- Field types and values -----------------------------------------------------------------------------


@pytest.mark.parametrize("fields, words", [
    ({"name": 5}, ["`name`", "string"]),
    ({"name": None}, ["no `name`"]),
    ({"vers": ["0.1.0"]}, ["`vers`", "string"]),
    ({"deps": {"a": 1}}, ["`deps`", "list"]),
    ({"deps": {}}, ["`deps`", "must be a list", "is an object"]),
    ({"deps": None}, ["`deps`", "must be a list", "is null"]),
    ({"deps": ["serde"]}, ["dependency #1", "object"]),
    ({"deps": [dependency("serde", optional="yes")]}, ["dependency `serde`", "optional", "true or false"]),
    ({"deps": [dependency("serde", default_features=1)]}, ["default_features", "true or false"]),
    ({"deps": [dependency("serde", features="derive")]}, ["features", "list of strings"]),
    ({"deps": [dependency("serde", req=7)]}, ["dependency `serde`: `version_req`", "string"]),
    ({"deps": [dependency("serde", target=["unix"])]}, ["dependency `serde`: `target`", "string"]),
    ({"deps": [dependency("serde", registry="nul \x00")]}, ["dependency `serde`: `registry`", "NUL"]),
    ({"deps": [{"version_req": "^1"}]}, ["dependency #1: `name`", "string"]),
    ({"deps": [dependency("serde", req="^1; rm -rf /")]}, ["invalid version requirement"]),
    ({"deps": [dependency("serde", kind="weird")]}, ["kind `weird`"]),
    ({"deps": [dependency("../evil")]}, ["dependency name", "invalid"]),
    ({"deps": [dependency("serde", explicit_name_in_toml="a b")]}, ["dependency name", "invalid"]),
    ({"deps": [dependency("serde", artifact=["bin"])]}, ["artifact"]),
    ({"deps": [dependency("serde", target="x" * 5000)]},
     ["`target` of dependency `serde` is 5000 characters", "allows 4096", "[limits] max_field_length"]),
    ({"deps": [dependency("serde")] * 501}, ["501 dependencies", "allows 500", "[limits] max_dependencies"]),
    ({"authors": ["a" * 5000]}, ["author `aaaa", "5000 characters", "[limits] max_field_length"]),
    ({"features": {"std": ["e" * 5000]}}, ["of feature `std` is 5000 characters", "[limits] max_field_length"]),
    ({"homepage": "https://" + "h" * 5000}, ["`homepage` is 5008 characters", "[limits] max_field_length"]),
    ({"features": ["std"]}, ["`features`", "must be an object", "is a list"]),
    ({"features": {f"f{i}": [] for i in range(301)}}, ["301 features", "allows 300", "[limits] max_features"]),
    ({"categories": [f"c{i}" for i in range(6)]}, ["6 categories", "allows 5", "[limits] max_categories"]),
    ({"features": {"std": "alloc"}}, ["feature `std`", "strings"]),
    ({"features": {"bad feature": []}}, ["feature name", "invalid"]),
    ({"keywords": "cli"}, ["keywords", "list"]),
    ({"keywords": ["a", "b", "c", "d", "e", "f"]}, ["6 keywords", "allows 5", "max_keywords"]),
    ({"keywords": {}}, ["`keywords`", "must be a list", "is an object"]),
    ({"keywords": ["no spaces"]}, ["keyword `no spaces`"]),
    ({"keywords": [3]}, ["keywords", "string"]),
    ({"categories": [{"slug": "x"}]}, ["categories", "string"]),
    ({"authors": "me"}, ["authors", "list"]),
    ({"description": 12}, ["description", "string"]),
    ({"description": "d" * 5000}, ["description is 5000 characters", "allows 4096", "[limits] max_description"]),
    ({"license": ["MIT"]}, ["license", "string"]),
    ({"badges": ["travis"]}, ["badges", "object"]),
    ({"links": 1}, ["links", "string"]),
    ({"rust_version": "latest"}, ["rust-version `latest`"]),
    ({"rust_version": 1.7}, ["rust_version", "string"]),
    ({"description": "nul \x00 inside"}, ["description", "NUL"]),
], ids=lambda v: json.dumps(v)[:40] if isinstance(v, dict) else None)
def test_wrong_field_types_and_values_are_refused(registry, fields, words):
    meta = {**crate_metadata(NAME, VERS), **fields}
    assert_refused(registry, registry.publish(meta=meta), 400, *words)


@pytest.mark.parametrize("fields, limits, words", [
    ({"readme": "r" * 2049}, {"max_readme": "2 KiB"}, ["README is 2049 bytes", "allows 2048", "[limits] max_readme"]),
    ({"deps": [dependency("serde")] * 21}, {"max_list_entries": 20},
     ["`deps` has 21 entries", "at most 20", "[limits] max_list_entries"]),
    ({"features": {"big": ["a"] * 21}}, {"max_list_entries": 20},
     ["feature `big` has 21", "at most 20", "[limits] max_list_entries"]),
    ({"deps": [dependency("serde", features=["f"] * 21)]}, {"max_list_entries": 20},
     ["features of dependency `serde` has 21", "[limits] max_list_entries"]),
])
def test_limits_come_from_the_limits_section(core_app, fields, limits, words):
    app = core_app(general=LIMITS, limits=limits)
    registry = Registry(app, quick_token(app, "mallory"))
    assert_refused(registry, registry.publish(meta={**crate_metadata(NAME, VERS), **fields}), 400, *words)


@pytest.mark.parametrize("missing", ["deps", "features"])
def test_metadata_without_a_required_field_is_refused(registry, missing):
    """crates.io's typed decoder requires both; cargo always sends them."""
    meta = {key: value for key, value in crate_metadata(NAME, VERS).items() if key != missing}
    assert_refused(registry, registry.publish(meta=meta), 400, f"`{missing}`", "is missing")


@pytest.mark.parametrize("name, words", [
    ("", ["empty"]),
    ("1password", ["not a valid crate name"]),
    ("-dash", ["not a valid crate name"]),
    ("_under", ["not a valid crate name"]),
    ("foo bar", ["not a valid crate name"]),
    ("foo.bar", ["not a valid crate name"]),
    ("caf\u00e9", ["not a valid crate name"]),
    ("../../etc", ["not a valid crate name"]),
    ("a" * 65, ["longer than 64"]),
    ("std", ["reserved"]),
    ("Std", ["reserved"]),
    ("proc-macro", ["reserved"]),
    ("nul", ["reserved"]),
    ("CON", ["reserved"]),
    ("com1", ["reserved"]),
    ("lpt9", ["reserved"]),
])
def test_invalid_and_reserved_names_are_refused(registry, name, words):
    meta = crate_metadata(name, VERS)
    tarball = make_crate(name or "x", VERS)
    assert_refused(registry, registry.publish(meta=meta, tarball=tarball), 400, *words)


@pytest.mark.parametrize("vers", ["1.0", "1", "v1.0.0", "01.0.0", "1.00.0", "1.0.0-", "1.0.0-01", "1.0.0-a..b",
                                  "1.0.0+", "1.0.0+a+b", " 1.0.0", "1.0.0 ", "1.0.0-\u00e9", "1.0.0/../x",
                                  "18446744073709551616.0.0", "1." + "0" * 200 + ".0"])
def test_versions_that_are_not_strict_semver_are_refused(registry, vers):
    meta = crate_metadata(NAME, vers)
    assert_refused(registry, registry.publish(meta=meta, tarball=make_crate(NAME, "0.1.0")), 400, "version")


# --- The .crate file --------------------------------------------------------------------------------------


def tar_gz(*members: tuple[tarfile.TarInfo, bytes | None]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for info, content in members:
            archive.addfile(info, io.BytesIO(content) if content is not None else None)
    return gzip.compress(buffer.getvalue(), mtime=0)


def member(path: str, content: bytes = b"x", kind=tarfile.REGTYPE, linkname: str = "") -> tuple:
    info = tarfile.TarInfo(path)
    info.type, info.linkname, info.mode = kind, linkname, 0o644
    info.size = len(content) if kind == tarfile.REGTYPE else 0
    return info, content if kind == tarfile.REGTYPE else None


def special(path: str, kind, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(path)
    info.type, info.linkname = kind, linkname
    return info


MANIFEST = f'[package]\nname = "{NAME}"\nversion = "{VERS}"\n'.encode()
PREFIX = f"{NAME}-{VERS}/"


@pytest.mark.parametrize("tarball, words", [
    (b"PK\x03\x04 a zip file", ["not gzip"]),
    (b"", ["not gzip"]),
    (gzip.compress(b"plain text, not a tar archive" * 20), ["not a readable gzip tar"]),
    (GOOD_CRATE[:len(GOOD_CRATE) // 2], ["not a readable gzip tar"]),
    (b"\x1f\x8b" + b"\x00" * 30, ["not a readable gzip tar"]),
    (make_crate(NAME, VERS)[:-8] + b"\x00" * 8, ["not a readable gzip tar"]),
], ids=["zip", "empty", "gzip-not-tar", "cut-in-half", "gzip-magic-only", "bad-crc"])
def test_crate_files_that_are_not_gzip_tars_are_refused(registry, tarball, words):
    assert_refused(registry, registry.publish(tarball=tarball), 400, *words)


@pytest.mark.parametrize("path", [
    "../evil.rs",
    f"{PREFIX}../../evil.rs",
    f"{PREFIX}src/../../outside.rs",
    "/etc/passwd",
    f"/{PREFIX}Cargo.toml",
    "C:/windows/evil.dll",
    f"{PREFIX}src\\..\\..\\evil.rs",
])
def test_traversal_paths_are_refused(registry, path):
    tarball = tar_gz(member(f"{PREFIX}Cargo.toml", MANIFEST), member(path))
    detail = assert_refused(registry, registry.publish(tarball=tarball), 400, "unsafe path")
    assert path[:50] in detail


def test_entries_outside_the_package_folder_are_refused(registry):
    tarball = tar_gz(member(f"{PREFIX}Cargo.toml", MANIFEST), member("other-0.1.0/src/lib.rs"))
    assert_refused(registry, registry.publish(tarball=tarball), 400, "outside", PREFIX)


def test_a_sibling_folder_sharing_the_prefix_is_refused(registry):
    tarball = tar_gz(member(f"{PREFIX}Cargo.toml", MANIFEST), member(f"{NAME}-{VERS}x/src/lib.rs"))
    assert_refused(registry, registry.publish(tarball=tarball), 400, "outside")


@pytest.mark.parametrize("info", [
    special(f"{PREFIX}src/link.rs", tarfile.SYMTYPE, "/etc/passwd"),
    special(f"{PREFIX}src/rel.rs", tarfile.SYMTYPE, "../../../etc/shadow"),
    special(f"{PREFIX}src/hard.rs", tarfile.LNKTYPE, f"{PREFIX}Cargo.toml"),
    special(f"{PREFIX}dev/tty", tarfile.CHRTYPE),
    special(f"{PREFIX}dev/sda", tarfile.BLKTYPE),
    special(f"{PREFIX}fifo", tarfile.FIFOTYPE),
], ids=["symlink-abs", "symlink-rel", "hardlink", "chardev", "blockdev", "fifo"])
def test_links_and_special_files_are_refused(registry, info):
    tarball = make_crate(NAME, VERS, members=[info])
    assert_refused(registry, registry.publish(tarball=tarball), 400, "link or special file")


def test_gzip_bomb_is_refused(registry):
    bomb = make_crate(NAME, VERS, files={"src/zeros.bin": b"\0" * (3 * 1024 * 1024)})
    assert len(bomb) < 20_000
    assert_refused(registry, registry.publish(tarball=bomb), 400, "unpacks to more than 1048576 bytes",
                   "[general] max_unpacked_size", f"`{PREFIX}src/zeros.bin`")


def test_too_many_entries_are_refused(registry, monkeypatch):
    import alexandrie.rules.tarball

    monkeypatch.setattr(alexandrie.rules.tarball, "MAX_ENTRIES", 5)
    tarball = make_crate(NAME, VERS, files={f"src/m{i}.rs": b"" for i in range(5)})
    assert_refused(registry, registry.publish(tarball=tarball), 400, "more than 5 entries", "a fixed limit")


def test_a_member_claiming_a_huge_size_is_refused_without_reading_it(registry):
    info = tarfile.TarInfo(f"{PREFIX}src/liar.rs")
    info.size = 50 * 1024 * 1024 * 1024
    header = info.tobuf(format=tarfile.GNU_FORMAT)
    manifest_info, manifest = member(f"{PREFIX}Cargo.toml", MANIFEST)
    raw = manifest_info.tobuf(format=tarfile.GNU_FORMAT) + manifest + b"\0" * (512 - len(manifest)) + header
    assert_refused(registry, registry.publish(tarball=gzip.compress(raw, mtime=0)), 400, "unpacks to more than",
                   "[general] max_unpacked_size", f"`{PREFIX}src/liar.rs`")


@pytest.mark.parametrize("kind", [tarfile.XHDTYPE, tarfile.GNUTYPE_LONGNAME], ids=["pax-header", "gnu-longname"])
def test_a_header_bomb_is_refused_without_unpacking_it(registry, kind):
    """Extended headers are not members: their size must be capped too, or 8 MiB of zeros gets read into memory."""
    import tracemalloc

    info = tarfile.TarInfo("././@PaxHeader" if kind == tarfile.XHDTYPE else "././@LongLink")
    info.type, info.size = kind, 8 * 1024 * 1024
    manifest_info, manifest = member(f"{PREFIX}Cargo.toml", MANIFEST)
    raw = (manifest_info.tobuf(format=tarfile.GNU_FORMAT) + manifest + b"\0" * (512 - len(manifest))
           + info.tobuf(format=tarfile.GNU_FORMAT) + b"1" * info.size + b"\0" * 1024)
    tarball = gzip.compress(raw, mtime=0)
    del raw
    assert_refused(registry, registry.publish(tarball=tarball), 400, "extended tar header", "the limit is",
                   "a fixed limit")
    tracemalloc.start()
    try:
        with pytest.raises(AlexandrieError):
            inspect_crate(tarball, NAME, VERS, 1024 * 1024)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024, f"{peak} bytes were held while checking an 8 MiB header"


def test_a_pax_format_crate_with_a_long_non_ascii_path_is_accepted(fresh_registry):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        deep = "d\u00e9ep/" * 30
        for path, content in ((f"{PREFIX}Cargo.toml", MANIFEST), (f"{PREFIX}tests/{deep}x.rs", b"")):
            info = tarfile.TarInfo(path)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    response = fresh_registry.publish(tarball=gzip.compress(buffer.getvalue(), mtime=0))
    assert response.status_code == 200, response.get_data(as_text=True)


def test_a_pax_header_of_digits_fails_fast(registry):
    """Python < 3.11.10 needs cubic time for this (CVE-2024-6232); the size limit keeps it short."""
    import time

    info = tarfile.TarInfo("././@PaxHeader")
    info.type, info.size = tarfile.XHDTYPE, 1024
    manifest_info, manifest = member(f"{PREFIX}Cargo.toml", MANIFEST)
    raw = (manifest_info.tobuf(format=tarfile.GNU_FORMAT) + manifest + b"\0" * (512 - len(manifest))
           + (info.tobuf(format=tarfile.GNU_FORMAT) + b"9" * 1024) * 200 + b"\0" * 1024)
    started = time.monotonic()
    response = registry.publish(tarball=gzip.compress(raw, mtime=0))
    assert time.monotonic() - started < 5
    assert_refused(registry, response, 400)


@pytest.mark.parametrize("manifest, words", [
    (None, [f"no `{PREFIX}Cargo.toml`"]),
    (b"[package\nname = ", ["not valid TOML"]),
    (b"\xff\xfe[package]", ["not valid TOML"]),
    (b'[lib]\nname = "hostile"\n', ["no [package] table"]),
    (b'package = "hostile"\n', ["no [package] table"]),
    (b'[package]\nname = "other"\nversion = "0.1.0"\n', ["`other` 0.1.0", f"`{NAME}` {VERS}"]),
    (b'[package]\nname = "hostile"\nversion = "0.2.0"\n', ["0.2.0", "cargo package"]),
    (b'[package]\nname = "Hostile"\nversion = "0.1.0"\n', ["`Hostile`"]),
    (b'[package]\nname = "hostile"\nversion.workspace = true\n', ["cargo package"]),
    (b'[package]\nname = "hostile"\n', ["cargo package"]),
], ids=["missing", "bad-toml", "not-utf8", "no-package", "package-not-table", "other-name", "other-version",
        "other-case", "workspace-version", "no-version"])
def test_cargo_toml_must_name_the_same_crate_and_version(registry, manifest, words):
    files = [member(f"{PREFIX}src/lib.rs", b"pub fn f() {}\n")]
    if manifest is not None:
        files.insert(0, member(f"{PREFIX}Cargo.toml", manifest))
    assert_refused(registry, registry.publish(tarball=tar_gz(*files)), 400, *words)


def test_cargo_toml_outside_the_package_folder_does_not_count(registry):
    tarball = tar_gz(member("Cargo.toml", MANIFEST))
    assert_refused(registry, registry.publish(tarball=tarball), 400)


# --- Authentication ----------------------------------------------------------------------------------------


def test_publish_without_a_token_is_refused(registry):
    response = registry.put(publish_body(GOOD_META, GOOD_CRATE), token=None)
    assert_refused(registry, response, 403, "/me", "cargo login")


def test_publish_with_an_unknown_token_is_refused(registry):
    response = registry.put(publish_body(GOOD_META, GOOD_CRATE), token="alx_not-a-real-token")
    assert_refused(registry, response, 403, "invalid or has been revoked")


def test_publish_with_a_revoked_token_is_refused(fresh_registry):
    with fresh_registry.app.app_context(), connection():
        ApiToken.update(revoked_at=utcnow()).execute()
    response = fresh_registry.put(publish_body(GOOD_META, GOOD_CRATE))
    assert_refused(fresh_registry, response, 403, "revoked", "cargo login")


def test_bad_input_is_refused_for_anonymous_users_before_anything_else(registry):
    response = registry.put(b"garbage", token=None)
    assert_refused(registry, response, 403)


# --- Refusals that depend on what is already published ---------------------------------------------------


@pytest.fixture
def published(fresh_registry):
    assert fresh_registry.publish("foo_bar", "1.0.0", tarball=make_crate("foo_bar", "1.0.0")).status_code == 200
    return fresh_registry.rows(), fresh_registry.stored_files()


def test_canonical_name_collisions_are_refused(fresh_registry, published):
    before, files = published
    for name in ("Foo-Bar", "foo-bar", "FOO_BAR"):
        response = fresh_registry.publish(name, "2.0.0", tarball=make_crate(name, "2.0.0"))
        assert_refused(fresh_registry, response, 400, "published here as `foo_bar`", 'name = "foo_bar"',
                       before=before, files_before=files)


def test_duplicate_versions_are_refused(fresh_registry, published):
    before, files = published
    response = fresh_registry.publish("foo_bar", "1.0.0", tarball=make_crate("foo_bar", "1.0.0"))
    assert_refused(fresh_registry, response, 409, "already published", "bump the version", before=before,
                   files_before=files)
    assert fresh_registry.app.extensions["alexandrie"].storage.read_crate("foo_bar", "1.0.0") \
        == make_crate("foo_bar", "1.0.0")


def test_build_metadata_twins_are_refused(fresh_registry, published):
    before, files = published
    response = fresh_registry.publish("foo_bar", "1.0.0+linux", tarball=make_crate("foo_bar", "1.0.0+linux"))
    assert_refused(fresh_registry, response, 409, "only by build metadata", before=before, files_before=files)


def test_dependencies_missing_from_the_registry_are_refused(fresh_registry, published):
    before, files = published
    meta = crate_metadata("needs", "0.1.0", deps=[dependency("foo-bar", "^1"), dependency("nowhere", "^1")])
    response = fresh_registry.publish(meta=meta, tarball=make_crate("needs", "0.1.0"))
    assert_refused(fresh_registry, response, 400, "`nowhere`", "publish them first", before=before, files_before=files)


def test_a_non_owner_cannot_publish_a_new_version(fresh_registry, published):
    before, files = published
    other = quick_token(fresh_registry.app, "eve")
    body = publish_body(crate_metadata("foo_bar", "1.1.0"), make_crate("foo_bar", "1.1.0"))
    response = fresh_registry.put(body, token=other)
    assert_refused(fresh_registry, response, 403, "not an owner", "cargo owner --add eve foo_bar",
                   before=before, files_before=files)


def test_a_failing_validator_plugin_refuses_and_stores_nothing(core_app):
    from alexandrie import hookimpl

    class NoUnicorns:
        @hookimpl
        def alexandrie_validate_publish(self, new_version, identity):
            return ["crates named after unicorns are not allowed here"] if "unicorn" in new_version.name else None

    app = core_app(plugins=[NoUnicorns()])
    registry = Registry(app, quick_token(app, "mallory"))
    response = registry.publish("unicorn", "0.1.0", tarball=make_crate("unicorn", "0.1.0"))
    assert_refused(registry, response, 400, "unicorns are not allowed")


def test_a_failing_index_backend_rolls_the_publish_back(core_app):
    from alexandrie import BackendSpec, IndexBackend, hookimpl

    class Exploding(IndexBackend):
        def update_crate(self, name, content, message):
            raise RuntimeError("the index disk is full")

        def rebuild(self, files, message):
            raise RuntimeError("the index disk is full")

    class Plugin:
        @hookimpl
        def alexandrie_index_backends(self):
            return [BackendSpec("exploding", lambda settings, app: Exploding())]

    app = core_app(plugins=[Plugin()], index={"type": "exploding"})
    registry = Registry(app, quick_token(app, "mallory"))
    response = registry.publish()
    assert response.status_code == 500
    assert "Nothing was changed" in response.get_json()["errors"][0]["detail"]
    assert registry.rows() == {"Crate": 0, "Version": 0, "Dependency": 0, "IndexFile": 0}
    assert registry.stored_files() == []


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                                          "application/json"])
def test_a_misleading_content_type_does_not_hide_the_body(fresh_registry, content_type):
    response = fresh_registry.put(publish_body(GOOD_META, GOOD_CRATE), **{"Content-Type": content_type})
    assert response.status_code == 200, response.get_data(as_text=True)


def test_a_storage_failure_rolls_the_publish_back(fresh_registry):
    root = fresh_registry.storage_dir
    root.rmdir()
    root.write_bytes(b"a file where the storage folder should be")
    response = fresh_registry.publish()
    assert response.status_code == 500 and list(response.get_json()) == ["errors"]
    assert fresh_registry.rows() == {"Crate": 0, "Version": 0, "Dependency": 0, "IndexFile": 0}
    assert root.read_bytes() == b"a file where the storage folder should be"


def test_a_good_publish_after_all_the_refusals_still_works(fresh_registry):
    fresh_registry.put(b"garbage")
    fresh_registry.publish(tarball=b"not gzip")
    response = fresh_registry.publish()
    assert response.status_code == 200, response.get_json()
    assert fresh_registry.rows()["Version"] == 1 and len(fresh_registry.stored_files()) == 1
