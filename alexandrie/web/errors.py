"""Errors as the client expects them: cargo's ``{"errors": [{"detail": ...}]}`` on machine paths and for
JSON clients, an HTML page for browsers."""

import logging

from flask import Flask, jsonify, make_response, render_template, request
from werkzeug.exceptions import HTTPException

from ..errors import AlexandrieError
from ..interfaces import MachinePath
from ..registry import registry

log = logging.getLogger(__name__)

CORE_MACHINE_PATHS = (MachinePath("/api/"), MachinePath("/index/"))


def machine_path(path: str) -> MachinePath | None:
    """The machine path (``/api/``, ``/index/`` or a plugin's) ``path`` lies under, or None for browser pages."""
    return next((machine for machine in registry().machine_paths if path.startswith(machine.prefix)), None)


def wants_json() -> bool:
    return machine_path(request.path) is not None or request.accept_mimetypes.best == "application/json"


def error_response(status: int, detail: str):
    """Cargo shows API errors only in the ``{"errors": [{"detail": ...}]}`` form."""
    if wants_json():
        return jsonify({"errors": [{"detail": detail}]}), status
    return render_template("error.html", status=status, detail=detail), status


def unauthorized(detail: str):
    """A 401 that cargo understands: the ``errors`` body plus a ``WWW-Authenticate`` challenge (and the
    machine path's own, such as git's ``Basic``)."""
    response = make_response(error_response(401, detail))
    response.headers["WWW-Authenticate"] = f'Cargo login_url="{registry().public_url}/me"'
    machine = machine_path(request.path)
    if machine is not None and machine.challenge:
        response.headers.add("WWW-Authenticate", machine.challenge)
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(AlexandrieError)
    def _refused(exc: AlexandrieError):
        return error_response(exc.status, exc.detail)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        detail = exc.description if exc.code != 404 else f"nothing at {request.path}"
        return error_response(exc.code or 500, detail)

    @app.errorhandler(Exception)
    def _crash(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "the registry hit an internal error; the operator can find it in the "
                                   "server log. Nothing was changed.")
