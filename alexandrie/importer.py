"""``alexandrie import``: fill the registry from ``.crate`` files (migrations, offline mirrors).

Metadata is recovered from the normalized ``Cargo.toml`` that ``cargo package`` writes,
the way ``cargo publish`` would have sent it.
"""

import hashlib
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import click
from flask import current_app

from .accounts import find_user
from .errors import AlexandrieError
from .index_files import CRATES_IO_INDEX
from .metadata import read_metadata
from .models import Crate, Version
from .naming import canonical_name
from .publish import store_version
from .tarball import inspect_crate

CRATES_IO_URLS = {CRATES_IO_INDEX, CRATES_IO_INDEX + ".git", "sparse+https://index.crates.io/",
                  "https://index.crates.io/"}
DEP_TABLES = (("dependencies", "normal"), ("dev-dependencies", "dev"), ("build-dependencies", "build"),
              ("dev_dependencies", "dev"), ("build_dependencies", "build"))


@dataclass
class ImportReport:
    imported: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"imported {len(self.imported)}, already present {len(self.skipped)}, failed {len(self.failed)}"]
        lines += [f"  {path}: {why}" for path, why in self.failed]
        return "\n".join(lines)


def crate_files(paths) -> list[Path]:
    found = []
    for path in map(Path, paths):
        found.extend(sorted(path.rglob("*.crate")) if path.is_dir() else [path])
    return found


def import_paths(paths, *, mirror=False, owner=None, foreign_indexes=()) -> ImportReport:
    """Import every file; one bad file is reported and does not stop the rest. Safe to re-run."""
    owner_user = find_user(owner) if owner else None
    report = ImportReport()
    files = crate_files(paths)
    with click.progressbar(files, label="Importing crates", file=sys.stderr,
                           item_show_func=lambda p: p.name if p else "") as bar:
        for path in bar:
            try:
                outcome = import_file(path, mirror=mirror, owner=owner_user, foreign_indexes=set(foreign_indexes))
                (report.imported if outcome == "imported" else report.skipped).append(str(path))
            except (AlexandrieError, OSError, tarfile.TarError, ValueError) as exc:
                report.failed.append((str(path), getattr(exc, "detail", None) or str(exc)))
    return report


def import_file(path: Path, *, mirror: bool, owner, foreign_indexes: set[str]) -> str:
    data = path.read_bytes()
    name, vers = _name_and_version(data, path)
    cksum = hashlib.sha256(data).hexdigest()
    existing = _existing(name, vers)
    if existing is not None:
        if existing.cksum != cksum:
            raise AlexandrieError(f"{name} {vers} is already in the registry with checksum {existing.cksum}, "
                                  f"but this file's is {cksum}; remove one of the two copies")
        return "skipped"
    limit = current_app.extensions["alexandrie"].config["general"]["max_unpacked_size"]
    probe = inspect_crate(data, name, vers, limit)
    readme_path = _readme_path(probe.manifest)
    contents = inspect_crate(data, name, vers, limit, wanted={readme_path} if readme_path else ())
    new = read_metadata(_metadata(contents.manifest, contents.files.get(readme_path), readme_path))
    new.deps = [_localise(dep, mirror, foreign_indexes) for dep in new.deps]
    new.tarball, new.cksum = data, cksum
    store_version(new, None, owner=owner)
    return "imported"


def _name_and_version(data: bytes, path: Path) -> tuple[str, str]:
    """The package folder ``name-version/`` names both; Cargo.toml inside confirms them."""
    import io
    import tomllib

    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for member in archive:
            if member.name.endswith("/Cargo.toml") and member.name.count("/") == 1 and member.isfile():
                package = tomllib.loads(archive.extractfile(member).read().decode("utf-8")).get("package", {})
                return str(package.get("name")), str(package.get("version"))
    raise AlexandrieError(f"{path.name} holds no NAME-VERSION/Cargo.toml; is it a .crate file?")


def _existing(name: str, vers: str):
    return (Version.select(Version.cksum).join(Crate)
            .where((Crate.canonical_name == canonical_name(name)) & (Version.num == vers)).first())


def _readme_path(manifest: dict) -> str | None:
    readme = manifest.get("package", {}).get("readme")
    if readme is False:
        return None
    return readme if isinstance(readme, str) else "README.md"


def _metadata(manifest: dict, readme: bytes | None, readme_path: str | None) -> dict:
    package = manifest["package"]
    return {
        "name": package["name"], "vers": str(package["version"]),
        "deps": list(_dependencies(manifest)),
        "features": manifest.get("features", {}),
        "authors": package.get("authors", []) if isinstance(package.get("authors"), list) else [],
        "description": package.get("description"), "documentation": package.get("documentation"),
        "homepage": package.get("homepage"), "repository": package.get("repository"),
        "license": package.get("license"), "license_file": package.get("license-file"),
        "readme": readme.decode("utf-8", "replace") if readme else None,
        "readme_file": readme_path if readme else None,
        "keywords": package.get("keywords", []), "categories": package.get("categories", []),
        "badges": {}, "links": package.get("links"),
        "rust_version": str(package["rust-version"]) if package.get("rust-version") else None,
    }


def _dependencies(manifest: dict):
    yield from _table_deps(manifest, None)
    for target, tables in (manifest.get("target") or {}).items():
        yield from _table_deps(tables, target)


def _table_deps(tables: dict, target: str | None):
    for table, kind in DEP_TABLES:
        for alias, spec in (tables.get(table) or {}).items():
            spec = {"version": spec} if isinstance(spec, str) else spec
            real = spec.get("package", alias)
            yield {
                "name": real, "version_req": _req(spec.get("version", "*")),
                "features": spec.get("features", []), "optional": spec.get("optional", False),
                "default_features": spec.get("default-features", spec.get("default_features", True)),
                "target": target, "kind": kind, "registry": spec.get("registry-index", CRATES_IO_INDEX),
                **({"explicit_name_in_toml": alias} if real != alias else {}),
            }


def _req(req: str) -> str:
    """Cargo writes a bare ``1.2`` as ``^1.2`` in the index."""
    req = req.strip()
    return f"^{req}" if req[:1].isdigit() else req


def _localise(dep: dict, mirror: bool, foreign_indexes: set[str]) -> dict:
    """crates.io stays crates.io (local in a mirror); other registries become this one unless kept."""
    registry = dep["registry"]
    if registry in CRATES_IO_URLS:
        return {**dep, "registry": None if mirror else CRATES_IO_INDEX}
    if registry in foreign_indexes:
        return dep
    return {**dep, "registry": None}
