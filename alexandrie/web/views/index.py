"""The sparse index at ``/index/``: ``config.json`` and one file per crate, straight from the database."""

import json

from flask import Blueprint, Response, abort, request

from ...registry import registry
from ...services.index_files import IndexAnswer, answer_for, config_json, lookup
from ..identity import current_reader

bp = Blueprint("index", __name__, url_prefix="/index")


@bp.get("/config.json")
def config():
    """The index configuration cargo reads first; never cached by cargo."""
    body = json.dumps(config_json(), separators=(",", ":"))
    return _respond(answer_for(body, request.headers.get("If-None-Match"), content_type="application/json"))


@bp.get("/info/refs")
def git_discovery():
    """What cargo asks first when ``index`` lacks ``sparse+``: it takes the URL for a git index. Git clients
    print no body of an HTTP error, only an ``ERR`` line of their own protocol, so the hint is one of those."""
    return Response(_git_error(_sparse_index_hint()), content_type="application/x-git-upload-pack-advertisement")


def _sparse_index_hint() -> str:
    general = registry().settings.general
    return (f'this is a sparse index: write `index = "sparse+{general.public_url}/index/"` under '
            f"[registries.{general.registry_name}] in .cargo/config.toml")


def _git_error(message: str) -> bytes:
    """A git upload-pack advertisement whose first reference line is an error (pkt-lines: 4 hex digits of
    length, then the data; ``0000`` ends a section)."""
    return _pkt_line("# service=git-upload-pack\n") + b"0000" + _pkt_line(f"ERR {message}")


def _pkt_line(text: str) -> bytes:
    data = text.encode()
    return b"%04x" % (len(data) + 4) + data


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
