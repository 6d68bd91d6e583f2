"""Reverse dependencies: the crates whose newest version depends on a crate, one entry per crate, as
crates.io counts them. The crate page's "Used by" and ``GET /api/v1/crates/{name}/reverse_dependencies``
both read them from here."""

from dataclasses import dataclass

from peewee import JOIN

from ..models import Crate, Dependency, User, Version
from .visibility import readable_condition

# When a crate depends on another in several ways (normal and dev, or per target), the entry shows the
# way that matters most to its users.
KIND_ORDER = {"normal": 0, "build": 1, "dev": 2}


@dataclass(frozen=True)
class Dependent:
    crate: Crate
    version: Version  # the dependent crate's newest version, the one that depends
    dependency: Dependency


@dataclass(frozen=True)
class Dependents:
    total: int  # crates, not dependency rows
    rows: list[Dependent]


def dependents(crate: Crate, reader: User | None, *, offset: int = 0, limit: int = 50) -> Dependents:
    """The crates ``reader`` may see whose newest version depends on ``crate``, most downloaded first."""
    condition = _depends_on(crate) & readable_condition(reader)
    crates = _joined(Crate.select(Crate.id, Crate.downloads, Crate.canonical_name)).where(condition).distinct()
    page = [row.id for row in crates.order_by(Crate.downloads.desc(), Crate.canonical_name).offset(offset)
            .limit(limit)]
    return Dependents(total=crates.count(), rows=_rows_of(crate, page))


def _joined(query):
    return (query.join(Version, on=(Version.crate == Crate.id))
            .join(Dependency, on=(Dependency.version == Version.id)))


def _depends_on(crate: Crate):
    # max_version is the newest live version (a release before a pre-release), as crates.io picks it.
    return ((Dependency.crate_name == crate.canonical_name) & Dependency.registry.is_null()
            & (Version.num == Crate.max_version) & (Crate.id != crate.id))


def _rows_of(crate: Crate, crate_ids: list[int]) -> list[Dependent]:
    """One dependent per crate id, in the order of ``crate_ids``."""
    if not crate_ids:
        return []
    rows = (Dependency.select(Dependency, Version, Crate, User).join(Version).join(Crate).switch(Version)
            .join(User, JOIN.LEFT_OUTER, on=(Version.published_by == User.id))
            .where(_depends_on(crate) & Crate.id.in_(crate_ids)).order_by(Dependency.id))
    best: dict[int, Dependent] = {}
    for row in rows:
        found = Dependent(crate=row.version.crate, version=row.version, dependency=row)
        kept = best.get(found.crate.id)
        if kept is None or KIND_ORDER.get(row.kind, 3) < KIND_ORDER.get(kept.dependency.kind, 3):
            best[found.crate.id] = found
    return [best[crate_id] for crate_id in crate_ids if crate_id in best]
