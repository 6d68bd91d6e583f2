"""``alexandrie import --index PATH --crates DIR``: migrate from an existing crates.io-format index.

The index lines are the truth for what cargo resolves: dependencies, features, ``links``,
``rust_version``, ``yanked`` and ``pubtime`` are stored exactly as listed. Each ``.crate`` file must
match its line's checksum; descriptive data (description, license, README, keywords) comes from the
file's ``Cargo.toml``. Versions already in the registry with the same checksum are skipped, so the
import is safe to re-run. Every crate's new versions are stored as one change of the one write path.
"""

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from ..errors import AlexandrieError
from ..models import Crate, User, Version
from ..registry import registry
from ..rules.manifest import readme_path, string_list, text_fields
from ..rules.metadata import NewVersion
from ..rules.names import canonical_name, index_path, name_problem
from ..rules.tarball import inspect_crate
from ..rules.versions import version_problem, without_build
from .importing import record_import
from .publishing import store_versions

NON_CRATE_FILES = {"config.json"}


@dataclass
class IndexImportReport:
    imported: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (what, why): mismatches, missing files
    versions: dict[str, list[str]] = field(default_factory=dict)  # crate -> versions imported, for the audit log

    def summary(self) -> str:
        lines = [f"imported {len(self.imported)} versions, already present {len(self.skipped)}, "
                 f"not imported {len(self.failed)}"]
        lines += [f"  {what}: {why}" for what, why in self.failed]
        return "\n".join(lines)


def import_index(files: list[tuple[str, bytes]], crates_dir, *, owner: User | None = None, actor: str | None = None,
                 progress: Callable[[str], None] = lambda path: None) -> IndexImportReport:
    """Import every crate file of the index; one bad line or file is reported and does not stop the rest."""
    report = IndexImportReport()
    crate_files = find_crate_files(Path(crates_dir))
    try:
        for path, content in files:
            try:
                _import_crate(path, content, crate_files, owner, actor, report)
            except (AlexandrieError, OSError, ValueError) as exc:
                report.failed.append((path, getattr(exc, "detail", None) or str(exc)))
            progress(path)
    finally:
        record_import("index", report.versions, skipped=len(report.skipped), failed=len(report.failed),
                      owner=owner, actor=actor)
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


def _committed_files(root: Path) -> list[tuple[str, bytes]] | None:
    """What cargo would read: the files of HEAD's commit, read with the git command. None when ``root``
    is not the top of a git repository (a work tree or a bare one)."""
    if not ((root / ".git").exists() or ((root / "HEAD").is_file() and (root / "objects").is_dir())):
        return None
    git = [shutil.which("git") or "git", "-c", "safe.directory=*", "-C", str(root)]
    if subprocess.run([*git, "rev-parse", "--verify", "-q", "HEAD^{commit}"], capture_output=True).returncode:
        return []  # no commit yet
    listing = subprocess.run([*git, "ls-tree", "-r", "-z", "--full-tree", "HEAD"], capture_output=True,
                             check=True).stdout
    blobs = []
    for entry in filter(None, listing.split(b"\0")):
        meta, _, path = entry.partition(b"\t")
        kind, sha = meta.split()[1:3]
        if kind == b"blob" and is_index_path(path.decode("utf-8", "replace")):
            blobs.append((path.decode("utf-8"), sha.decode()))
    contents = _read_blobs(git, [sha for _, sha in blobs])
    return sorted((path, contents[sha]) for path, sha in blobs)


def _read_blobs(git: list[str], shas: list[str]) -> dict[str, bytes]:
    """Every blob in one ``git cat-file --batch``: its output is ``SHA TYPE SIZE\\n`` then the bytes."""
    out = subprocess.run([*git, "cat-file", "--batch"], input="".join(f"{sha}\n" for sha in shas).encode(),
                         capture_output=True, check=True).stdout
    found, offset = {}, 0
    for sha in shas:
        header_end = out.index(b"\n", offset)
        size = int(out[offset:header_end].split()[2])
        found[sha] = out[header_end + 1:header_end + 1 + size]
        offset = header_end + 1 + size + 1
    return found


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


def _import_crate(path: str, content: bytes, crate_files: dict[str, Path], owner, actor, report) -> None:
    pending, seen = [], set()
    for entry in _parse_lines(path, content):
        label = f"{entry['name']} {entry['vers']}"
        problem = "listed twice in the index; the first line was used" if entry["vers"] in seen else None
        seen.add(entry["vers"])
        problem = problem or _existing_problem(entry)
        if problem == "present":
            report.skipped.append(label)
            continue
        if problem is None:
            checked = _verified_version(entry, crate_files)
            if isinstance(checked, NewVersion):
                pending.append(checked)
                continue
            problem = checked
        report.failed.append((label, problem))
    if pending:
        store_versions(pending, owner=owner, actor=actor)
        report.imported.extend(f"{new.name} {new.vers}" for new in pending)
        report.versions.setdefault(pending[0].name, []).extend(new.vers for new in pending)


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


def _verified_version(entry: dict, crate_files: dict[str, Path]) -> NewVersion | str:
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
    limit = registry().settings.general.max_unpacked_size
    manifest = inspect_crate(data, entry["name"], entry["vers"], limit, publish_policy=False).manifest
    readme_file = readme_path(manifest)
    readme = None
    if readme_file:
        raw = inspect_crate(data, entry["name"], entry["vers"], limit, wanted={readme_file},
                            publish_policy=False).files.get(readme_file)
        readme = raw.decode("utf-8", "replace") if raw is not None else None
    return _new_version(entry, manifest.get("package", {}), data, readme, readme_file if readme is not None else None)


def _new_version(entry: dict, package: dict, data: bytes, readme: str | None, readme_file: str | None) -> NewVersion:
    """The index line as it stands, with the descriptive fields of the file's ``[package]``."""
    return NewVersion(
        name=entry["name"], vers=entry["vers"], deps=entry["deps"],
        features={**(entry.get("features") or {}), **(entry.get("features2") or {})},
        cksum=entry["cksum"], tarball=data, links=entry.get("links"), rust_version=entry.get("rust_version"),
        yanked=bool(entry.get("yanked", False)), published_at=_published_at(entry),
        authors=string_list(package.get("authors")),
        keywords=[k.lower() for k in string_list(package.get("keywords"))],
        categories=string_list(package.get("categories")), badges={}, readme=readme, readme_file=readme_file,
        **text_fields(package))


def _published_at(entry: dict) -> datetime | None:
    try:
        return datetime.strptime(entry.get("pubtime") or "", "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return None
