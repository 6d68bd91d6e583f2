"""Anonymous reads of public sparse-index files, answered below Flask.

Cargo resolves a build with one index request after another, so each request's own cost
decides how long resolution takes; Flask's request machinery is most of that cost. A GET of
an index file that carries no credentials, on a registry without ``auth_required``, needs
none of it. The answer comes from the same ``index_files.lookup`` as the Flask view's; every
miss, and every failure (logged), goes to the Flask app unchanged, so 404s, private registries
and restricted crates keep their single implementation. What it answers, anyone may read: its
``Cache-Control: no-cache`` lets a shared cache keep it (and revalidate it), as the view's does.
"""

import logging

from ..registry import registry
from ..services.index_files import lookup, prepare_lookup
from .caching import NOSNIFF

log = logging.getLogger(__name__)

PREFIX = "/index/"
REASONS = {200: "200 OK", 304: "304 Not Modified"}


class IndexFastPath:
    """WSGI middleware placed in front of ``app.wsgi_app``."""

    def __init__(self, app, wsgi_app):
        self.wsgi_app = wsgi_app
        self.state = registry(app)
        self.public = not self.state.settings.general.auth_required
        # With browser sessions the view's answer depends on the cookie (a signed-in user may read
        # restricted crates), and Flask says so; this door must answer exactly as that one does.
        vary = [("Vary", "Cookie")] if self.state.settings.frontend.enabled else []
        self.extra_headers = [*vary, NOSNIFF]
        with app.app_context():
            prepare_lookup(reader=None)

    def __call__(self, environ, start_response):
        path = self._public_file_path(environ)
        answer = self._answer(path, environ.get("HTTP_IF_NONE_MATCH")) if path else None
        if answer is None or answer.status not in REASONS:
            return self.wsgi_app(environ, start_response)
        start_response(REASONS[answer.status], [*answer.headers, *self.extra_headers])
        return [answer.body]

    def _public_file_path(self, environ) -> str | None:
        path = environ.get("PATH_INFO", "")
        if (not self.public or environ.get("REQUEST_METHOD") != "GET" or not path.startswith(PREFIX)
                or "HTTP_AUTHORIZATION" in environ or "HTTP_COOKIE" in environ):
            return None
        return path[len(PREFIX):]

    def _answer(self, path: str, if_none_match: str | None):
        db = self.state.database
        try:
            opened = db.connect(reuse_if_open=True)
            try:
                return lookup(path, if_none_match, None, state=self.state)
            finally:
                if opened and not db.in_transaction():
                    db.close()
        except Exception:
            log.exception("the index fast path failed on /index/%s; the Flask view answers instead", path)
            return None
