"""The sparse index at ``/index/``: ``config.json`` and one file per crate, straight from the database."""

import json

from flask import Blueprint, Response, abort, request

from ..access import current_reader, readable_condition
from ..db import run_compiled
from ..index_files import config_json, etag_of
from ..models import Crate, IndexFile
from ..naming import index_path

bp = Blueprint("index", __name__, url_prefix="/index")

HEADERS = {"Cache-Control": "no-cache", "Content-Type": "text/plain; charset=utf-8"}


@bp.get("/config.json")
def config():
    """The index configuration cargo reads first; never cached by cargo."""
    body = json.dumps(config_json(), separators=(",", ":"))
    return _respond(body, etag_of(body), content_type="application/json")


@bp.get("/<path:path>")
def crate_file(path: str):
    """One crate's file; a 304 when ``If-None-Match`` matches, without reading the content."""
    name = path.rsplit("/", 1)[-1]
    if path != index_path(name) or name != name.lower():
        abort(404)
    if request.if_none_match:
        row = _readable_file(path, IndexFile.etag)
        if row is not None and request.if_none_match.contains(row[0].strip('"')):
            return Response(status=304, headers={"ETag": row[0], "Cache-Control": "no-cache"})
    row = _readable_file(path, IndexFile.content, IndexFile.etag)
    if row is None or not row[0]:
        abort(404)
    return _respond(*row)


def _readable_file(path: str, *columns) -> tuple | None:
    """``columns`` of the file at ``path`` when the current reader may see its crate; None otherwise."""
    reader = current_reader()
    key = ("index_file", *(c.name for c in columns), reader.id if reader else None, bool(reader and reader.is_admin))
    rows = run_compiled(key, lambda path: IndexFile.select(*columns).join(Crate).where(
        (IndexFile.path == path) & readable_condition(reader)).limit(1), path=path)
    return rows[0] if rows else None


def _respond(body: str, etag: str, content_type: str = HEADERS["Content-Type"]) -> Response:
    if request.if_none_match.contains(etag.strip('"')):
        return Response(status=304, headers={"ETag": etag, "Cache-Control": "no-cache"})
    return Response(body, headers={**HEADERS, "Content-Type": content_type, "ETag": etag})
