"""``alexandrie import --index PATH --crates DIR``: migrate from an existing crates.io-format git index.

The index lines are the truth for what cargo resolves: dependencies, features, ``links``,
``rust_version`` and ``yanked`` are stored exactly as listed. Each ``.crate`` file must
match its line's checksum; descriptive data (description, license, README, keywords)
comes from the file's ``Cargo.toml``. Versions already in the registry with the same
checksum are skipped, so the import is safe to re-run.
"""

import hashlib
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import click
from flask import current_app

from .accounts import find_user
from .db import write_transaction
from .errors import AlexandrieError
from .index_files import refresh_crate
from .models import (Category, Crate, CrateCategory, CrateKeyword, CrateOwner, Dependency, Keyword, Version,
                     utcnow)
from .naming import canonical_name, index_path, name_problem
from .publish import render_readme
from .tarball import inspect_crate
from .versions import version_problem, without_build

NON_CRATE_FILES = {"config.json"}


@dataclass
class IndexImportReport:
    imported: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (what, why): mismatches, missing files

    def summary(self) -> str:
        lines = [f"imported {len(self.imported)} versions, already present {len(self.skipped)}, "
                 f"not imported {len(self.failed)}"]
        lines += [f"  {what}: {why}" for what, why in self.failed]
        return "\n".join(lines)


@dataclass
class PendingVersion:
    """One index line whose .crate file was found and verified."""

    entry: dict
    data: bytes
    manifest: dict
    readme: str | None
    readme_file: str | None


def import_index(index_dir, crates_dir, *, owner: str | None = None) -> IndexImportReport:
    """Import every crate of the index; one bad line or file is reported and does not stop the rest."""
    owner_user = find_user(owner) if owner else None
    report = IndexImportReport()
    files = list(read_index_files(Path(index_dir)))
    crate_files = find_crate_files(Path(crates_dir))
    with click.progressbar(files, label="Importing index", file=sys.stderr,
                           item_show_func=lambda item: item[0] if item else "") as bar:
        for path, content in bar:
            try:
                _import_crate(path, content, crate_files, owner_user, report)
            except (AlexandrieError, OSError, ValueError) as exc:
                report.failed.append((path, getattr(exc, "detail", None) or str(exc)))
    return report


# --- Reading the index and finding the files -----------------------------------------------------------


def read_index_files(root: Path) -> Iterator[tuple[str, bytes]]:
    """(path, content) of every crate file: from the HEAD commit of a git repository, else from the folder."""
    committed = _committed_files(root)
    if committed is not None:
        yield from committed
        return
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            relative = str((Path(folder) / name).relative_to(root))
            if is_index_path(relative):
                yield relative, (Path(folder) / name).read_bytes()


def _committed_files(root: Path):
    """What cargo would read: the files of HEAD's commit. None when pygit2 or the repository is absent."""
    try:
        import pygit2
    except ImportError:
        return None
    found = pygit2.discover_repository(str(root))
    if not found or Path(found).resolve() not in (root.resolve(), (root / ".git").resolve()):
        return None
    repo = pygit2.Repository(found)
    if repo.head_is_unborn:
        return []
    return sorted(_walk_tree(repo, repo.head.peel(pygit2.Commit).tree, ""))


def _walk_tree(repo, tree, prefix: str):
    import pygit2

    for entry in tree:
        path = prefix + entry.name
        if entry.type == pygit2.enums.ObjectType.TREE:
            yield from _walk_tree(repo, repo[entry.id], path + "/")
        elif entry.type == pygit2.enums.ObjectType.BLOB and is_index_path(path):
            yield path, repo[entry.id].data


def is_index_path(path: str) -> bool:
    """A crate's file, at the lowercase path or the mixed-case one the Rust Alexandrie wrote."""
    name = path.rsplit("/", 1)[-1]
    return path not in NON_CRATE_FILES and index_path(name).lower() == path.lower()


def find_crate_files(root: Path) -> dict[str, Path]:
    """{"name-version.crate" (lowercase): path} for every layout in use: flat, sharded, or ``NAME/VERSION/download``."""
    found = {}
    for folder, dirs, names in os.walk(root):
        dirs.sort()
        for name in names:
            path = Path(folder) / name
            if name.endswith(".crate"):
                found.setdefault(name.lower(), path)
            elif name == "download":
                found.setdefault(f"{path.parent.parent.name}-{path.parent.name}.crate".lower(), path)
    return found


# --- One crate --------------------------------------------------------------------------------------------


def _import_crate(path: str, content: bytes, crate_files: dict[str, Path], owner, report) -> None:
    entries = _parse_lines(path, content)
    pending, seen = [], set()
    for entry in entries:
        label = f"{entry['name']} {entry['vers']}"
        problem = "listed twice in the index; the first line was used" if entry["vers"] in seen else None
        seen.add(entry["vers"])
        problem = problem or _existing_problem(entry)
        if problem == "present":
            report.skipped.append(label)
            continue
        if problem is None:
            checked = _verified_version(entry, crate_files)
            problem = checked if isinstance(checked, str) else None
            if problem is None:
                pending.append(checked)
                continue
        report.failed.append((label, problem))
    if pending:
        _store_crate(pending, owner)
        report.imported.extend(f"{p.entry['name']} {p.entry['vers']}" for p in pending)


def _parse_lines(path: str, content: bytes) -> list[dict]:
    entries = []
    for number, line in enumerate(content.decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError as exc:
            raise ValueError(f"line {number} is not JSON ({exc}); fix or remove it in the index") from exc
        missing = [key for key in ("name", "vers", "deps", "cksum") if key not in entry]
        if missing:
            raise ValueError(f"line {number} lacks {', '.join(missing)}, which every index line needs")
        problem = name_problem(entry["name"]) or version_problem(entry["vers"])
        if problem:
            raise ValueError(f"line {number}: {problem}")
        entries.append(entry)
    names = {canonical_name(e["name"]) for e in entries}
    if len(names) > 1:
        raise ValueError(f"the file lists several crates ({', '.join(sorted(names))}); each file holds one")
    return entries


def _existing_problem(entry: dict) -> str | None:
    """``present`` when already imported with the same checksum; a reason when it clashes; else None."""
    row = (Version.select(Version.cksum, Version.num).join(Crate)
           .where((Crate.canonical_name == canonical_name(entry["name"]))
                  & (Version.num_unique == without_build(entry["vers"]))).first())
    if row is None:
        return None
    if row.num == entry["vers"] and row.cksum == entry["cksum"]:
        return "present"
    return (f"the registry already has {entry['name']} {row.num} with checksum {row.cksum}, but the index "
            f"lists {entry['vers']} with {entry['cksum']}; one of the two is not the published file")


def _verified_version(entry: dict, crate_files: dict[str, Path]) -> "PendingVersion | str":
    """The version ready to store, or why it cannot be imported."""
    file_name = f"{entry['name']}-{entry['vers']}.crate"
    path = crate_files.get(file_name.lower())
    if path is None:
        return f"no {file_name} in the crates folder; add it and re-run the import"
    data = path.read_bytes()
    cksum = hashlib.sha256(data).hexdigest()
    if cksum != entry["cksum"]:
        return (f"checksum mismatch: {path} has sha256 {cksum}, the index says {entry['cksum']}; "
                "the file is not the one that was published")
    limit = current_app.extensions["alexandrie"].config["general"]["max_unpacked_size"]
    manifest = inspect_crate(data, entry["name"], entry["vers"], limit).manifest
    readme_file = _readme_path(manifest)
    readme = None
    if readme_file:
        captured = inspect_crate(data, entry["name"], entry["vers"], limit, wanted={readme_file}).files
        raw = captured.get(readme_file)
        readme = raw.decode("utf-8", "replace") if raw is not None else None
    return PendingVersion(entry=entry, data=data, manifest=manifest, readme=readme,
                          readme_file=readme_file if readme is not None else None)


def _readme_path(manifest: dict) -> str | None:
    readme = manifest.get("package", {}).get("readme")
    if readme is False:
        return None
    return readme if isinstance(readme, str) else "README.md"


def _store_crate(pending: list[PendingVersion], owner) -> None:
    """All new versions of one crate in one transaction, and one index commit."""
    storage = current_app.extensions["alexandrie"].storage
    stored = []
    try:
        with write_transaction():
            crate = _crate_row(pending[0].entry["name"], owner)
            for version in pending:
                _insert_version(crate, version)
                storage.store_crate(crate.name, version.entry["vers"], version.data)
                stored.append((crate.name, version.entry["vers"]))
            _link_keywords_and_categories(crate, pending[-1].manifest.get("package", {}))
            refresh_crate(crate, f"Import {crate.name} {', '.join(vers for _, vers in stored)}")
    except BaseException:
        for name, vers in stored:
            storage.delete_crate(name, vers)
        raise


def _crate_row(name: str, owner) -> Crate:
    crate = Crate.get_or_none(Crate.canonical_name == canonical_name(name))
    if crate is None:
        crate = Crate.create(name=name, canonical_name=canonical_name(name))
        if owner is not None:
            CrateOwner.create(crate=crate, user=owner)
    return crate


def _insert_version(crate: Crate, version: PendingVersion) -> None:
    entry, package = version.entry, version.manifest.get("package", {})
    features = {**(entry.get("features") or {}), **(entry.get("features2") or {})}
    text = _text_fields(package)
    row = Version.create(
        crate=crate, num=entry["vers"], num_unique=without_build(entry["vers"]), cksum=entry["cksum"],
        deps=entry["deps"], features=features, links=entry.get("links"), rust_version=entry.get("rust_version"),
        yanked=bool(entry.get("yanked", False)), published_at=_published_at(entry), size=len(version.data),
        authors=_string_list(package.get("authors")),
        keywords=[k.lower() for k in _string_list(package.get("keywords"))],
        categories=_string_list(package.get("categories")), badges={},
        readme=version.readme, readme_file=version.readme_file,
        readme_html=render_readme(version.readme, version.readme_file, text["repository"]), **text)
    _insert_dependencies(row, entry["deps"])
    Crate.update(updated_at=utcnow(), **{k: text[k] for k in ("description", "homepage", "documentation",
                                                             "repository", "license")}
                 ).where(Crate.id == crate.id).execute()


def _text_fields(package: dict) -> dict:
    def text(key):
        value = package.get(key)
        return value if isinstance(value, str) else None

    return {"description": text("description"), "license": text("license"), "license_file": text("license-file"),
            "homepage": text("homepage"), "documentation": text("documentation"), "repository": text("repository")}


def _string_list(value) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _published_at(entry: dict) -> datetime:
    try:
        return datetime.strptime(entry.get("pubtime") or "", "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return utcnow()


def _insert_dependencies(version: Version, deps: list[dict]) -> None:
    rows = [{"version": version, "crate_name": canonical_name(d.get("package") or d["name"]), "req": d.get("req", "*"),
             "kind": d.get("kind") or "normal", "optional": bool(d.get("optional")), "target": d.get("target"),
             "registry": d.get("registry")} for d in deps]
    if rows:
        Dependency.insert_many(rows).execute()


def _link_keywords_and_categories(crate: Crate, package: dict) -> None:
    CrateKeyword.delete().where(CrateKeyword.crate == crate).execute()
    for word in dict.fromkeys(k.lower() for k in _string_list(package.get("keywords"))):
        keyword = Keyword.get_or_none(Keyword.name == word) or Keyword.create(name=word)
        CrateKeyword.create(crate=crate, keyword=keyword)
    CrateCategory.delete().where(CrateCategory.crate == crate).execute()
    for slug in dict.fromkeys(_string_list(package.get("categories"))):
        category = Category.get_or_none(Category.slug == slug) or Category.create(slug=slug, name=slug)
        CrateCategory.create(crate=crate, category=category)
