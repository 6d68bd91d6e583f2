"""The cargo web API under ``/api/v1``: publish, yank, owners, search and download."""

from flask import Blueprint, Response, jsonify, redirect, request

from ...config import GeneralSettings
from ...db import run_compiled
from ...errors import AlexandrieError, BadRequest
from ...models import Crate, CrateRestriction, Version
from ...registry import registry
from ...rules.names import canonical_name
from ...rules.upload import max_upload_size, upload_too_large
from ...services import crates, publishing
from ...services.search import search_crates
from ...services.visibility import find_readable_crate, is_shared, readable_condition, reader_key, require_visible
from ..caching import PUBLIC_IMMUTABLE, keep_private
from ..identity import current_reader, require_identity

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.put("/crates/new")
def publish_crate():
    """``cargo publish``: the body is cargo's binary frame, with no Content-Type."""
    identity = require_identity()
    general = registry().settings.general
    new = publishing.prepare(_read_body(general), general)
    return jsonify({"warnings": publishing.publish(identity, new)})


def _read_body(general: GeneralSettings) -> bytes:
    ceiling = max_upload_size(general.max_crate_size, general.max_metadata_size)
    if request.content_length is not None and request.content_length > ceiling:
        raise upload_too_large(request.content_length, general.max_crate_size)
    # read(n) allocates n bytes up front, so ask only for what the request says it holds.
    body = request.stream.read(min(ceiling, request.content_length or ceiling) + 1)
    if len(body) > ceiling:
        raise upload_too_large(None, general.max_crate_size)
    if not body:
        raise BadRequest("the upload is empty; publish with `cargo publish`")
    return body


@bp.delete("/crates/<name>/<version>/yank")
def yank(name, version):
    crates.set_yanked(_identity_seeing(name), name, version, True)
    return jsonify({"ok": True})


@bp.put("/crates/<name>/<version>/unyank")
def unyank(name, version):
    crates.set_yanked(_identity_seeing(name), name, version, False)
    return jsonify({"ok": True})


@bp.get("/crates/<name>/owners")
def list_owners(name):
    """crates.io's shape: users and groups in one list, told apart by ``kind`` (a group is a ``team``)."""
    crate = find_readable_crate(name, current_reader())
    return jsonify({"users": _user_owners(crate) + _group_owners(crate)})


@bp.get("/crates/<name>/owner_user")
def list_user_owners(name):
    return jsonify({"users": _user_owners(find_readable_crate(name, current_reader()))})


@bp.get("/crates/<name>/owner_team")
def list_group_owners(name):
    return jsonify({"teams": _group_owners(find_readable_crate(name, current_reader()))})


def _user_owners(crate) -> list[dict]:
    return [{"id": u.id, "login": u.login, "kind": "user", "name": u.name} for u in crates.owners_of(crate)]


def _group_owners(crate) -> list[dict]:
    return [{"id": g.id, "login": crates.GROUP_OWNER_PREFIX + g.name, "kind": "team", "name": g.name}
            for g in crates.group_owners_of(crate)]


@bp.put("/crates/<name>/owners")
def add_owners(name):
    message = crates.add_owners(_identity_seeing(name), name, _owner_logins())
    return jsonify({"ok": True, "msg": message})


@bp.delete("/crates/<name>/owners")
def remove_owners(name):
    message = crates.remove_owners(_identity_seeing(name), name, _owner_logins())
    return jsonify({"ok": True, "msg": message})


def _identity_seeing(name: str):
    """The caller's identity; a restricted crate it may not read answers 404, as if absent."""
    identity = require_identity()
    require_visible(identity, name)
    return identity


def _owner_logins() -> list[str]:
    try:
        body = request.get_json(force=True, silent=True)
    except RecursionError:  # silent only covers ValueError; absurd nesting is just as malformed
        body = None
    if not isinstance(body, dict):
        raise BadRequest('send the owners as JSON: {"users": ["login", "group:NAME", ...]}')
    return body.get("users")


@bp.get("/crates")
def search():
    """``cargo search``: ``q``, ``per_page`` (at most 100) and ``page``."""
    per_page = _int_arg("per_page", 10, 1, 100)
    page = _int_arg("page", 1, 1, 10_000)
    result = search_crates(request.args.get("q", ""), page=page, per_page=per_page,
                           sort=request.args.get("sort", "relevance"), reader=current_reader())
    return jsonify({
        "crates": [{"name": c.name, "max_version": c.max_version or "0.0.0", "description": c.description,
                    "downloads": c.downloads, "updated_at": c.updated_at.strftime("%Y-%m-%dT%H:%M:%SZ")}
                   for c in result.crates],
        "meta": {"total": result.total},
    })


def _int_arg(key: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(key)
    if raw is None:
        return default
    try:
        return max(low, min(int(raw), high))
    except ValueError:
        raise BadRequest(f"`{key}` must be a whole number") from None


@bp.get("/crates/<name>/<version>/download")
def download(name, version):
    """The exact bytes uploaded; counted per version per day."""
    state = registry()
    crate_id, crate_name, version_id, num, shared = _downloadable(name, version)
    state.downloads.record(version_id, crate_id)
    # Only a file anyone may fetch without credentials may be kept by shared caches (a proxy_cache, a CDN).
    everyone_may_read = shared and not state.settings.general.auth_required
    url = state.storage.download_url(crate_name, num)
    if url:
        response = redirect(url, code=302)
        return response if everyone_may_read else keep_private(response)
    try:
        data = state.storage.read_crate(crate_name, num)
    except FileNotFoundError:
        raise AlexandrieError(f"the file of `{crate_name}` {num} is missing from storage; "
                              "ask the registry operator to restore it", status=500) from None
    response = Response(data, mimetype="application/octet-stream", headers={
        "Content-Disposition": f'attachment; filename="{crate_name}-{num}.crate"', "Cache-Control": PUBLIC_IMMUTABLE})
    return response if everyone_may_read else keep_private(response)


def _downloadable(name: str, num: str) -> tuple:
    """(crate id, crate name, version id, version, whether the crate is unrestricted) in one prepared query
    (cargo fetches crates one after another); when there is no such row, the lookups that say which part is
    missing."""
    reader = current_reader()
    key = ("download", *reader_key(reader))
    rows = run_compiled(key, lambda name, num: (
        Version.select(Crate.id, Crate.name, Version.id, Version.num, CrateRestriction.absent()).join(Crate)
        .where((Crate.canonical_name == name) & (Version.num == num) & readable_condition(reader)).limit(1)),
        name=canonical_name(name), num=num)
    if rows:
        crate_id, crate_name, version_id, version_num, unrestricted = rows[0]
        return crate_id, crate_name, version_id, version_num, bool(unrestricted)
    crate = find_readable_crate(name, reader)
    row = crates.find_version(crate, num)
    return crate.id, crate.name, row.id, row.num, is_shared(crate)
