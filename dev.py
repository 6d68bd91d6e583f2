#!/usr/bin/env python3
"""Set up a local virtualenv with the core and every plugin, then serve or test.

    python3 dev.py serve [alexandrie serve options]   # install, then run the registry
    python3 dev.py test  [pytest options]             # install, lint (ruff), then run the whole test suite
                                                      # once per database: SQLite, PostgreSQL, MySQL

Only Python 3.11+ and git are needed; everything else is installed into ./.venv.
"""

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".installed"


def distributions() -> list[Path]:
    """The core first, then every plugin distribution under plugins/."""
    return [ROOT, *sorted(p.parent for p in (ROOT / "plugins").glob("*/setup.cfg"))]


def fingerprint(extras: str) -> str:
    digest = hashlib.sha256(extras.encode())
    for dist in distributions():
        for name in ("setup.cfg", "pyproject.toml"):
            if (dist / name).is_file():
                digest.update((dist / name).read_bytes())
    return digest.hexdigest()


def ensure_installed(extras: str) -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 (this script is what runs on an older Python and says so)
        sys.exit("Alexandrie needs Python 3.11 or newer; run this script with python3.11 or later")
    if not (BIN / "python").exists():
        print(f"creating virtualenv {VENV}", file=sys.stderr)
        venv.EnvBuilder(with_pip=True).create(VENV)
    wanted = fingerprint(extras)
    enough = {wanted, fingerprint("test")}  # the test install holds everything `serve` needs
    if STAMP.is_file() and STAMP.read_text() in enough:
        return
    specs = [f"{ROOT}[{extras}]" if extras else str(ROOT)] + [str(d) for d in distributions()[1:]]
    args = [str(BIN / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    for spec in specs:
        args += ["-e", spec]
    print("installing Alexandrie and its plugins into .venv", file=sys.stderr)
    subprocess.run(args, check=True)
    STAMP.write_text(wanted)


# The whole suite runs once per database backend; override a server's URL with these variables.
TEST_BACKENDS = (
    ("sqlite", None, None),
    ("postgresql", "ALEXANDRIE_TEST_POSTGRESQL_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    ("mysql", "ALEXANDRIE_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test"),
)


def run_test_matrix(pytest_args: list[str]) -> int:
    """pytest on SQLite, then PostgreSQL, then MySQL. ``ALEXANDRIE_TEST_DATABASE_URL`` runs only that one;
    ``ALEXANDRIE_TEST_BACKENDS=sqlite,mysql`` picks runs. An unreachable server skips its run, except under CI."""
    if os.environ.get("ALEXANDRIE_TEST_DATABASE_URL"):
        return subprocess.call([str(BIN / "python"), "-m", "pytest", *pytest_args], cwd=ROOT)
    chosen = [n.strip() for n in os.environ.get("ALEXANDRIE_TEST_BACKENDS", "").split(",") if n.strip()]
    ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    results = {}
    for name, variable, default_url in TEST_BACKENDS:
        if chosen and name not in chosen:
            continue
        env = dict(os.environ)
        if default_url:
            url = os.environ.get(variable) or default_url
            problem = unreachable(url)
            if problem:
                print(f"\n=== {name}: SKIPPED, {problem} (start the server or set {variable})", file=sys.stderr)
                results[name] = "FAILED (server unreachable under CI=true)" if ci else "skipped: " + problem
                continue
            env["ALEXANDRIE_TEST_DATABASE_URL"] = url
        print(f"\n=== {name}: running the test suite", file=sys.stderr)
        code = subprocess.call([str(BIN / "python"), "-m", "pytest", *pytest_args], cwd=ROOT, env=env)
        results[name] = "passed" if code == 0 else f"FAILED (pytest exit code {code})"
    print("\n=== database backends: " + "; ".join(f"{n}: {r}" for n, r in results.items()), file=sys.stderr)
    return 1 if any(r.startswith("FAILED") for r in results.values()) else 0


def unreachable(url: str) -> str | None:
    """Why nothing answers at the URL's host and port, or None when something listens there."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    port = parts.port or (5432 if parts.scheme.startswith("postgres") else 3306)
    try:
        socket.create_connection((parts.hostname or "localhost", port), timeout=3).close()
    except OSError as exc:
        return f"nothing answers at {parts.hostname}:{port} ({exc.strerror or exc})"
    return None


def lint() -> int:
    """ruff over the whole checkout (configured in pyproject.toml), before the suite."""
    print("\n=== lint: ruff check", file=sys.stderr)
    return subprocess.call([str(BIN / "ruff"), "check", str(ROOT)], cwd=ROOT)


# Tools some tests drive, and the Debian packages that bring them.
TEST_TOOLS = {"chromium": "chromium", "sshd": "openssh-server", "nginx": "nginx"}
# Files some tests read, and their packages: a real crates.io crate with 1,503 features (tests/test_real_crates.py).
TEST_FILES = {"/usr/share/cargo/registry/web-sys-0.3.60/Cargo.toml": "librust-web-sys-dev"}


def ensure_test_tools() -> None:
    """The browser, ssh and shared-cache tests drive Debian's chromium, sshd and nginx, and one test imports
    Debian's copy of web-sys; under CI=true, as root, install what is missing."""
    import shutil

    ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    if not ci or not hasattr(os, "geteuid") or os.geteuid() != 0:
        return
    search = f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin"
    missing = [package for tool, package in TEST_TOOLS.items() if not shutil.which(tool, path=search)]
    missing += [package for path, package in TEST_FILES.items() if not Path(path).is_file()]
    if not missing:
        return
    print(f"installing {', '.join(missing)} for the tests (apt-get)", file=sys.stderr)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=env)


# The database driver each URL scheme needs: the extra of setup.cfg that brings it.
DRIVER_EXTRAS = {"postgres": "postgres", "mysql": "mysql", "mariadb": "mysql"}


def driver_extra() -> str:
    """The extra for the configured database (``ALEXANDRIE_DATABASE_URL`` or ``[database] url``), or ""."""
    import tomllib

    url = os.environ.get("ALEXANDRIE_DATABASE_URL")
    if url is None:
        try:
            url = tomllib.loads((ROOT / "alexandrie.toml").read_text()).get("database", {}).get("url", "")
        except (OSError, tomllib.TOMLDecodeError):
            url = ""  # `alexandrie serve` itself reports an unreadable configuration, with the fix
    scheme = str(url).split(":", 1)[0].lower()
    return next((extra for prefix, extra in DRIVER_EXTRAS.items() if scheme.startswith(prefix)), "")


def main(argv: list[str]) -> int:
    command, rest = (argv[0], argv[1:]) if argv else ("", [])
    if command == "serve":
        ensure_installed(driver_extra())
        return subprocess.call([str(BIN / "alexandrie"), "--config", str(ROOT / "alexandrie.toml"), "serve", *rest])
    if command == "test":
        ensure_installed("test")
        ensure_test_tools()
        return lint() or run_test_matrix(rest)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
