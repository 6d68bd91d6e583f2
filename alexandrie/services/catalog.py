"""The crates.io web API's reads, in crates.io's JSON shapes: a crate with its versions, one version, the
versions page by page, reverse dependencies, daily downloads, categories, keywords and the summary.

Everything goes through ``readable_condition``: a crate its reader may not see is absent, a 404 like a
crate that never existed, and it is left out of every list, count and total. The answers are plain dicts,
ready for ``jsonify``; timestamps are RFC 3339 in UTC, as crates.io writes them.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from peewee import JOIN, SQL, fn

from ..errors import BadRequest, NotFound
from ..models import Category, Crate, CrateCategory, CrateKeyword, Dependency, Keyword, User, Version, VersionDownload
from ..registry import registry
from ..rules.names import canonical_name
from ..rules.versions import semver_or_none, version_sort_key
from .dependents import dependents
from .visibility import find_readable_crate, readable_condition, visible_crates

DEFAULT_PER_PAGE = 10
MAX_PER_PAGE = 100  # crates.io's ceiling
MAX_PAGE = 1_000_000  # far past any real listing; keeps OFFSET inside every database's integers
RECENT_DAYS = 90  # crates.io's "recent downloads" and the downloads endpoint look back this far
TOP_VERSIONS_CHARTED = 5  # the downloads endpoint charts these versions; the others go in extra_downloads
SUMMARY_SIZE = 10
MOST_USED = SQL("crates_cnt").desc()


@dataclass(frozen=True)
class Pagination:
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    def next_page(self, total: int) -> str | None:
        """The query string of the next page, as crates.io's ``meta.next_page``; None on the last one."""
        if self.offset + self.per_page >= total:
            return None
        return f"?page={self.page + 1}&per_page={self.per_page}"


def pagination(page: str | None, per_page: str | None) -> Pagination:
    """``page`` and ``per_page`` as a client sent them (None: absent); ``per_page`` above 100 is read as 100."""
    return Pagination(page=_whole_number("page", page, 1, 1, MAX_PAGE),
                      per_page=min(_whole_number("per_page", per_page, DEFAULT_PER_PAGE, 1, None), MAX_PER_PAGE))


def _whole_number(key: str, raw: str | None, default: int, low: int, high: int | None) -> int:
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"`{key}` must be a whole number, not `{raw[:40]}`") from None
    if value < low or (high is not None and value > high):
        limits = f"from {low} to {high}" if high is not None else f"{low} or more"
        raise BadRequest(f"`{key}` must be {limits}, not {value}")
    return value


def rfc3339(moment: datetime | None) -> str | None:
    """A stored (naive UTC) time as crates.io writes it: ``2019-12-13T13:46:41Z``."""
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- crates -----------------------------------------------------------------------------------------------


def crate_with_versions(name: str, reader: User | None) -> dict:
    """``GET /api/v1/crates/{name}``: the crate, every version (highest first), its keywords and categories."""
    crate = find_readable_crate(name, reader)
    versions = _sorted_by_semver(list(_versions_of(crate)))
    keywords = list(_keywords_of(crate, reader))
    categories = list(_categories_of(crate, reader))
    body = _crate_json(crate, versions, _recent_downloads([crate.id]).get(crate.id, 0))
    body.update(versions=[v.id for v in versions], keywords=[k.name for k in keywords],
                categories=[c.slug for c in categories])
    body["links"]["versions"] = None  # crates.io: the versions are included, so there is no link to them
    return {"crate": body, "versions": [_version_json(v, crate) for v in versions],
            "keywords": [_keyword_json(k) for k in keywords], "categories": [_category_json(c) for c in categories]}


def crate_summaries(crates: list[Crate]) -> list[dict]:
    """Crates as crates.io lists them (search, summary): no versions, keywords or categories inline."""
    ids = [crate.id for crate in crates]
    versions, recent = defaultdict(list), _recent_downloads(ids)
    if ids:
        for version in Version.select(Version.id, Version.crate, Version.num, Version.yanked, Version.published_at) \
                .where(Version.crate.in_(ids)):
            versions[version.crate_id].append(version)
    return [_crate_json(crate, versions[crate.id], recent.get(crate.id, 0)) for crate in crates]


def _crate_json(crate: Crate, versions: list[Version], recent_downloads: int) -> dict:
    top = _top_versions(versions)
    base = f"/api/v1/crates/{crate.name}"
    return {
        "id": crate.name, "name": crate.name, "updated_at": rfc3339(crate.updated_at), "versions": None,
        "keywords": None, "categories": None, "badges": [], "created_at": rfc3339(crate.created_at),
        "downloads": crate.downloads, "recent_downloads": recent_downloads, **top,
        "num_versions": len(versions), "description": crate.description, "homepage": crate.homepage,
        "documentation": crate.documentation, "repository": crate.repository, "exact_match": False,
        "links": {"version_downloads": f"{base}/downloads", "versions": f"{base}/versions",
                  "owners": f"{base}/owners", "owner_team": f"{base}/owner_team",
                  "owner_user": f"{base}/owner_user", "reverse_dependencies": f"{base}/reverse_dependencies"},
    }


def _top_versions(versions: list[Version]) -> dict:
    """crates.io's version fields: the highest, highest release and newest of the live (unyanked) versions."""
    live = [(parsed, v) for v in versions if not v.yanked and (parsed := semver_or_none(v.num)) is not None]
    releases = [pair for pair in live if not pair[0].is_prerelease]
    highest = max(live, key=lambda pair: pair[0])[1].num if live else None
    stable = max(releases, key=lambda pair: pair[0])[1].num if releases else None
    newest = max(live, key=lambda pair: (pair[1].published_at, pair[1].id))[1].num if live else None
    every = _sorted_by_semver(versions)
    return {"default_version": stable or highest or (every[0].num if every else None),
            "yanked": bool(versions) and not live, "max_version": highest or "0.0.0",
            "newest_version": newest or "0.0.0", "max_stable_version": stable}


def _sorted_by_semver(versions: list[Version]) -> list[Version]:
    """Highest first; a version that is not SemVer (imported from elsewhere) sorts last, newest first."""
    return sorted(versions, key=lambda v: version_sort_key(v.num, v.published_at, v.id), reverse=True)


def _recent_downloads(crate_ids: list[int], today: date | None = None) -> dict[int, int]:
    if not crate_ids:
        return {}
    rows = (VersionDownload.select(Version.crate, fn.SUM(VersionDownload.count)).join(Version)
            .where(Version.crate.in_(crate_ids) & (VersionDownload.day >= _recent_start(today)))
            .group_by(Version.crate).tuples())
    return {crate_id: int(total or 0) for crate_id, total in rows}


def _recent_start(today: date | None = None) -> date:
    return (today or datetime.now(UTC).date()) - timedelta(days=RECENT_DAYS - 1)


# --- versions ---------------------------------------------------------------------------------------------


def versions_page(name: str, reader: User | None, page: Pagination | None, sort: str = "semver") -> dict:
    """``GET /api/v1/crates/{name}/versions``: every version, or one page of them when ``page`` is given;
    highest first, or newest first with ``sort="date"``."""
    crate = find_readable_crate(name, reader)
    order = _versions_by_date(crate) if sort == "date" else _sorted_by_semver(
        list(Version.select(Version.id, Version.num, Version.published_at).where(Version.crate == crate)))
    chosen = order if page is None else order[page.offset:page.offset + page.per_page]
    rows = {v.id: v for v in _versions_of(crate).where(Version.id.in_([v.id for v in chosen]))} if chosen else {}
    return {"versions": [_version_json(rows[v.id], crate) for v in chosen],
            "meta": {"total": len(order), "next_page": page.next_page(len(order)) if page else None}}


def _versions_by_date(crate: Crate) -> list[Version]:
    return list(Version.select(Version.id).where(Version.crate == crate)
                .order_by(Version.published_at.desc(), Version.id.desc()))


def one_version(name: str, num: str, reader: User | None) -> dict:
    """``GET /api/v1/crates/{name}/{version}``."""
    crate = find_readable_crate(name, reader)
    version = _versions_of(crate).where(Version.num == num).first()
    if version is None:
        raise NotFound(f"crate `{crate.name}` has no version {num}")
    return {"version": _version_json(version, crate)}


def _versions_of(crate: Crate):
    return (Version.select(Version, User).join(User, JOIN.LEFT_OUTER, on=(Version.published_by == User.id))
            .where(Version.crate == crate))


def _version_json(version: Version, crate: Crate) -> dict:
    base = f"/api/v1/crates/{crate.name}/{version.num}"
    published = rfc3339(version.published_at)
    return {
        "id": version.id, "crate": crate.name, "num": version.num, "dl_path": f"{base}/download",
        "readme_path": f"{base}/readme", "updated_at": published, "created_at": published,
        "downloads": version.downloads, "features": version.features or {}, "yanked": version.yanked,
        "yank_message": None, "lib_links": version.links, "license": version.license,
        "links": {"dependencies": f"{base}/dependencies", "version_downloads": f"{base}/downloads",
                  "authors": f"{base}/authors"},
        "crate_size": version.size, "published_by": _publisher_json(version), "audit_actions": [],
        "checksum": version.cksum, "rust_version": version.rust_version, "has_lib": None,
        "bin_names": None, "edition": None, "description": version.description, "homepage": version.homepage,
        "documentation": version.documentation, "repository": version.repository,
    }


def _publisher_json(version: Version) -> dict | None:
    if version.published_by_id is None:
        return None
    user = version.published_by
    return {"id": user.id, "login": user.login, "name": user.name, "avatar": None,
            "url": f"{registry().public_url}/users/{user.login}"}


def version_dependencies(name: str, num: str, reader: User | None) -> dict:
    """``GET /api/v1/crates/{name}/{version}/dependencies``."""
    crate, version = _find_version(name, num, reader)
    rows = Dependency.select().where(Dependency.version == version).order_by(Dependency.id)
    return {"dependencies": [_dependency_json(row, version, _real_name(row, version), 0) for row in rows]}


def version_downloads(name: str, num: str, reader: User | None, today: date | None = None) -> dict:
    """``GET /api/v1/crates/{name}/{version}/downloads``: per day of the last 90."""
    _, version = _find_version(name, num, reader)
    rows = (VersionDownload.select(VersionDownload.day, VersionDownload.count)
            .where((VersionDownload.version == version) & (VersionDownload.day >= _recent_start(today)))
            .order_by(VersionDownload.day).tuples())
    return {"version_downloads": [{"version": version.id, "downloads": count, "date": _iso_day(day)}
                                  for day, count in rows]}


def version_authors(name: str, num: str, reader: User | None) -> dict:
    """``GET /api/v1/crates/{name}/{version}/authors``: deprecated on crates.io, still linked from a version."""
    _, version = _find_version(name, num, reader)
    return {"users": [], "meta": {"names": version.authors or []}}


def _find_version(name: str, num: str, reader: User | None) -> tuple[Crate, Version]:
    crate = find_readable_crate(name, reader)
    version = Version.get_or_none((Version.crate == crate) & (Version.num == num))
    if version is None:
        raise NotFound(f"crate `{crate.name}` has no version {num}")
    return crate, version


def readme_html(name: str, num: str, reader: User | None) -> str:
    """``GET /api/v1/crates/{name}/{version}/readme``: the README as rendered at publish."""
    crate, version = _find_version(name, num, reader)
    if not version.readme_html:
        raise NotFound(f"`{crate.name}` {num} was published without a README")
    return version.readme_html


# --- reverse dependencies and downloads -------------------------------------------------------------------


def reverse_dependencies(name: str, reader: User | None, page: Pagination) -> dict:
    """``GET /api/v1/crates/{name}/reverse_dependencies``: one dependency per dependent crate (its newest
    version's), with those versions."""
    crate = find_readable_crate(name, reader)
    found = dependents(crate, reader, offset=page.offset, limit=page.per_page)
    return {"dependencies": [_dependency_json(d.dependency, d.version, crate.name, d.crate.downloads)
                             for d in found.rows],
            "versions": [_version_json(d.version, d.crate) for d in found.rows],
            "meta": {"total": found.total, "next_page": page.next_page(found.total)}}


def _dependency_json(row: Dependency, version: Version, depended_on: str, downloads: int) -> dict:
    declared = _declared(row, version)
    return {"id": row.id, "version_id": version.id, "crate_id": depended_on, "req": row.req,
            "optional": row.optional, "default_features": declared.get("default_features", True),
            "features": declared.get("features", []), "target": row.target, "kind": row.kind,
            "downloads": downloads}


def _real_name(row: Dependency, version: Version) -> str:
    """The depended-on crate's name as the publisher spelled it (the row keeps it canonical)."""
    declared = _declared(row, version)
    return declared.get("package") or declared.get("name") or row.crate_name


def _declared(row: Dependency, version: Version) -> dict:
    """The index entry a dependency row was made from (its features live only there)."""
    for entry in version.deps or ():
        real = canonical_name(entry.get("package") or entry["name"])
        if (real == row.crate_name and (entry.get("kind") or "normal") == row.kind
                and entry.get("target") == row.target and entry.get("req") == row.req):
            return entry
    return {}


def downloads(name: str, reader: User | None, today: date | None = None) -> dict:
    """``GET /api/v1/crates/{name}/downloads``: per day of the last 90, for the five highest versions, and
    the other versions summed per day in ``meta.extra_downloads``."""
    crate = find_readable_crate(name, reader)
    order = _sorted_by_semver(list(Version.select(Version.id, Version.num, Version.published_at)
                                   .where(Version.crate == crate)))
    charted = {v.id for v in order[:TOP_VERSIONS_CHARTED]}
    rows = (VersionDownload.select(VersionDownload.version, VersionDownload.day, VersionDownload.count)
            .join(Version).where((Version.crate == crate) & (VersionDownload.day >= _recent_start(today)))
            .order_by(VersionDownload.day, VersionDownload.version).tuples())
    per_version, extra = [], defaultdict(int)
    for version_id, day, count in rows:
        if version_id in charted:
            per_version.append({"version": version_id, "downloads": count, "date": _iso_day(day)})
        else:
            extra[_iso_day(day)] += count
    return {"version_downloads": per_version,
            "meta": {"extra_downloads": [{"date": day, "downloads": count} for day, count in sorted(extra.items())]}}


def _iso_day(value: date | str) -> str:
    """``YYYY-MM-DD``; a DateField comes back as a string from some drivers."""
    return value[:10] if isinstance(value, str) else value.isoformat()[:10]


# --- keywords and categories ------------------------------------------------------------------------------


def keywords_page(reader: User | None, page: Pagination, sort: str = "alpha") -> dict:
    """``GET /api/v1/keywords``: the keywords of crates ``reader`` may see, by name or (``crates``) by use."""
    counted = _counted_keywords(reader)
    order = (MOST_USED, Keyword.name) if sort == "crates" else (Keyword.name,)
    total = counted.count()
    rows = counted.order_by(*order).offset(page.offset).limit(page.per_page)
    return {"keywords": [_keyword_json(k) for k in rows], "meta": {"total": total, "next_page": page.next_page(total)}}


def one_keyword(word: str, reader: User | None) -> dict:
    found = _counted_keywords(reader).where(Keyword.name == word.lower()).first()
    if found is None:
        raise NotFound(f"no crate has the keyword `{word}`")
    return {"keyword": _keyword_json(found)}


def _counted_keywords(reader: User | None):
    """Keywords used by a crate ``reader`` may see (a word only restricted crates use does not exist), with
    ``crates_cnt`` and ``first_used`` counted over those crates alone."""
    return (Keyword.select(Keyword, fn.COUNT(Crate.id).alias("crates_cnt"),
                           fn.MIN(Crate.created_at).alias("first_used"))
            .join(CrateKeyword).join(Crate).where(readable_condition(reader)).group_by(Keyword.id))


def _keywords_of(crate: Crate, reader: User | None):
    return _counted_keywords(reader).where(Keyword.id.in_(
        CrateKeyword.select(CrateKeyword.keyword).where(CrateKeyword.crate == crate))).order_by(Keyword.name)


def _keyword_json(keyword: Keyword) -> dict:
    # Keywords are made by the first publish that uses them: that crate's creation stands for theirs.
    return {"id": keyword.name, "keyword": keyword.name, "created_at": rfc3339(_as_time(keyword.first_used)),
            "crates_cnt": keyword.crates_cnt}


def categories_page(reader: User | None, page: Pagination, sort: str = "alpha") -> dict:
    """``GET /api/v1/categories``: by name, or (``crates``) by how many crates ``reader`` may see use them."""
    counted = _counted_categories(reader)
    order = (MOST_USED, Category.name) if sort == "crates" else (Category.name,)
    total = counted.count()
    rows = counted.order_by(*order).offset(page.offset).limit(page.per_page)
    return {"categories": [_category_json(c) for c in rows],
            "meta": {"total": total, "next_page": page.next_page(total)}}


def one_category(slug: str, reader: User | None) -> dict:
    """One category, with its subcategories one level down and its parents (``parent::child`` slugs)."""
    found = _counted_categories(reader).where(Category.slug == slug).first()
    if found is None:
        raise NotFound(f"there is no category `{slug}`")
    depth = slug.count("::") + 1
    children = [c for c in _counted_categories(reader).where(Category.slug.startswith(f"{slug}::"))
                .order_by(Category.name) if c.slug.count("::") == depth]
    parts = slug.split("::")
    ancestors = ["::".join(parts[:end]) for end in range(1, len(parts))]
    parents = list(_counted_categories(reader).where(Category.slug.in_(ancestors)).order_by(Category.slug)) \
        if ancestors else []
    return {"category": {**_category_json(found), "subcategories": [_category_json(c) for c in children],
                         "parent_categories": [_category_json(c) for c in parents]}}


def _counted_categories(reader: User | None):
    """The categories ``reader`` may know of, with ``crates_cnt`` and ``first_used`` over the crates it may
    see: one used only by crates it may not see is left out, an unused one is kept (it reveals nothing)."""
    return (Category.select(Category, fn.COUNT(Crate.id).alias("crates_cnt"),
                            fn.MIN(Crate.created_at).alias("first_used"))
            .join(CrateCategory, JOIN.LEFT_OUTER).join(Crate, JOIN.LEFT_OUTER)
            .where(readable_condition(reader) | Crate.id.is_null())
            .group_by(Category.id))


def _categories_of(crate: Crate, reader: User | None):
    return _counted_categories(reader).where(Category.id.in_(
        CrateCategory.select(CrateCategory.category).where(CrateCategory.crate == crate))).order_by(Category.name)


def _category_json(category: Category) -> dict:
    # crates.io names a subcategory by its own part: "Parent::Child" is "Child".
    return {"id": category.slug, "category": category.name.rsplit("::", 1)[-1], "slug": category.slug,
            "description": category.description or "", "created_at": rfc3339(_as_time(category.first_used)),
            "crates_cnt": category.crates_cnt}


def _as_time(value) -> datetime | None:
    """An aggregate of a DateTimeField comes back raw (a string on SQLite)."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


# --- the summary ------------------------------------------------------------------------------------------


def summary(reader: User | None) -> dict:
    """``GET /api/v1/summary``: totals and the front page's lists, over the crates ``reader`` may see."""
    crates = visible_crates(reader)
    visible = readable_condition(reader)
    popular_keywords = _counted_keywords(reader).order_by(MOST_USED, Keyword.name).limit(SUMMARY_SIZE)
    popular_categories = _counted_categories(reader).order_by(MOST_USED, Category.name).limit(SUMMARY_SIZE)
    return {
        "num_crates": crates.count(),
        "num_downloads": int(Crate.select(fn.COALESCE(fn.SUM(Crate.downloads), 0)).where(visible).scalar() or 0),
        "new_crates": _listed(crates.order_by(Crate.created_at.desc(), Crate.id.desc())),
        "most_downloaded": _listed(crates.order_by(Crate.downloads.desc(), Crate.id.desc())),
        "most_recently_downloaded": _listed(_recently_downloaded(reader)),
        "just_updated": _listed(crates.where(Crate.updated_at != Crate.created_at)
                                .order_by(Crate.updated_at.desc(), Crate.id.desc())),
        "popular_keywords": [_keyword_json(k) for k in popular_keywords],
        "popular_categories": [_category_json(c) for c in popular_categories],
    }


def _listed(query) -> list[dict]:
    return crate_summaries(list(query.limit(SUMMARY_SIZE)))


def _recently_downloaded(reader: User | None):
    recent = fn.SUM(VersionDownload.count)
    return (Crate.select(Crate).join(Version, on=(Version.crate == Crate.id))
            .join(VersionDownload, on=(VersionDownload.version == Version.id))
            .where(readable_condition(reader) & (VersionDownload.day >= _recent_start()))
            .group_by(Crate.id).order_by(recent.desc(), Crate.id.desc()))
