"""The ``alexandrie`` command line, run as a subprocess on the config file the README documents.

``import`` is fed what ``cargo package`` really writes (``target/package/*.crate``), and a consumer
then builds with the real cargo against the imported crates.
"""

import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from alexandrie.testing import LiveServer, require_tool, write_package

ALEXANDRIE = str(Path(sys.executable).with_name("alexandrie"))
CRATES_IO = "https://github.com/rust-lang/crates.io-index"


class Cli:
    """A registry folder with the README's ``alexandrie.toml``, driven through the installed command."""

    def __init__(self, root: Path, database_url: str):
        from alexandrie.testing import free_port

        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        port = free_port()
        self.config = root / "alexandrie.toml"
        self.config.write_text(
            f'[general]\nbind_address = "127.0.0.1:{port}"\npublic_url = "http://127.0.0.1:{port}"\n'
            f'[database]\nurl = "{database_url}"\n'
            f'[storage]\ntype = "disk"\npath = "{root}/crate-storage"\n'
            f'[index]\ntype = "sparse"\n[frontend]\nenabled = true\n')
        self._app = None

    def run(self, *args, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ALEXANDRIE_")}
        result = subprocess.run([ALEXANDRIE, "--config", str(self.config), *args], input=input, env=env,
                                capture_output=True, text=True, timeout=300, cwd=self.root)
        if check and result.returncode != 0:
            raise AssertionError(f"alexandrie {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    @property
    def app(self):
        """The same registry, opened in this process to look at what the commands did."""
        if self._app is None:
            from alexandrie.app import create_app

            self._app = create_app(str(self.config))
        return self._app

    def query(self, func):
        from alexandrie.db import connection

        with self.app.app_context(), connection():
            return func()

    def index_files(self) -> dict[str, tuple[str, str]]:
        from alexandrie.models import Crate, IndexFile

        return self.query(lambda: {row.crate.name: (row.content, row.etag)
                                   for row in IndexFile.select(IndexFile, Crate).join(Crate)})

    def index_lines(self, name: str) -> list[dict]:
        return [json.loads(line) for line in self.index_files()[name][0].splitlines()]

    def close(self):
        if self._app is not None:
            from alexandrie.testing import reset_database

            reset_database(self._app)


@pytest.fixture
def make_cli(tmp_path, scratch_database):
    made = []

    def factory(name: str = "registry") -> Cli:
        made.append(Cli(tmp_path / name, scratch_database()))
        return made[-1]

    yield factory
    for cli in made:
        cli.close()


@pytest.fixture(scope="module")
def packaged_crates(tmp_path_factory) -> Path:
    """``cargo package`` output for a small workspace: three leaves, and a crate depending on them in every way."""
    require_tool("cargo")
    root = tmp_path_factory.mktemp("workspace")
    (root / "Cargo.toml").write_text('[workspace]\nmembers = ["imp-*"]\nresolver = "2"\n')
    write_package(root, "imp-leaf", manifest_extra='[features]\nshout = []\n',
                  lib='pub fn leaf() -> &\'static str { if cfg!(feature = "shout") { "LEAF" } else { "leaf" } }\n')
    write_package(root, "imp-opt")
    write_package(root, "imp-unix", lib='pub fn unix() -> &\'static str { "unix" }\n')
    write_package(root, "imp-user", readme="# imp-user\n\nUses the leaf.\n", manifest_extra="""
[dependencies]
renamed = { path = "../imp-leaf", version = "0.1", package = "imp-leaf", features = ["shout"] }
imp-opt = { path = "../imp-opt", version = "0.1", optional = true }

[target.'cfg(unix)'.dependencies]
imp-unix = { path = "../imp-unix", version = "0.1" }

[features]
extra = ["dep:imp-opt"]
""", lib="pub fn user() -> String { format!(\"user of {} on {}\", renamed::leaf(), imp_unix::unix()) }\n")
    for manifest in root.glob("imp-*/Cargo.toml"):  # write_package targets `alex`; these go to crates.io
        manifest.write_text(manifest.read_text().replace('publish = ["alex"]\n', ""))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARGO_")}
    env.update(CARGO_HOME=str(root / "cargo-home"), CARGO_TARGET_DIR=str(root / "target"))
    result = subprocess.run(["cargo", "package", "--workspace", "--no-verify", "--offline"], cwd=root, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    crates = root / "crates"  # target/package also holds cargo's scratch copies: keep only its *.crate
    crates.mkdir()
    for path in (root / "target" / "package").glob("*.crate"):
        (crates / path.name).write_bytes(path.read_bytes())
    assert sorted(p.name for p in crates.iterdir()) == [f"imp-{n}-0.1.0.crate" for n in ("leaf", "opt", "unix", "user")]
    return crates


# --- Accounts and tokens ----------------------------------------------------------------------------


def test_user_create_reads_the_password_from_stdin_and_stores_only_its_hash(make_cli):
    from alexandrie.models import User
    from alexandrie.services.users import password_matches

    cli = make_cli()
    result = cli.run("user", "create", "alice", "--email", "alice@example.com", "--password-stdin",
                     input="correct horse battery\n")
    assert "created user alice" in result.stdout and "correct horse" not in result.stdout + result.stderr
    user = cli.query(lambda: User.get(User.login == "alice"))
    assert "correct horse" not in (user.password_hash or "")
    assert cli.query(lambda: password_matches(user, "correct horse battery"))
    assert not cli.query(lambda: password_matches(user, "correct horse battery\n"))

    short = cli.run("user", "create", "bob", "--password-stdin", input="short\n", check=False)
    assert short.returncode != 0 and "at least 8 characters" in short.stderr
    again = cli.run("user", "create", "alice", "--password-stdin", input="another password\n", check=False)
    assert again.returncode != 0 and "already exists" in again.stderr


def test_token_create_prints_the_token_alone_on_the_last_line_and_it_works(make_cli):
    from alexandrie.models import ApiToken

    cli = make_cli()
    cli.run("user", "create", "alice", "--email", "alice@example.com")
    result = cli.run("token", "create", "alice", "--label", "laptop")
    token = result.stdout.splitlines()[-1]
    assert token.startswith("alx_") and token == token.strip() and " " not in token
    assert token not in result.stderr
    stored = cli.query(lambda: [row.token_hash for row in ApiToken.select()])
    assert token not in stored and stored == [hashlib.sha256(token.encode()).hexdigest()]

    missing = cli.run("token", "create", "nobody", check=False)
    assert missing.returncode != 0 and "alexandrie user create nobody" in missing.stderr

    client = cli.app.test_client()
    known = client.put("/api/v1/crates/nothing/owners", json={"users": ["alice"]}, headers={"Authorization": token})
    assert known.status_code == 404, "the token is accepted; only the crate is missing"
    refused = client.put("/api/v1/crates/nothing/owners", json={"users": ["alice"]},
                         headers={"Authorization": token + "x"})
    assert refused.status_code == 403


# --- Import -----------------------------------------------------------------------------------------


@pytest.mark.cargo
def test_import_records_crates_io_dependencies_as_crates_io(make_cli, packaged_crates):
    cli = make_cli()
    result = cli.run("import", str(packaged_crates))
    assert "imported 4, already present 0, failed 0" in result.stdout

    [line] = cli.index_lines("imp-user")
    deps = {d["name"]: d for d in line["deps"]}
    assert set(deps) == {"renamed", "imp-opt", "imp-unix"}
    assert all(d["registry"] == CRATES_IO for d in deps.values())
    assert deps["renamed"]["package"] == "imp-leaf" and deps["renamed"]["features"] == ["shout"]
    assert deps["renamed"]["req"] == "^0.1" and deps["renamed"]["kind"] == "normal"
    assert deps["imp-opt"]["optional"] is True and deps["imp-opt"].get("package") is None
    assert deps["imp-unix"]["target"] == "cfg(unix)" and deps["imp-unix"]["optional"] is False
    assert line["features2"] == {"extra": ["dep:imp-opt"]} and line["features"] == {}
    data = (packaged_crates / "imp-user-0.1.0.crate").read_bytes()
    assert line["cksum"] == hashlib.sha256(data).hexdigest()
    storage = cli.app.extensions["alexandrie"].storage
    with cli.app.app_context():
        assert storage.read_crate("imp-user", "0.1.0") == data

    from alexandrie.models import Version
    readme = cli.query(lambda: Version.get(Version.num == "0.1.0", Version.readme.is_null(False)).readme)
    assert readme == "# imp-user\n\nUses the leaf.\n"


@pytest.mark.cargo
def test_import_as_a_mirror_makes_crates_io_dependencies_local_and_cargo_builds_against_it(
        make_cli, packaged_crates, tmp_path):
    from alexandrie.testing import Cargo

    cli = make_cli()
    cli.run("import", "--mirror", *sorted(map(str, packaged_crates.glob("*.crate"))))
    assert all(d["registry"] is None for d in cli.index_lines("imp-user")[0]["deps"])

    server = LiveServer(cli.app).start()
    try:
        cargo = Cargo(tmp_path / "cargo-home", server, replace_crates_io=True)
        consumer = write_package(tmp_path, "imp-consumer", manifest_extra='\n[dependencies]\nimp-user = "0.1"\n',
                                 main='fn main() { println!("{}", imp_user::user()); }\n')
        result = cargo.run("run", "--quiet", cwd=consumer)
        assert result.stdout.strip() == "user of LEAF on unix"
        lock = (consumer / "Cargo.lock").read_text()
        assert 'source = "registry+https://github.com/rust-lang/crates.io-index"' in lock
        cached = next(cargo.home.glob("registry/cache/*/imp-user-0.1.0.crate"))
        assert cached.read_bytes() == (packaged_crates / "imp-user-0.1.0.crate").read_bytes()
    finally:
        server.stop()


@pytest.mark.cargo
def test_re_running_import_skips_what_is_there_and_reports_checksum_mismatches(make_cli, packaged_crates, tmp_path):
    from alexandrie.models import Version

    cli = make_cli()
    cli.run("import", str(packaged_crates))
    before = cli.index_files()
    again = cli.run("import", str(packaged_crates))
    assert "imported 0, already present 4, failed 0" in again.stdout
    assert cli.index_files() == before

    original = (packaged_crates / "imp-leaf-0.1.0.crate").read_bytes()
    changed = tmp_path / "changed" / "imp-leaf-0.1.0.crate"
    changed.parent.mkdir()
    changed.write_bytes(repacked_with_extra_file(original))
    result = cli.run("import", str(changed), check=False)
    assert result.returncode == 1
    assert "imported 0, already present 0, failed 1" in result.stdout
    assert str(changed) in result.stdout
    assert f"already in the registry with checksum {hashlib.sha256(original).hexdigest()}" in result.stdout
    assert cli.index_files() == before
    assert cli.query(lambda: Version.select().count()) == 4
    storage = cli.app.extensions["alexandrie"].storage
    with cli.app.app_context():
        assert storage.read_crate("imp-leaf", "0.1.0") == original


@pytest.mark.cargo
def test_import_reports_a_broken_file_by_name_and_imports_the_rest(make_cli, packaged_crates, tmp_path):
    cli = make_cli()
    broken = tmp_path / "broken.crate"
    broken.write_bytes(b"not a crate at all")
    result = cli.run("import", str(broken), str(packaged_crates / "imp-leaf-0.1.0.crate"), check=False)
    assert result.returncode == 1
    assert "imported 1, already present 0, failed 1" in result.stdout and str(broken) in result.stdout
    assert set(cli.index_files()) == {"imp-leaf"}


def repacked_with_extra_file(data: bytes) -> bytes:
    """The same crate and version with one more file: a different checksum."""
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as source, \
            tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as target:
        for member in source:
            target.addfile(member, source.extractfile(member) if member.isfile() else None)
        extra = tarfile.TarInfo("imp-leaf-0.1.0/NOTES.txt")
        extra.size = 6
        target.addfile(extra, io.BytesIO(b"extra\n"))
    return gzip.compress(out.getvalue(), mtime=0)


# --- Index rebuild ----------------------------------------------------------------------------------


@pytest.mark.cargo
def test_index_rebuild_reproduces_identical_index_files(make_cli, packaged_crates):
    from alexandrie.models import IndexFile

    cli = make_cli()
    cli.run("import", str(packaged_crates))
    before = cli.index_files()
    assert set(before) == {"imp-leaf", "imp-opt", "imp-unix", "imp-user"}
    cli.query(lambda: IndexFile.update(content="", etag='"wiped"').execute())

    result = cli.run("index", "rebuild")
    assert "rebuilt the index files of 4 crates" in result.stdout
    assert cli.index_files() == before

    served = cli.app.test_client().get("/index/im/p-/imp-user")
    assert served.status_code == 200 and served.get_data(as_text=True) == before["imp-user"][0]
    assert served.headers["ETag"] == before["imp-user"][1]


# --- Deleting and auditing -------------------------------------------------------------------------


def _answer_on_a_terminal(cli: Cli, answer: str, *args) -> subprocess.CompletedProcess:
    """Run ``alexandrie ARGS`` with a terminal for its input, typing ``answer``."""
    import pty

    env = {k: v for k, v in os.environ.items() if not k.startswith("ALEXANDRIE_")}
    leader, follower = pty.openpty()
    try:
        process = subprocess.Popen([ALEXANDRIE, "--config", str(cli.config), *args], stdin=follower,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cli.root)
        os.write(leader, f"{answer}\n".encode())
        stdout, stderr = process.communicate(timeout=120)
    finally:
        os.close(leader)
        os.close(follower)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


@pytest.mark.cargo
@pytest.mark.sqlite_only
def test_crate_delete_asks_first_and_without_a_terminal_needs_yes(make_cli, packaged_crates):
    cli = make_cli()
    cli.run("import", str(packaged_crates))

    refused = cli.run("crate", "delete", "imp-user", input="", check=False)  # a pipe: no one to ask
    assert refused.returncode == 1 and "pass --yes to delete without asking" in refused.stderr
    assert "crate `imp-user`: its 1 version (0.1.0), their .crate files" in refused.stderr
    kept = _answer_on_a_terminal(cli, "n", "crate", "delete", "imp-user")
    assert kept.returncode == 1 and "Delete crate `imp-user`: its 1 version (0.1.0)" in kept.stderr
    assert "imp-user" in cli.index_files()

    deleted = _answer_on_a_terminal(cli, "y", "crate", "delete", "imp-user")
    assert deleted.returncode == 0 and "deleted imp-user and versions 0.1.0" in deleted.stdout
    assert cli.run("crate", "delete", "imp-opt", "--yes", input="").returncode == 0
    assert set(cli.index_files()) == {"imp-leaf", "imp-unix"}


def _audit_lines(cli: Cli, *args) -> list[dict]:
    return [json.loads(line) for line in cli.run("audit", "export", *args).stdout.splitlines()]


@pytest.mark.cargo
def test_an_import_is_one_audit_row_listing_what_it_imported(make_cli, packaged_crates, tmp_path):
    from alexandrie.rules.names import index_path

    source = make_cli("source")
    source.run("user", "create", "keeper")
    source.run("import", "--owner", "keeper", str(packaged_crates))
    [run] = _audit_lines(source, "--action", "import")
    imported = {f"imp-{n}": ["0.1.0"] for n in ("leaf", "opt", "unix", "user")}
    assert (run["actor"], run["details"]) == ("cli", {"source": "files", "versions": imported, "skipped": 0,
                                                      "failed": 0, "owner": "keeper"})
    assert _audit_lines(source, "--action", "publish") == []  # not one row per version
    source.run("import", str(packaged_crates))
    assert len(_audit_lines(source, "--action", "import")) == 1  # a run that stores nothing changes nothing

    index = tmp_path / "index"  # the source's index files as a crates.io-format index folder
    for name, (content, _) in source.index_files().items():
        (index / index_path(name)).parent.mkdir(parents=True, exist_ok=True)
        (index / index_path(name)).write_text(content)
    target = make_cli("target")
    target.run("import", "--index", str(index), "--crates", str(packaged_crates))
    [run] = _audit_lines(target, "--action", "import")
    assert run["details"] == {"source": "index", "versions": imported, "skipped": 0, "failed": 0, "owner": None}
