"""Anonymous reads of public sparse-index files, answered below Flask.

Cargo resolves a build with one index request after another, so each request's own cost
decides how long resolution takes; Flask's request machinery is most of that cost. A GET of
an index file that carries no credentials, on a registry without ``auth_required``, needs
none of it: one query by path (only the ETag when ``If-None-Match`` is sent) answers it.
Everything else, and every miss or error, goes to the Flask app unchanged, so 404s, private
registries and restricted crates keep their single implementation.
"""

from .access import readable_condition
from .models import Crate, IndexFile
from .naming import index_path

PREFIX = "/index/"
HEADERS = [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-cache")]


class IndexFastPath:
    """WSGI middleware placed in front of ``app.wsgi_app``."""

    def __init__(self, app, wsgi_app):
        self.app, self.wsgi_app = app, wsgi_app
        self.database = app.extensions["alexandrie"].database
        self.public = not app.extensions["alexandrie"].config["general"]["auth_required"]
        with app.app_context():
            self.etag_sql = self._compile(IndexFile.etag)
            self.file_sql = self._compile(IndexFile.content, IndexFile.etag)

    @staticmethod
    def _compile(*columns) -> str:
        query = IndexFile.select(*columns).join(Crate).where((IndexFile.path == "\0") & readable_condition(None))
        sql, params = query.limit(1).sql()
        assert params == ["\0", 1], params  # the path is the only parameter (then the LIMIT)
        return sql

    def __call__(self, environ, start_response):
        path = self._public_file_path(environ)
        response = self._answer(path, environ.get("HTTP_IF_NONE_MATCH")) if path else None
        if response is None:
            return self.wsgi_app(environ, start_response)
        status, headers, body = response
        start_response(status, headers)
        return [body]

    def _public_file_path(self, environ) -> str | None:
        path = environ.get("PATH_INFO", "")
        if (not self.public or environ.get("REQUEST_METHOD") != "GET" or not path.startswith(PREFIX)
                or "HTTP_AUTHORIZATION" in environ or "HTTP_COOKIE" in environ):
            return None
        relative = path[len(PREFIX):]
        name = relative.rsplit("/", 1)[-1]
        return relative if name == name.lower() and relative == index_path(name) else None

    def _answer(self, path: str, if_none_match: str | None):
        try:
            if if_none_match and ("*" in if_none_match or "W/" in if_none_match):
                return None  # rare forms: leave their semantics to the Flask view
            if if_none_match:
                row = self._query(self.etag_sql, path)
                if row and row[0] in (tag.strip() for tag in if_none_match.split(",")):
                    return "304 Not Modified", [("ETag", row[0]), ("Cache-Control", "no-cache")], b""
            row = self._query(self.file_sql, path)
        except Exception:
            return None  # the Flask app reconnects and reports the error its usual way
        if not row or not row[0]:
            return None
        body = row[0].encode("utf-8")
        return "200 OK", [*HEADERS, ("ETag", row[1]), ("Content-Length", str(len(body)))], body

    def _query(self, sql: str, path: str):
        db = self.database
        opened = db.connect(reuse_if_open=True)
        try:
            return db.execute_sql(sql, (path, 1)).fetchone()
        finally:
            if opened and not db.in_transaction():
                db.close()
