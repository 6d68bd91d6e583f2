"""``alexandrie import``: fill the registry from ``.crate`` files (migrations, offline mirrors).

Metadata is recovered from the normalized ``Cargo.toml`` that ``cargo package`` writes,
the way ``cargo publish`` would have sent it, and stored through the one write path.
"""

import hashlib
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import AlexandrieError
from ..events import ImportEvent
from ..models import Crate, User, Version
from ..registry import registry
from ..rules.manifest import localise, publish_metadata, readme_path
from ..rules.metadata import read_metadata
from ..rules.names import canonical_name
from ..rules.tarball import inspect_crate, name_and_version
from .changes import record
from .publishing import store_versions


@dataclass
class ImportReport:
    imported: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    versions: dict[str, list[str]] = field(default_factory=dict)  # crate -> versions imported, for the audit log

    def summary(self) -> str:
        lines = [f"imported {len(self.imported)}, already present {len(self.skipped)}, failed {len(self.failed)}"]
        lines += [f"  {path}: {why}" for path, why in self.failed]
        return "\n".join(lines)


def crate_files(paths) -> list[Path]:
    found = []
    for path in map(Path, paths):
        found.extend(sorted(path.rglob("*.crate")) if path.is_dir() else [path])
    return found


def import_paths(files: list[Path], *, mirror=False, owner: User | None = None, foreign_indexes=(),
                 actor: str | None = None, progress: Callable[[Path], None] = lambda path: None) -> ImportReport:
    """Import every file; one bad file is reported and does not stop the rest. Safe to re-run."""
    report = ImportReport()
    try:
        for path in files:
            try:
                imported = import_file(path, mirror=mirror, owner=owner, foreign_indexes=set(foreign_indexes),
                                       actor=actor)
                if imported:
                    report.imported.append(str(path))
                    report.versions.setdefault(imported[0], []).append(imported[1])
                else:
                    report.skipped.append(str(path))
            except (AlexandrieError, OSError, tarfile.TarError, ValueError) as exc:
                report.failed.append((str(path), getattr(exc, "detail", None) or str(exc)))
            progress(path)
    finally:
        record_import("files", report.versions, skipped=len(report.skipped), failed=len(report.failed),
                      owner=owner, actor=actor)
    return report


def record_import(source: str, versions: dict[str, list[str]], *, skipped: int, failed: int, owner: User | None,
                  actor: str | None) -> None:
    """One audit row (and one event for plugins) for a whole run that stored anything, however many versions:
    a 100,000-version migration costs one row, not 100,000, and its webhook receivers one delivery. Called
    from ``finally``, so a run stopped half-way (Ctrl-C, a lost connection) still records what it stored."""
    if versions:
        record(ImportEvent(actor=actor, source=source, versions=versions, skipped=skipped, failed=failed,
                           owner=owner.login if owner else None))


def import_file(path: Path, *, mirror: bool, owner: User | None, foreign_indexes: set[str],
                actor: str | None = None) -> tuple[str, str] | None:
    """The (crate, version) stored, or None when that version was already there with the same checksum."""
    data = path.read_bytes()
    name, vers = name_and_version(data, path.name)
    cksum = hashlib.sha256(data).hexdigest()
    existing = _existing(name, vers)
    if existing is not None:
        if existing.cksum != cksum:
            raise AlexandrieError(f"{name} {vers} is already in the registry with checksum {existing.cksum}, "
                                  f"but this file's is {cksum}; remove one of the two copies")
        return None
    settings = registry().settings
    limit = settings.general.max_unpacked_size
    readme_file = readme_path(inspect_crate(data, name, vers, limit, publish_policy=False).manifest)
    contents = inspect_crate(data, name, vers, limit, wanted={readme_file} if readme_file else (), publish_policy=False)
    # Only the safety caps: another registry accepted this version, so the publish policy is not asked again.
    new = read_metadata(publish_metadata(contents.manifest, contents.files.get(readme_file), readme_file),
                        settings.limits)
    new.deps = [localise(dep, mirror, foreign_indexes) for dep in new.deps]
    new.tarball, new.cksum = data, cksum
    store_versions([new], owner=owner, actor=actor)
    return new.name, new.vers


def _existing(name: str, vers: str):
    return (Version.select(Version.cksum).join(Crate)
            .where((Crate.canonical_name == canonical_name(name)) & (Version.num == vers)).first())
