"""The crate browser: home, search, crate and version pages, keywords, categories and users.

Everything shown comes from stored rows (READMEs are rendered at publish), so no page
re-renders Markdown; restricted crates are filtered through ``access`` like the API.
"""

from pathlib import Path

from flask import Blueprint, abort, render_template, request
from peewee import JOIN, fn

from ...models import Category, Crate, CrateCategory, CrateKeyword, CrateOwner, Dependency, Keyword, User, Version
from ...registry import registry
from ...rules.manifest import CRATES_IO_URLS
from ...rules.names import canonical_name
from ...rules.versions import version_sort_key
from ...services.dependents import dependents
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
from ..pagination import PER_PAGE, Page, filter_text, page_number, page_url, paginate, paginate_list
from ..sessions import protect_blueprint
from ..templates import templates_dir

bp = protect_blueprint(Blueprint("frontend", __name__, static_folder=str(Path(templates_dir()) / "static"),
                                 static_url_path="/assets"))
bp.add_app_template_global(page_url)
LIST_SIZE = 8
RECENT_VERSIONS = 10  # on the crate page; the rest on its versions page
VERSIONS_PER_PAGE = 50
KEYWORDS_PER_PAGE = 100
CATEGORIES_PER_PAGE = 60
SORT_LABELS = {"relevance": "Relevance", "downloads": "All-time downloads", "recent": "Recently updated",
               "name": "Name"}


def registry_name() -> str:
    return registry().settings.general.registry_name


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
    number = page_number()
    result = search_crates(query, page=number, per_page=PER_PAGE, sort=sort, keyword=keyword, category=category,
                           reader=current_reader())
    page = Page(items=result.crates, number=number, per_page=PER_PAGE, total=result.total)
    return render_template(template, query=query, keyword=keyword, category=category, sort=sort,
                           sort_labels=SORT_LABELS, page=page, categories=_all_categories(), **extra)


def _all_categories() -> list[Category]:
    return list(visible_categories(current_reader()).order_by(Category.name))


@bp.get("/crates/<name>")
def crate(name: str):
    return _crate_page(name, None)


@bp.get("/crates/<name>/<version>")
def version(name: str, version: str):
    return _crate_page(name, version)


@bp.get("/crates/<name>/versions")
def versions(name: str):
    """Every version of a crate, newest first, a page at a time; ``?q=1.2`` keeps those starting so."""
    crate = find_readable_crate(name, current_reader())
    wanted = filter_text()
    matching = [v for v in _versions_newest_first(crate) if v.num.startswith(wanted)]
    return render_template("versions.html", crate=crate, page=paginate_list(matching, VERSIONS_PER_PAGE),
                           filter_text=wanted)


def _crate_page(name: str, num: str | None):
    crate = find_readable_crate(name, current_reader())
    versions = _versions_newest_first(crate)
    if not versions:
        abort(404)
    picked = _pick_version(crate, versions, num)
    if picked is None:
        abort(404, f"crate `{crate.name}` has no version {num}")
    selected = Version.get_by_id(picked.id)
    series = daily_downloads(crate)
    return render_template(
        "crate.html", crate=crate, versions=versions[:RECENT_VERSIONS], version_count=len(versions),
        version=selected, is_latest=num is None,
        dependencies=_dependencies(selected), reverse_dependencies=_reverse_dependencies(crate),
        owners=list(User.select().join(CrateOwner).where(CrateOwner.crate == crate).order_by(User.login)),
        keywords=[k.name for k in Keyword.select().join(CrateKeyword).where(CrateKeyword.crate == crate)
                  .order_by(Keyword.name)],
        categories=list(Category.select().join(CrateCategory).where(CrateCategory.crate == crate)
                        .order_by(Category.name)),
        downloads=series, chart=downloads_svg(series), registry_name=registry_name())


def _versions_newest_first(crate: Crate) -> list[Version]:
    """Every version of the crate without its README and metadata: enough to order, pick and list them."""
    rows = Version.select(Version.id, Version.num, Version.yanked, Version.published_at, Version.downloads)
    return sorted(rows.where(Version.crate == crate), key=lambda v: version_sort_key(v.num, v.published_at, v.id),
                  reverse=True)


def _pick_version(crate: Crate, versions: list[Version], num: str | None) -> Version | None:
    if num is not None:
        return next((v for v in versions if v.num == num), None)
    return (next((v for v in versions if v.num == crate.max_version and not v.yanked), None)
            or next((v for v in versions if not v.yanked), None) or versions[0])


def _dependencies(version: Version) -> dict[str, list]:
    """The version's dependencies by kind; ``local`` marks those that have a page here, ``crates_io`` those
    that come from crates.io."""
    rows = list(Dependency.select().where(Dependency.version == version).order_by(Dependency.crate_name))
    local = {c.canonical_name: c.name for c in visible_crates(current_reader()).where(
        Crate.canonical_name.in_([r.crate_name for r in rows]))} if rows else {}
    spelled = {canonical_name(d.get("package") or d["name"]): d.get("package") or d["name"]
               for d in version.deps or ()}
    groups = {"normal": [], "dev": [], "build": []}
    for row in rows:
        row.local = row.registry is None and row.crate_name in local
        row.crates_io = row.registry in CRATES_IO_URLS
        row.display_name = local.get(row.crate_name) if row.local else spelled.get(row.crate_name, row.crate_name)
        groups.setdefault(row.kind, []).append(row)
    return groups


def _reverse_dependencies(crate: Crate, limit: int = 50) -> dict:
    """Crates whose newest version depends on this one, each once (the API's reverse_dependencies)."""
    found = dependents(crate, current_reader(), limit=limit)
    return {"total": found.total, "crates": [{"name": d.crate.name, "req": d.dependency.req, "kind": d.dependency.kind}
                                             for d in found.rows]}


@bp.get("/keywords")
def keywords():
    wanted = filter_text().lower()
    condition = readable_condition(current_reader())
    if wanted:
        condition &= Keyword.name.contains(wanted)
    counts = (Keyword.select(Keyword, fn.COUNT(Crate.id).alias("crate_count"))
              .join(CrateKeyword).join(Crate).where(condition)
              .group_by(Keyword.id).order_by(fn.COUNT(Crate.id).desc(), Keyword.name))
    return render_template("keywords.html", page=paginate(counts, KEYWORDS_PER_PAGE), filter_text=wanted)


@bp.get("/keywords/<keyword>")
def keyword(keyword: str):
    found = visible_keyword(keyword.lower(), current_reader())
    if found is None:
        abort(404, f"no crate has the keyword `{keyword}`")
    return _listing("browse.html", query=filter_text(), keyword=found.name, heading=f"Keyword: {found.name}")


@bp.get("/categories")
def categories():
    wanted = filter_text()
    condition = readable_condition(current_reader()) | Crate.id.is_null()
    if wanted:
        condition &= fn.LOWER(Category.name).contains(wanted.lower())
    counts = (Category.select(Category, fn.COUNT(Crate.id).alias("crate_count"))
              .join(CrateCategory, JOIN.LEFT_OUTER).join(Crate, JOIN.LEFT_OUTER)
              .where(condition)
              .group_by(Category.id).order_by(Category.name))
    return render_template("categories.html", page=paginate(counts, CATEGORIES_PER_PAGE), filter_text=wanted)


@bp.get("/categories/<slug>")
def category(slug: str):
    found = visible_categories(current_reader()).where(Category.slug == slug).first()
    if found is None:
        abort(404, f"there is no category `{slug}`")
    return _listing("browse.html", query=filter_text(), category=found.slug, heading=f"Category: {found.name}",
                    description=found.description)


@bp.get("/users/<login>")
def user(login: str):
    owner = user_by_login(login)
    if owner is None:
        abort(404, f"there is no user `{login}`")
    wanted = filter_text()
    crates = visible_crates(current_reader()).join(CrateOwner).where(CrateOwner.user == owner)
    if wanted:
        crates = crates.where(Crate.canonical_name.contains(canonical_name(wanted)))
    return render_template("user.html", owner=owner, page=paginate(crates.order_by(Crate.canonical_name)),
                           filter_text=wanted)
