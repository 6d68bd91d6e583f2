"""The example plugins as a user gets them: pip-installed into a fresh virtualenv next to the core, their own
tests run there, then a real `alexandrie serve` from that virtualenv and real `cargo publish` against it.

One virtualenv for both examples, built once per module (about a minute, mostly pip downloads or cache).
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest

from alexandrie.testing import Cargo, free_port, require, require_tool, wait_until_healthy, write_package

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ("alexandrie-policy-licence", "alexandrie-activity-feed")
CORE_FILES = ("alexandrie", "templates", "setup.cfg", "pyproject.toml", "README.md")
BUILD_LEFTOVERS = shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".pytest_cache")

# The user's virtualenv has no server-database driver: every pass would run the same SQLite registry.
pytestmark = [pytest.mark.slow, pytest.mark.cargo, pytest.mark.sqlite_only]


def copy_sources(dest: Path) -> dict[str, Path]:
    """Copies, so pip's in-tree builds leave nothing in the checkout."""
    (dest / "core").mkdir(parents=True)
    for name in CORE_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, dest / "core" / name, ignore=BUILD_LEFTOVERS)
        else:
            shutil.copy2(source, dest / "core" / name)
    shutil.copytree(ROOT / "plugins" / "alexandrie-storage-disk", dest / "alexandrie-storage-disk",
                    ignore=BUILD_LEFTOVERS)
    for example in EXAMPLES:
        shutil.copytree(ROOT / "examples" / example, dest / example, ignore=BUILD_LEFTOVERS)
    return {"core": dest / "core", "disk": dest / "alexandrie-storage-disk",
            **{example: dest / example for example in EXAMPLES}}


@pytest.fixture(scope="module")
def user_venv(tmp_path_factory):
    """A fresh virtualenv with `pip install core disk-plugin example[test]...` from local paths."""
    base = tmp_path_factory.mktemp("user-venv")
    sources = copy_sources(base / "src")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    started = time.monotonic()
    install = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
         str(sources["core"]), str(sources["disk"]), *(f"{sources[e]}[test]" for e in EXAMPLES)],
        capture_output=True, text=True, timeout=900)
    require(install.returncode == 0, f"pip could not install into a fresh virtualenv (no package index?):\n"
                                     f"{install.stderr[-2000:]}")
    print(f"\nfresh virtualenv installed in {time.monotonic() - started:.0f} s")
    return SimpleNamespace(bin=venv / "bin", sources=sources)


def _without_test_database() -> dict:
    """The user's fresh virtualenv has no PostgreSQL/MySQL driver: its tests use SQLite in every backend run."""
    return {k: v for k, v in os.environ.items() if not k.startswith("ALEXANDRIE_TEST_")}


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_passes_its_own_tests_where_a_user_installed_it(user_venv, example):
    tests = user_venv.sources[example] / "tests"
    result = subprocess.run([str(user_venv.bin / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             str(tests)], cwd=user_venv.sources[example], capture_output=True, text=True,
                            timeout=600, env=_without_test_database())
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "skipped" not in result.stdout


@pytest.fixture(scope="module")
def user_server(user_venv, tmp_path_factory):
    """`alexandrie serve` from the fresh virtualenv, with both examples configured, and a user's token."""
    require_tool("cargo")
    home = tmp_path_factory.mktemp("user-registry")
    port = free_port()
    config = home / "alexandrie.toml"
    config.write_text(f"""\
[general]
bind_address = "127.0.0.1:{port}"
public_url = "http://127.0.0.1:{port}"
threads = 4

[database]
url = "sqlite:///registry.db"

[storage]
type = "disk"
path = "crates"

[plugins.policy-licence]
allowed_licences = ["MIT", "Apache-2.0"]
required_fields = ["description"]

[plugins.activity-feed]
path = "feed/activity.jsonl"
""")
    cli = [str(user_venv.bin / "alexandrie"), "--config", str(config)]
    subprocess.run([*cli, "user", "create", "alice"], check=True, capture_output=True, timeout=120)
    token = subprocess.run([*cli, "token", "create", "alice"], check=True, capture_output=True, text=True,
                           timeout=120).stdout.strip().splitlines()[-1]
    log = open(home / "serve.log", "w")
    server = subprocess.Popen([*cli, "serve"], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, server, home / "serve.log")
        yield SimpleNamespace(url=url, index_url=f"sparse+{url}/index/", token=token, home=home, cli=cli,
                              feed=home / "feed" / "activity.jsonl", log=home / "serve.log")
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def test_cargo_publish_meets_the_policy_and_lands_in_the_feed(user_server, tmp_path):
    cargo = Cargo(tmp_path / "cargo-home", user_server, user_server.token)
    refused = tmp_path / "copyleft"
    (refused / "src").mkdir(parents=True)
    (refused / "src" / "lib.rs").write_text("pub fn f() {}\n")
    (refused / "Cargo.toml").write_text('[package]\nname = "copyleft"\nversion = "0.1.0"\nedition = "2021"\n'
                                        'description = "GPL"\nlicense = "GPL-3.0-only"\npublish = ["alex"]\n')
    result = cargo.run("publish", "--registry", "alex", "--no-verify", "--allow-dirty", cwd=refused, check=False)
    assert result.returncode != 0
    assert ("licence `GPL-3.0-only` is not allowed on this registry (accepted: Apache-2.0, MIT); "
            "change `license` in Cargo.toml or ask the registry operator") in " ".join(result.stderr.split())

    accepted = write_package(tmp_path, "permissive")
    cargo.run("publish", "--registry", "alex", "--no-verify", "--allow-dirty", cwd=accepted)
    cargo.run("yank", "--registry", "alex", "--version", "0.1.0", "permissive", cwd=accepted)

    entries = [json.loads(line) for line in user_server.feed.read_text().splitlines()]
    assert [(e["event"], e["crate"], e["version"], e["actor"]) for e in entries] == \
        [("publish", "permissive", "0.1.0", "alice"), ("yank", "permissive", "0.1.0", "alice")]
    request = urllib.request.Request(f"{user_server.url}/-/activity/", headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert [e["event"] for e in json.load(response)["events"]] == ["yank", "publish"]


def test_alexandrie_plugins_lists_the_examples_from_the_user_venv(user_server):
    listing = subprocess.run([*user_server.cli, "plugins"], check=True, capture_output=True, text=True,
                             timeout=120).stdout
    assert "policy-licence  [alexandrie-policy-licence 0.1.0]\n    hooks: alexandrie_check_config, alexandrie_startup, " \
           "alexandrie_validate_publish" in listing
    assert "activity-feed  [alexandrie-activity-feed 0.1.0]\n    hooks: alexandrie_blueprints, " \
           "alexandrie_commands, alexandrie_event, alexandrie_startup" in listing
    tail = subprocess.run([*user_server.cli, "activity", "tail", "-n", "1"], capture_output=True, text=True,
                          timeout=120)
    assert tail.returncode == 0, tail.stderr
    assert all(json.loads(line)["event"] in ("publish", "yank") for line in tail.stdout.splitlines())
    env = {**os.environ, "ALEXANDRIE_DISABLE_PLUGINS": "policy-licence"}
    disabled = subprocess.run([*user_server.cli, "plugins"], check=True, capture_output=True, text=True,
                              timeout=120, env=env).stdout
    assert "policy-licence  [alexandrie-policy-licence 0.1.0]\n    disabled" in disabled


def _code_blocks_of(section: str) -> dict[str, str]:
    """The fenced blocks of a docs/plugins.md section, by the file name their first line's comment gives."""
    text = (ROOT / "docs" / "plugins.md").read_text()
    body = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```\w+\n(.*?)```", body, re.S)
    named = (block.split("\n", 1) for block in blocks if block.startswith("# "))
    return {first[2:].strip(): rest for first, rest in named}


def test_the_five_minute_plugin_of_the_docs_installs_and_refuses_as_it_says(user_venv, tmp_path):
    """Runs last in this module: the plugin it installs would refuse the other tests' crates too."""
    files = _code_blocks_of("A plugin in five minutes")
    assert set(files) == {"alexandrie_needs_description.py", "pyproject.toml"}
    source = tmp_path / "needs-description"
    source.mkdir()
    for name, content in files.items():
        (source / name).write_text(content)
    install = subprocess.run([str(user_venv.bin / "python"), "-m", "pip", "install", "-q",
                              "--disable-pip-version-check", "."], cwd=source, capture_output=True, text=True,
                             timeout=600)
    assert install.returncode == 0, install.stderr[-2000:]

    port = free_port()
    config = tmp_path / "alexandrie.toml"
    config.write_text(f'[general]\nbind_address = "127.0.0.1:{port}"\n[database]\nurl = "sqlite:///registry.db"\n'
                      '[storage]\ntype = "disk"\npath = "crates"\n')
    cli = [str(user_venv.bin / "alexandrie"), "--config", str(config)]
    listing = subprocess.run([*cli, "plugins"], check=True, capture_output=True, text=True, timeout=120).stdout
    assert "needs-description  [alexandrie-needs-description 0.1.0]" in listing
    subprocess.run([*cli, "user", "create", "bob"], check=True, capture_output=True, timeout=120)
    token = subprocess.run([*cli, "token", "create", "bob"], check=True, capture_output=True, text=True,
                           timeout=120).stdout.strip().splitlines()[-1]
    url = f"http://127.0.0.1:{port}"
    with open(tmp_path / "serve.log", "w") as log:
        server = subprocess.Popen([*cli, "serve"], stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until_healthy(url, server, tmp_path / "serve.log")
            cargo = Cargo(tmp_path / "cargo-home", SimpleNamespace(url=url, index_url=f"sparse+{url}/index/"), token)
            package = write_package(tmp_path, "undescribed")
            manifest = package / "Cargo.toml"
            manifest.write_text(manifest.read_text().replace('description = "The undescribed crate"\n', ""))
            result = cargo.run("publish", "--registry", "alex", "--no-verify", "--allow-dirty", cwd=package,
                               check=False)
        finally:
            server.terminate()
            server.wait(timeout=30)
    assert result.returncode != 0
    assert ('the remote server responded with an error (status 400 Bad Request): add `description = "..."` '
            'to [package] in Cargo.toml, then publish again') in " ".join(result.stderr.split())
