"""The crate browser: home, search, crate and version pages, keywords, categories and users.

Everything shown comes from stored rows (READMEs are rendered at publish), so no page
re-renders Markdown; restricted crates are filtered through ``access`` like the API.
"""

import math
from pathlib import Path
from urllib.parse import urlencode

from flask import Blueprint, abort, render_template, request
from peewee import JOIN, fn

from ...models import Category, Crate, CrateCategory, CrateKeyword, CrateOwner, Dependency, Keyword, User, Version
from ...registry import registry
from ...rules.names import canonical_name
from ...rules.versions import SemVer
from ...services.downloads import daily_downloads
from ...services.search import SORTS, search_crates
from ...services.users import user_by_login
from ...services.visibility import (
    find_readable_crate,
    readable_condition,
    visible_categories,
    visible_crates,
    visible_keyword,
)
from ..charts import downloads_svg
from ..identity import current_reader
from ..sessions import protect_blueprint
from ..templates import templates_dir

bp = protect_blueprint(Blueprint("frontend", __name__, static_folder=str(Path(templates_dir()) / "static"),
                                 static_url_path="/assets"))
PER_PAGE = 20
LIST_SIZE = 8
SORT_LABELS = {"relevance": "Relevance", "downloads": "All-time downloads", "recent": "Recently updated",
               "name": "Name"}


def registry_name() -> str:
    return registry().settings.general.registry_name


@bp.app_template_global()
def page_url(number: int) -> str:
    """The current listing with another page number, keeping the query and filters."""
    args = {key: value for key, value in request.args.items() if key != "page"}
    return f"{request.path}?{urlencode({**args, 'page': number})}"


def _page_number() -> int:
    return max(1, min(request.args.get("page", 1, type=int) or 1, 10_000))


@bp.get("/")
def home():
    reader = current_reader()
    crates = visible_crates(reader)
    visible = readable_condition(reader)
    totals = {
        "crates": crates.count(),
        "versions": Version.select().join(Crate).where(visible).count(),
        "downloads": int(Crate.select(fn.COALESCE(fn.SUM(Crate.downloads), 0)).where(visible).scalar() or 0),
    }
    return render_template(
        "home.html", totals=totals,
        # Tie-breaks on the id let SQLite walk the (column, rowid) indexes instead of sorting every crate.
        most_downloaded=list(crates.order_by(Crate.downloads.desc(), Crate.id.desc()).limit(LIST_SIZE)),
        recently_updated=list(crates.order_by(Crate.updated_at.desc(), Crate.id.desc()).limit(LIST_SIZE)),
        newest=list(crates.order_by(Crate.id.desc()).limit(LIST_SIZE)))


@bp.get("/search")
def search():
    return _listing("search.html", query=request.args.get("q", "").strip()[:200],
                    keyword=request.args.get("keyword", "").strip()[:32] or None,
                    category=request.args.get("category", "").strip()[:64] or None)


def _listing(template: str, query: str = "", keyword: str | None = None, category: str | None = None, **extra):
    default_sort = "relevance" if query else "downloads"
    sort = request.args.get("sort", default_sort)
    sort = sort if sort in SORTS else default_sort
    page = _page_number()
    result = search_crates(query, page=page, per_page=PER_PAGE, sort=sort, keyword=keyword, category=category,
                           reader=current_reader())
    pages = max(1, math.ceil(result.total / PER_PAGE))
    return render_template(template, query=query, keyword=keyword, category=category, sort=sort,
                           sort_labels=SORT_LABELS, crates=result.crates, total=result.total, page=page,
                           pages=pages, categories=_all_categories(), **extra)


def _all_categories() -> list[Category]:
    return list(visible_categories(current_reader()).order_by(Category.name))


@bp.get("/crates/<name>")
def crate(name: str):
    return _crate_page(name, None)


@bp.get("/crates/<name>/<version>")
def version(name: str, version: str):
    return _crate_page(name, version)


def _crate_page(name: str, num: str | None):
    crate = find_readable_crate(name, current_reader())
    versions = sorted(crate.versions, key=_version_order, reverse=True)
    if not versions:
        abort(404)
    selected = _pick_version(crate, versions, num)
    if selected is None:
        abort(404, f"crate `{crate.name}` has no version {num}")
    series = daily_downloads(crate)
    return render_template(
        "crate.html", crate=crate, versions=versions, version=selected, is_latest=num is None,
        dependencies=_dependencies(selected), reverse_dependencies=_reverse_dependencies(crate),
        owners=list(User.select().join(CrateOwner).where(CrateOwner.crate == crate).order_by(User.login)),
        keywords=[k.name for k in Keyword.select().join(CrateKeyword).where(CrateKeyword.crate == crate)
                  .order_by(Keyword.name)],
        categories=list(Category.select().join(CrateCategory).where(CrateCategory.crate == crate)
                        .order_by(Category.name)),
        downloads=series, chart=downloads_svg(series), registry_name=registry_name())


def _version_order(version: Version):
    try:
        return (1, SemVer(version.num))
    except ValueError:
        return (0, version.published_at)


def _pick_version(crate: Crate, versions: list[Version], num: str | None) -> Version | None:
    if num is not None:
        return next((v for v in versions if v.num == num), None)
    return (next((v for v in versions if v.num == crate.max_version and not v.yanked), None)
            or next((v for v in versions if not v.yanked), None) or versions[0])


def _dependencies(version: Version) -> dict[str, list]:
    """The version's dependencies by kind; ``local`` marks those that have a page here."""
    rows = list(Dependency.select().where(Dependency.version == version).order_by(Dependency.crate_name))
    local = {c.canonical_name: c.name for c in visible_crates(current_reader()).where(
        Crate.canonical_name.in_([r.crate_name for r in rows]))} if rows else {}
    spelled = {canonical_name(d.get("package") or d["name"]): d.get("package") or d["name"]
               for d in version.deps or ()}
    groups = {"normal": [], "dev": [], "build": []}
    for row in rows:
        row.local = row.registry is None and row.crate_name in local
        row.display_name = local.get(row.crate_name) if row.local else spelled.get(row.crate_name, row.crate_name)
        groups.setdefault(row.kind, []).append(row)
    return groups


def _reverse_dependencies(crate: Crate, limit: int = 50) -> dict:
    """Crates whose newest version depends on this one (any kind)."""
    dependents = (Crate.select(Crate, Dependency.req, Dependency.kind)
                  .join(Version, on=(Version.crate == Crate.id))
                  .join(Dependency, on=(Dependency.version == Version.id))
                  .where((Dependency.crate_name == crate.canonical_name) & Dependency.registry.is_null()
                         & (Version.num == Crate.max_version) & (Crate.id != crate.id)
                         & readable_condition(current_reader()))
                  .order_by(Crate.downloads.desc(), Crate.canonical_name))
    return {"total": dependents.count(), "crates": list(dependents.limit(limit).objects())}


@bp.get("/keywords")
def keywords():
    visible = readable_condition(current_reader())
    counts = (Keyword.select(Keyword, fn.COUNT(Crate.id).alias("crate_count"))
              .join(CrateKeyword).join(Crate).where(visible)
              .group_by(Keyword.id).order_by(fn.COUNT(Crate.id).desc(), Keyword.name).limit(500))
    return render_template("keywords.html", keywords=list(counts))


@bp.get("/keywords/<keyword>")
def keyword(keyword: str):
    found = visible_keyword(keyword.lower(), current_reader())
    if found is None:
        abort(404, f"no crate has the keyword `{keyword}`")
    return _listing("browse.html", keyword=found.name, heading=f"Keyword: {found.name}")


@bp.get("/categories")
def categories():
    visible = readable_condition(current_reader())
    counts = (Category.select(Category, fn.COUNT(Crate.id).alias("crate_count"))
              .join(CrateCategory, JOIN.LEFT_OUTER).join(Crate, JOIN.LEFT_OUTER)
              .where(visible | Crate.id.is_null())
              .group_by(Category.id).order_by(Category.name))
    return render_template("categories.html", categories=list(counts))


@bp.get("/categories/<slug>")
def category(slug: str):
    found = visible_categories(current_reader()).where(Category.slug == slug).first()
    if found is None:
        abort(404, f"there is no category `{slug}`")
    return _listing("browse.html", category=found.slug, heading=f"Category: {found.name}",
                    description=found.description)


@bp.get("/users/<login>")
def user(login: str):
    owner = user_by_login(login)
    if owner is None:
        abort(404, f"there is no user `{login}`")
    crates = (visible_crates(current_reader()).join(CrateOwner).where(CrateOwner.user == owner)
              .order_by(Crate.canonical_name))
    return render_template("user.html", owner=owner, crates=list(crates))
