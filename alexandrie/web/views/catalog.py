"""The crates.io web API's reads under ``/api/v1``, for the tools written against crates.io: crates,
versions, reverse dependencies, downloads, categories, keywords and the summary (``services/catalog.py``)."""

from flask import Blueprint, Response, jsonify, request

from ...services import catalog
from ..identity import current_reader

bp = Blueprint("catalog", __name__, url_prefix="/api/v1")


def _page() -> catalog.Pagination:
    return catalog.pagination(request.args.get("page"), request.args.get("per_page"))


@bp.get("/crates/<name>")
def crate(name: str):
    return jsonify(catalog.crate_with_versions(name, current_reader()))


@bp.get("/crates/<name>/versions")
def versions(name: str):
    """Every version unless the client asks for pages with ``per_page``, as on crates.io."""
    page = _page() if "per_page" in request.args or "page" in request.args else None
    return jsonify(catalog.versions_page(name, current_reader(), page, sort=request.args.get("sort", "semver")))


@bp.get("/crates/<name>/<version>")
def version(name: str, version: str):
    return jsonify(catalog.one_version(name, version, current_reader()))


@bp.get("/crates/<name>/<version>/readme")
def readme(name: str, version: str):
    # The HTML came from a publisher: sandboxed, it runs no script and reaches no cookie of this origin.
    return Response(catalog.readme_html(name, version, current_reader()), mimetype="text/html",
                    headers={"Content-Security-Policy": "sandbox; default-src 'none'; style-src 'unsafe-inline'"})


@bp.get("/crates/<name>/<version>/dependencies")
def version_dependencies(name: str, version: str):
    return jsonify(catalog.version_dependencies(name, version, current_reader()))


@bp.get("/crates/<name>/<version>/downloads")
def version_downloads(name: str, version: str):
    return jsonify(catalog.version_downloads(name, version, current_reader()))


@bp.get("/crates/<name>/<version>/authors")
def version_authors(name: str, version: str):
    return jsonify(catalog.version_authors(name, version, current_reader()))


@bp.get("/crates/<name>/reverse_dependencies")
def reverse_dependencies(name: str):
    return jsonify(catalog.reverse_dependencies(name, current_reader(), _page()))


@bp.get("/crates/<name>/downloads")
def downloads(name: str):
    return jsonify(catalog.downloads(name, current_reader()))


@bp.get("/categories")
def categories():
    return jsonify(catalog.categories_page(current_reader(), _page(), sort=request.args.get("sort", "alpha")))


@bp.get("/categories/<slug>")
def category(slug: str):
    return jsonify(catalog.one_category(slug, current_reader()))


@bp.get("/keywords")
def keywords():
    return jsonify(catalog.keywords_page(current_reader(), _page(), sort=request.args.get("sort", "alpha")))


@bp.get("/keywords/<word>")
def keyword(word: str):
    return jsonify(catalog.one_keyword(word, current_reader()))


@bp.get("/summary")
def summary():
    return jsonify(catalog.summary(current_reader()))
