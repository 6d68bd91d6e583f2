"""The sparse index at ``/index/``: ``config.json`` and one file per crate, straight from the database."""

import json

from flask import Blueprint, Response, abort, request

from ...services.index_files import IndexAnswer, answer_for, config_json, lookup
from ..identity import current_reader

bp = Blueprint("index", __name__, url_prefix="/index")


@bp.get("/config.json")
def config():
    """The index configuration cargo reads first; never cached by cargo."""
    body = json.dumps(config_json(), separators=(",", ":"))
    return _respond(answer_for(body, request.headers.get("If-None-Match"), content_type="application/json"))


@bp.get("/<path:path>")
def crate_file(path: str):
    """One crate's file, as the reader may see it; a 304 when ``If-None-Match`` matches."""
    return _respond(lookup(path, request.headers.get("If-None-Match"), current_reader()))


def _respond(answer: IndexAnswer) -> Response:
    if answer.status == 404:
        abort(404)
    # The content type also for a 304 (werkzeug drops it from the wire), so it is not taken for a page.
    return Response(answer.body, status=answer.status, headers=answer.headers, content_type=answer.content_type,
                    direct_passthrough=True)
