"""Builders: crates, publish bodies and configs without cargo, and the few steps most tests take
(publish, sign in, a user with a token)."""

import gzip
import io
import json
import os
import re
import struct
import tarfile
from pathlib import Path

from ..db import connection
from ..services.tokens import create_token
from ..services.users import create_user
from .servers import free_port


def make_crate(name: str, version: str, *, manifest: str | None = None, files: dict | None = None,
               members: list[tarfile.TarInfo] | None = None) -> bytes:
    """A ``.crate`` file like ``cargo package`` makes: gzip tar with everything under ``name-version/``."""
    manifest = manifest if manifest is not None else (
        f'[package]\nname = "{name}"\nversion = "{version}"\nedition = "2021"\n')
    entries = {"Cargo.toml": manifest.encode(), "src/lib.rs": b"pub fn hello() {}\n", **(files or {})}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for path, content in entries.items():
            info = tarfile.TarInfo(f"{name}-{version}/{path}")
            info.size, info.mode, info.mtime = len(content), 0o644, 1153704088
            archive.addfile(info, io.BytesIO(content))
        for member in members or ():
            archive.addfile(member, io.BytesIO(b"\0" * member.size) if member.isfile() else None)
    return gzip.compress(buffer.getvalue(), mtime=0)


def crate_metadata(name: str, version: str, **fields) -> dict:
    """The publish JSON cargo 1.95 sends, with every key present."""
    meta = {"name": name, "vers": version, "deps": [], "features": {}, "authors": [], "description": None,
            "documentation": None, "homepage": None, "readme": None, "readme_file": None, "keywords": [],
            "categories": [], "license": "MIT", "license_file": None, "repository": None, "badges": {},
            "links": None, "rust_version": None}
    meta.update(fields)
    return meta


def dependency(name: str, req: str = "^0.1", **fields) -> dict:
    dep = {"name": name, "version_req": req, "features": [], "optional": False, "default_features": True,
           "target": None, "kind": "normal"}
    dep.update(fields)
    return dep


def publish_body(metadata, tarball: bytes) -> bytes:
    """Cargo's publish frame: u32-LE length + JSON, u32-LE length + .crate."""
    raw = metadata if isinstance(metadata, bytes) else json.dumps(metadata).encode()
    return struct.pack("<I", len(raw)) + raw + struct.pack("<I", len(tarball)) + tarball


def publish(client, token: str | None, name: str, version: str = "0.1.0", *, headers: dict | None = None,
            tarball: bytes | None = None, **fields):
    """``cargo publish`` of a generated crate through a Flask test client; returns the response.

    ``fields`` go into the publish metadata (``deps=[dependency("base")]``, ``description=...``).
    """
    body = publish_body(crate_metadata(name, version, **fields), tarball or make_crate(name, version))
    auth = {"Authorization": token} if token else {}
    return client.put("/api/v1/crates/new", data=body, headers={**auth, **(headers or {})})


def csrf_token(page: str) -> str:
    """The CSRF token of the first form on a page."""
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)


def sign_in(client, login: str, password: str | None = None) -> str:
    """Sign in through the login form (password default: ``password-<login>``, as
    ``create_user_with_token`` sets); returns the CSRF token for the next forms."""
    csrf = csrf_token(client.get("/account/login").get_data(as_text=True))
    response = client.post("/account/login", data={"login": login, "password": password or f"password-{login}",
                                                   "csrf_token": csrf})
    assert response.status_code == 302, response.get_data(as_text=True)
    return csrf


def create_user_with_token(app, login: str, *, admin: bool = False) -> str:
    """Create ``login`` (password ``password-<login>``) and return a fresh API token."""
    with app.app_context(), connection():
        user = create_user(login, email=f"{login}@example.com", password=f"password-{login}", is_admin=admin)
        return create_token(user, "tests")[1]


def test_config(data_dir: Path, port: int | None = None, **sections) -> dict:
    """A config mapping for a throwaway registry under ``data_dir``; ``ALEXANDRIE_TEST_DATABASE_URL`` picks the
    database."""
    port = port or free_port()
    config = {
        "base_dir": str(data_dir),
        "general": {"bind_address": f"127.0.0.1:{port}", "public_url": f"http://127.0.0.1:{port}"},
        "database": {"url": os.environ.get("ALEXANDRIE_TEST_DATABASE_URL") or f"sqlite:///{data_dir}/alexandrie.db"},
        "storage": {"type": "disk", "path": str(data_dir / "crate-storage")},
        "index": {"type": "sparse"},
    }
    for section, values in sections.items():
        config.setdefault(section, {}).update(values)
    return config
