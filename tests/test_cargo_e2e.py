"""The real ``cargo`` 1.95 against a real registry on 127.0.0.1, in throwaway cargo homes.

One server and one small family of crates serve the whole module:

* ``e2e-base`` 0.1.0 and 0.1.1: a feature, a README, keywords and categories;
* ``e2e-opt``, ``e2e-unix`` and ``e2e-devonly``: an optional, a target-specific and a dev dependency;
* ``e2e-mid``: depends on all of them, ``e2e-base`` renamed to ``base``;
* a local binary (never published) that depends on ``e2e-mid`` and prints what it linked.
"""

import hashlib
import json
import os
import pty
import re
import select
import subprocess
import time
import tomllib

import pytest

from alexandrie.testing import crate_metadata, make_crate, publish_body, write_package

pytestmark = pytest.mark.cargo

ALEX = 'registry = "alex"'


def base_lib(version: str) -> str:
    return (f'pub fn greet() -> String {{\n'
            f'    let text = String::from("base {version}");\n'
            f'    if cfg!(feature = "loud") {{ text.to_uppercase() }} else {{ text }}\n}}\n')


MID_MANIFEST = f"""
[features]
extra = ["dep:e2e-opt"]

[dependencies]
base = {{ version = "0.1", {ALEX}, package = "e2e-base", features = ["loud"] }}
e2e-opt = {{ version = "0.1", {ALEX}, optional = true }}

[target.'cfg(unix)'.dependencies]
e2e-unix = {{ version = "0.1", {ALEX} }}

[dev-dependencies]
e2e-devonly = {{ version = "0.1", {ALEX} }}
"""

MID_LIB = """
pub fn describe() -> String {
    let mut parts = vec![base::greet()];
    #[cfg(feature = "extra")]
    parts.push(e2e_opt::name().to_string());
    #[cfg(unix)]
    parts.push(e2e_unix::name().to_string());
    parts.join(" + ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn uses_the_dev_dependency() { assert_eq!(e2e_devonly::name(), "devonly"); }
}
"""

APP_MAIN = 'fn main() { println!("app says: {}", e2e_mid::describe()); }\n'
APP_DEPENDENCY = f'\n[dependencies]\ne2e-mid = {{ version = "0.1", {ALEX}, features = ["extra"] }}\n'


class World:
    """What the module publishes once; tests read it and leave it as they found it."""

    def __init__(self, registry, root):
        self.registry, self.root = registry, root
        self.alice_token = registry.user("alice")
        self.bob_token = registry.user("bob")
        self.carol_token = registry.user("carol")
        self.alice = registry.cargo("alice-home", self.alice_token)
        self.bob = registry.cargo("bob-home", self.bob_token)
        self.published = {}

    def publish(self, name: str, version: str = "0.1.0", *, cargo=None, check=True, **package):
        folder = self.root / "src" / f"{name}-{version}"
        path = write_package(folder, name, version, **package)
        result = (cargo or self.alice).run("publish", "--no-verify", cwd=path, check=check)
        if result.returncode == 0:
            self.published[(name, version)] = path
        return result

    def app_package(self, name: str = "e2e-app"):
        return write_package(self.root / "apps", name, manifest_extra=APP_DEPENDENCY, main=APP_MAIN)


@pytest.fixture(scope="module")
def world(module_registry, tmp_path_factory):
    world = World(module_registry, tmp_path_factory.mktemp("crates"))
    base_extra = ('keywords = ["greeting", "E2E"]\ncategories = ["text-processing", "no-std::no-alloc"]\n'
                  'homepage = "https://example.com/e2e"\n\n[features]\ndefault = []\nloud = []\n')
    for version in ("0.1.0", "0.1.1"):
        world.publish("e2e-base", version, manifest_extra=base_extra, lib=base_lib(version),
                      readme=f"# e2e-base\n\nGreets, version {version}.\n")
    for leaf in ("e2e-opt", "e2e-unix", "e2e-devonly"):
        world.publish(leaf, lib=f'pub fn name() -> &\'static str {{ "{leaf.removeprefix("e2e-")}" }}\n')
    world.publish("e2e-mid", manifest_extra=MID_MANIFEST, lib=MID_LIB)
    return world


def crate_file(world, name, version) -> bytes:
    status, _, body = world.registry.request("GET", f"/api/v1/crates/{name}/{version}/download")
    assert status == 200, body
    return body


def lockfile_versions(package_dir) -> dict[str, str]:
    lock = tomllib.loads((package_dir / "Cargo.lock").read_text())
    return {p["name"]: p["version"] for p in lock["package"]}


# --- Publishing and building ------------------------------------------------------------------------


def test_published_crates_are_in_the_index_with_the_uploaded_checksum(world):
    for (name, version), path in world.published.items():
        [line] = [line for line in world.registry.index_lines(name) if line["vers"] == version]
        uploaded = path / "target" / "package" / "tmp-crate" / f"{name}-{version}.crate"
        data = crate_file(world, name, version)
        assert line["cksum"] == hashlib.sha256(data).hexdigest()
        if uploaded.exists():  # where cargo keeps what it sent (F16)
            assert uploaded.read_bytes() == data


def test_index_lines_carry_renamed_optional_target_and_dev_dependencies(world):
    [mid] = world.registry.index_lines("e2e-mid")
    deps = {d["name"]: d for d in mid["deps"]}
    assert set(deps) == {"base", "e2e-opt", "e2e-unix", "e2e-devonly"}
    assert deps["base"]["package"] == "e2e-base" and deps["base"]["features"] == ["loud"]
    assert deps["base"]["req"] == "^0.1" and deps["base"]["kind"] == "normal"
    assert deps["e2e-opt"]["optional"] is True and deps["e2e-opt"].get("package") is None
    assert deps["e2e-unix"]["target"] == "cfg(unix)"
    assert deps["e2e-devonly"]["kind"] == "dev"
    assert all(d["registry"] is None for d in deps.values()), "same-registry deps have no registry"
    assert mid["features2"] == {"extra": ["dep:e2e-opt"]} and mid["v"] == 2
    assert "extra" not in mid["features"]


def test_index_lines_have_the_fields_and_format_cargo_needs(world):
    lines = world.registry.index_lines("e2e-base")
    assert [line["vers"] for line in lines] == ["0.1.0", "0.1.1"]
    for line in lines:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", line["pubtime"]), line["pubtime"]
        assert line["features"] == {"default": [], "loud": []}
        assert line["yanked"] is False and line["name"] == "e2e-base" and line["v"] == 1
        assert {"links", "rust_version", "deps", "cksum"} <= set(line)
    status, _, raw = world.registry.request("GET", "/index/e2/e-/e2e-base")
    assert raw.count(b"\n") == 2 and raw.endswith(b"\n") and b", " not in raw and b": " not in raw


def test_the_index_file_is_byte_identical_across_requests_and_revalidates_with_304(world):
    registry = world.registry
    first = registry.request("GET", "/index/e2/e-/e2e-base")
    second = registry.request("GET", "/index/e2/e-/e2e-base")
    assert first[0] == second[0] == 200 and first[2] == second[2]
    etag = first[1]["ETag"]
    assert etag and etag == second[1]["ETag"] and first[1]["Content-Type"].startswith("text/plain")
    status, headers, body = registry.request("GET", "/index/e2/e-/e2e-base", headers={"If-None-Match": etag})
    assert (status, body, headers["ETag"]) == (304, b"", etag)
    status, _, body = registry.request("GET", "/index/e2/e-/e2e-base", headers={"If-None-Match": '"stale"'})
    assert status == 200 and body == first[2]
    assert registry.request("GET", "/index/e2/e-/e2e-nothing")[0] == 404


def test_a_binary_builds_and_runs_against_the_registry(world):
    app = world.app_package()
    result = world.alice.run("run", "--quiet", cwd=app)
    assert result.stdout.strip() == "app says: BASE 0.1.1 + opt + unix"
    assert lockfile_versions(app)["e2e-base"] == "0.1.1"
    assert "e2e-devonly" not in lockfile_versions(app), "dev-dependencies of a dependency are not resolved"
    lock = (app / "Cargo.lock").read_text()
    assert f'source = "sparse+{world.registry.url}/index/"' in lock


def test_the_published_crate_s_own_tests_build_with_its_dev_dependency(world):
    """The downloaded e2e-mid sources compile with their dev-dependency from the registry."""
    result = world.alice.run("test", "--quiet", cwd=world.published[("e2e-mid", "0.1.0")])
    assert "1 passed" in result.stdout


def test_readme_keywords_and_categories_are_stored(world):
    from alexandrie.db import connection
    from alexandrie.models import Crate, Version

    with world.registry.app.app_context(), connection():
        crate = Crate.get(Crate.name == "e2e-base")
        version = Version.get((Version.crate == crate) & (Version.num == "0.1.1"))
        assert version.readme == "# e2e-base\n\nGreets, version 0.1.1.\n" and version.readme_file == "README.md"
        assert version.keywords == ["greeting", "e2e"]
        assert version.categories == ["text-processing", "no-std::no-alloc"]
        assert crate.max_version == "0.1.1" and crate.homepage == "https://example.com/e2e"


# --- Other cargo commands ---------------------------------------------------------------------------


def test_cargo_search_lists_the_crates_with_their_latest_version(world):
    result = world.alice.run("search", "--registry", "alex", "e2e-base", cwd=world.root)
    assert re.search(r'^e2e-base = "0\.1\.1"\s+# The e2e-base crate$', result.stdout, re.M), result.stdout
    result = world.alice.run("search", "--registry", "alex", "--limit", "2", "e2e", cwd=world.root)
    assert len(re.findall(r'^e2e-\S+ = "', result.stdout, re.M)) == 2
    total = world.registry.get_json("/api/v1/crates?q=e2e")["meta"]["total"]
    assert total >= 5 and f"and {total - 2} crates more" in result.stdout, result.stdout


def test_yank_keeps_a_fresh_lockfile_off_the_yanked_version_and_unyank_restores_it(world):
    app = world.app_package("e2e-yank-app")
    alice = world.alice
    alice.run("yank", "--registry", "alex", "--version", "0.1.1", "e2e-base", cwd=world.root)
    try:
        assert [line["yanked"] for line in world.registry.index_lines("e2e-base")] == [False, True]
        alice.run("generate-lockfile", cwd=app)
        assert lockfile_versions(app)["e2e-base"] == "0.1.0"
    finally:
        alice.run("yank", "--registry", "alex", "--version", "0.1.1", "--undo", "e2e-base", cwd=world.root)
    assert [line["yanked"] for line in world.registry.index_lines("e2e-base")] == [False, False]
    (app / "Cargo.lock").unlink()
    alice.run("generate-lockfile", cwd=app)
    assert lockfile_versions(app)["e2e-base"] == "0.1.1"


def test_yanking_an_unknown_version_shows_the_registry_s_detail(world):
    result = world.alice.run("yank", "--registry", "alex", "--version", "9.9.9", "e2e-base", cwd=world.root,
                             check=False)
    assert result.returncode != 0
    assert "crate `e2e-base` has no version 9.9.9" in result.stderr


def test_owners_list_add_and_remove(world):
    alice = world.alice

    def owners():
        result = alice.run("owner", "--registry", "alex", "--list", "e2e-opt", cwd=world.root)
        return sorted(line.split()[0] for line in result.stdout.splitlines() if line.strip())

    assert owners() == ["alice"]
    added = alice.run("owner", "--registry", "alex", "--add", "carol", "e2e-opt", cwd=world.root)
    assert "`carol` is now an owner of crate `e2e-opt`" in added.stderr
    assert owners() == ["alice", "carol"]
    alice.run("owner", "--registry", "alex", "--remove", "carol", "e2e-opt", cwd=world.root)
    assert owners() == ["alice"]
    unknown = alice.run("owner", "--registry", "alex", "--add", "nobody", "e2e-opt", cwd=world.root, check=False)
    assert unknown.returncode != 0 and "no user named `nobody`" in unknown.stderr


def test_a_non_owner_cannot_publish_a_new_version(world):
    result = world.publish("e2e-base", "0.2.0", cargo=world.bob, check=False)
    assert result.returncode != 0
    assert "403 Forbidden" in result.stderr
    assert "user `bob` is not an owner of crate `e2e-base`" in result.stderr
    assert [line["vers"] for line in world.registry.index_lines("e2e-base")] == ["0.1.0", "0.1.1"]


def test_a_non_owner_cannot_yank_or_change_owners(world):
    bob = world.bob
    yank = bob.run("yank", "--registry", "alex", "--version", "0.1.0", "e2e-base", cwd=world.root, check=False)
    assert yank.returncode != 0 and "not an owner of crate `e2e-base`" in yank.stderr
    owner = bob.run("owner", "--registry", "alex", "--add", "bob", "e2e-base", cwd=world.root, check=False)
    assert owner.returncode != 0 and "not an owner of crate `e2e-base`" in owner.stderr
    assert [line["yanked"] for line in world.registry.index_lines("e2e-base")] == [False, False]


def test_a_bad_token_is_refused_with_a_readable_message(world):
    path = write_package(world.root / "src" / "badtoken", "e2e-badtoken")
    result = world.alice.run("publish", "--no-verify", cwd=path, token="alx_not-a-real-token", check=False)
    assert result.returncode != 0
    assert "403 Forbidden" in result.stderr
    assert "the API token is invalid or has been revoked" in result.stderr
    assert "cargo login --registry" in result.stderr
    assert world.registry.request("GET", "/index/e2/e-/e2e-badtoken")[0] == 404


def test_a_duplicate_version_is_refused(world):
    """cargo itself stops before uploading (F13); a raw upload gets the registry's 409."""
    result = world.publish("e2e-leaf-dup", check=True)
    assert result.returncode == 0
    again = world.publish("e2e-leaf-dup", check=False)
    assert again.returncode != 0 and "already exists" in again.stderr
    tarball = make_crate("e2e-leaf-dup", "0.1.0", files={"src/lib.rs": b"// a different file\n"})
    status, _, body = world.registry.request(
        "PUT", "/api/v1/crates/new", body=publish_body(crate_metadata("e2e-leaf-dup", "0.1.0"), tarball),
        headers={"Authorization": world.alice_token})
    assert status == 409
    assert "version 0.1.0 is already published" in json.loads(body)["errors"][0]["detail"]
    [line] = world.registry.index_lines("e2e-leaf-dup")
    assert line["cksum"] == hashlib.sha256(crate_file(world, "e2e-leaf-dup", "0.1.0")).hexdigest()
    assert line["cksum"] != hashlib.sha256(tarball).hexdigest()


def test_cargo_add_picks_the_latest_version_from_the_registry(world):
    path = write_package(world.root / "apps", "e2e-add-app", main="fn main() {}\n")
    world.alice.run("add", "--registry", "alex", "e2e-base", "--features", "loud", cwd=path)
    manifest = tomllib.loads((path / "Cargo.toml").read_text())
    assert manifest["dependencies"]["e2e-base"] == {"version": "0.1.1", "registry": "alex", "features": ["loud"]}
    world.alice.run("generate-lockfile", cwd=path)
    assert lockfile_versions(path)["e2e-base"] == "0.1.1"


def test_cargo_info_shows_the_published_metadata(world):
    result = world.alice.run("info", "--registry", "alex", "e2e-base", cwd=world.root)
    assert "e2e-base #greeting #E2E" in result.stdout, result.stdout  # read from the .crate (F22)
    assert "The e2e-base crate" in result.stdout
    assert "version: 0.1.1 (from registry `alex`)" in result.stdout
    assert "license: MIT" in result.stdout and "loud" in result.stdout
    old = world.alice.run("info", "--registry", "alex", "e2e-base@0.1.0", cwd=world.root)
    assert "version: 0.1.0 (latest 0.1.1 from registry `alex`)" in old.stdout
    missing = world.alice.run("info", "--registry", "alex", "e2e-nope", cwd=world.root, check=False)
    assert missing.returncode != 0 and "could not find `e2e-nope`" in missing.stderr


def run_in_terminal(args, *, cwd, env, prompt: bytes, answer: str, timeout: float = 120) -> tuple[int, str]:
    """Run ``args`` on a pseudo-terminal (cargo prompts only on one); type ``answer`` once ``prompt`` shows."""
    master, slave = pty.openpty()
    process = subprocess.Popen(args, cwd=cwd, env=env, stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    output, answered, deadline = b"", False, time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if not ready:
                if process.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the child closed the terminal
                break
            output += chunk
            if not answered and prompt in output:
                os.write(master, answer.encode() + b"\n")
                answered = True
        return process.wait(timeout=max(1.0, deadline - time.monotonic())), output.decode(errors="replace")
    finally:
        os.close(master)


def test_cargo_login_points_at_the_me_page_and_its_token_works(world, tmp_path):
    cargo = world.registry.cargo("login-home")
    env = cargo.env(token="")
    status, output = run_in_terminal(["cargo", "login", "--registry", "alex"], cwd=tmp_path, env=env,
                                     prompt=b"below", answer=world.carol_token)
    assert status == 0, output
    assert f"please paste the token found on {world.registry.url}/me below" in output
    assert world.carol_token in (cargo.home / "credentials.toml").read_text()
    status, _, page = world.registry.request("GET", "/me")
    assert status == 200 and b"cargo login --registry" in page
    assert f"sparse+{world.registry.url}/index/".encode() in page
    assert b"token page" in page or b"alexandrie token create" in page, "says where tokens come from"
    path = write_package(tmp_path, "e2e-login-check")
    published = subprocess.run(["cargo", "publish", "--no-verify"], cwd=path, env=env, capture_output=True,
                               text=True, timeout=300)
    assert published.returncode == 0, published.stderr
    owners = world.registry.get_json("/api/v1/crates/e2e-login-check/owners")["users"]
    assert [u["login"] for u in owners] == ["carol"]


def test_cargo_revalidates_index_files_with_if_none_match_and_uses_the_304(world):
    cargo = world.registry.cargo("revalidate-home")
    app = world.app_package("e2e-revalidate-app")
    cargo.run("generate-lockfile", cwd=app)
    first = lockfile_versions(app)
    seen = len(world.registry.requests)
    (app / "Cargo.lock").unlink()
    cargo.run("generate-lockfile", cwd=app)
    assert lockfile_versions(app) == first
    index_requests = [r for r in world.registry.requests[seen:] if r[1].startswith("/index/e2")]
    assert {path.rsplit("/", 1)[-1] for _, path, _, _ in index_requests} == set(first) - {"e2e-revalidate-app"}
    assert all(status == 304 and etag for _, _, status, etag in index_requests), index_requests


def test_generate_lockfile_and_fetch_with_a_cold_cache_get_the_exact_uploaded_files(world):
    cargo = world.registry.cargo("cold-home")
    app = world.app_package("e2e-cold-app")
    cargo.run("generate-lockfile", cwd=app)
    assert lockfile_versions(app) == {"e2e-cold-app": "0.1.0", "e2e-mid": "0.1.0", "e2e-base": "0.1.1",
                                      "e2e-opt": "0.1.0", "e2e-unix": "0.1.0"}
    cargo.run("fetch", cwd=app)
    for name, version in [("e2e-mid", "0.1.0"), ("e2e-base", "0.1.1")]:
        cached = list(cargo.home.glob(f"registry/cache/*/{name}-{version}.crate"))
        assert len(cached) == 1 and cached[0].read_bytes() == crate_file(world, name, version)


def test_unknown_categories_are_dropped_with_a_warning_cargo_prints(world):
    result = world.publish("e2e-badcat", manifest_extra='categories = ["Not A Slug", "text-processing"]\n')
    assert "Not A Slug" in result.stderr and "categor" in result.stderr, result.stderr
    from alexandrie.db import connection
    from alexandrie.models import Crate, Version

    with world.registry.app.app_context(), connection():
        version = Version.select().join(Crate).where(Crate.name == "e2e-badcat").get()
        assert version.categories == ["text-processing"]
