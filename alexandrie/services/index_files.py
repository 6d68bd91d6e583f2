"""The sparse index: versions projected into crates.io-format index files, kept in the ``index_files`` table
inside every change, and the one lookup that answers a request for a file."""

import hashlib
import json
from typing import NamedTuple

from ..db import compile_query, locked
from ..models import Crate, IndexFile, Version
from ..registry import Registry, registry
from ..rules.names import index_path
from ..rules.versions import max_version
from .visibility import is_shared, readable_condition, reader_key

TEXT = "text/plain; charset=utf-8"


def pubtime(version: Version) -> str:
    """Cargo accepts only ``YYYY-MM-DDTHH:MM:SSZ``."""
    return version.published_at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _is_new_syntax(values) -> bool:
    return any(v.startswith("dep:") or "?/" in v for v in values)


def index_entry(crate_name: str, version: Version) -> dict:
    """One index line as a dict, keys in a fixed order; ``dep:``/``?/`` features go to features2."""
    features = version.features or {}
    plain = {k: v for k, v in features.items() if not _is_new_syntax(v)}
    extended = {k: v for k, v in features.items() if _is_new_syntax(v)}
    entry = {"name": crate_name, "vers": version.num, "deps": version.deps, "cksum": version.cksum,
             "features": plain}
    if extended:
        entry["features2"] = extended
    entry.update({"yanked": bool(version.yanked), "links": version.links, "v": 2 if extended else 1,
                  "rust_version": version.rust_version, "pubtime": pubtime(version)})
    return entry


def render_index_file(crate: Crate, locking: bool = False) -> str:
    """The whole file: one compact JSON line per version, in publish order.

    ``locking`` reads the latest committed rows (FOR UPDATE), even under MySQL's repeatable read.
    """
    versions = Version.select().where(Version.crate == crate).order_by(Version.id)
    if locking:
        versions = locked(versions)
    return "".join(json.dumps(index_entry(crate.name, v), separators=(",", ":")) + "\n" for v in versions)


def etag_of(content: str) -> str:
    return '"' + hashlib.sha256(content.encode("utf-8")).hexdigest()[:40] + '"'


# --- Writing: inside the transaction of every change ------------------------------------------------------


def refresh_crate(crate: Crate, message: str) -> str:
    """Re-render one crate's file and max version; hand it to the index backend. Call inside the write transaction."""
    _lock_crate(crate)
    content = render_index_file(crate, locking=True)
    _store_index_file(crate, content)
    _refresh_max_version(crate)
    registry().index.update_crate(crate.name, content if is_shared(crate) else "", message)
    return content


def remove_crate(crate: Crate, message: str) -> None:
    """Take a crate being deleted out of every index. Call inside the write transaction."""
    IndexFile.delete().where(IndexFile.crate == crate).execute()
    registry().index.update_crate(crate.name, "", message)


def shared_files() -> dict[str, str]:
    """Index path -> content of every crate an index backend should hold: those everyone may read
    (read-restricted crates are served by the sparse index alone, which filters per reader)."""
    query = (IndexFile.select(IndexFile.path, IndexFile.content).join(Crate)
             .where(readable_condition(None) & (IndexFile.content != "")))
    return {row.path: row.content for row in query}


def _lock_crate(crate: Crate) -> None:
    """Two changes to one crate on PostgreSQL/MySQL take turns, so the second renders the first's rows
    (SQLite's write transaction already serialises every writer)."""
    if registry().database.for_update:
        list(locked(Crate.select(Crate.id).where(Crate.id == crate.id)))


def _store_index_file(crate: Crate, content: str) -> None:
    etag = etag_of(content)
    updated = (IndexFile.update(content=content, etag=etag, path=index_path(crate.name))
               .where(IndexFile.crate == crate).execute())
    # MySQL counts changed rows, not matched ones: an unchanged file also reports 0.
    if not updated and not IndexFile.select().where(IndexFile.crate == crate).exists():
        IndexFile.create(crate=crate, path=index_path(crate.name), content=content, etag=etag)


def _refresh_max_version(crate: Crate) -> None:
    live = [v.num for v in Version.select(Version.num).where((Version.crate == crate) & (Version.yanked == False))]  # noqa: E712
    crate.max_version = max_version(live) if live else None
    Crate.update(max_version=crate.max_version).where(Crate.id == crate.id).execute()


def rebuild_all(progress=None) -> int:
    """Regenerate every stored index file and the index backend from the versions table."""
    shared = {crate.id for crate in Crate.select(Crate.id).where(readable_condition(None))}
    files, count = [], 0
    for crate in Crate.select().order_by(Crate.id):
        content = render_index_file(crate)
        _store_index_file(crate, content)
        _refresh_max_version(crate)
        if crate.id in shared:
            files.append((crate.name, content))
        count += 1
        if progress:
            progress(1)
    registry().index.rebuild(files, "Rebuild the index from the database")
    return count


def config_json() -> dict:
    """The index ``config.json`` for this registry."""
    general = registry().settings.general
    config = {"dl": f"{general.public_url}/api/v1/crates/{{crate}}/{{version}}/download", "api": general.public_url}
    if general.auth_required:
        config["auth-required"] = True
    return config


# --- Reading: the one answer to a request for an index file --------------------------------------------------


class IndexAnswer(NamedTuple):
    """What to send for an index request: 200 with the file, 304, or 404. (A tuple: one is made per
    request cargo waits on, and a frozen dataclass costs several times as much to build.)"""

    status: int
    body: bytes = b""
    etag: str | None = None
    content_type: str = TEXT

    @property
    def headers(self) -> list[tuple[str, str]]:
        if self.status == 304:
            return [("ETag", self.etag), ("Cache-Control", "no-cache")]
        return [("Content-Type", self.content_type), ("Cache-Control", "no-cache"), ("ETag", self.etag),
                ("Content-Length", str(len(self.body)))]


def is_index_file_path(path: str) -> bool:
    """Cargo asks for the lowercase path of a crate's file (``se/rd/serde``) and nothing else."""
    name = path.rsplit("/", 1)[-1]
    return name == name.lower() and path == index_path(name)


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110's If-None-Match: a list of tags compared weakly (``W/"x"`` matches ``"x"``), or ``*``."""
    if not if_none_match:
        return False
    if if_none_match == etag:  # what cargo sends: the tag it was given
        return True
    if if_none_match.strip() == "*":
        return True
    opaque = etag.removeprefix("W/").strip('"')
    return any(tag.strip().removeprefix("W/").strip('"') == opaque for tag in if_none_match.split(","))


def answer_for(body: str, if_none_match: str | None, content_type: str = TEXT) -> IndexAnswer:
    """The answer for a document held in memory (``config.json``)."""
    etag = etag_of(body)
    if etag_matches(if_none_match, etag):
        return IndexAnswer(304, etag=etag)
    return IndexAnswer(200, body=body.encode("utf-8"), etag=etag, content_type=content_type)


def lookup(path: str, if_none_match: str | None, reader, state: Registry | None = None) -> IndexAnswer:
    """The file at ``path`` as ``reader`` (None: anonymous) may see it; a 304 reads only the ETag.

    Used by the Flask view and by the WSGI fast path (which passes ``state``: it runs outside an app
    context, with SQL built beforehand by ``prepare_lookup``). Cargo waits on one of these per crate
    it resolves, so the SQL is built once per reader and only run here.
    """
    if not is_index_file_path(path):
        return NOT_FOUND
    state = state or registry()
    if if_none_match:
        row = _readable_file(state, ETAG_ONLY, reader, path)
        if row is not None and etag_matches(if_none_match, row[0]):
            return IndexAnswer(304, etag=row[0])
    row = _readable_file(state, WHOLE_FILE, reader, path)
    if row is None or not row[0]:
        return NOT_FOUND
    return IndexAnswer(200, body=row[0].encode("utf-8"), etag=row[1])


NOT_FOUND = IndexAnswer(404)
ETAG_ONLY, WHOLE_FILE = (IndexFile.etag,), (IndexFile.content, IndexFile.etag)  # for a 304, for a 200


def prepare_lookup(reader=None) -> None:
    """Build the lookup's SQL for ``reader`` now (inside an app context), so it can run without one."""
    for columns in (ETAG_ONLY, WHOLE_FILE):
        _compiled(registry(), columns, reader)


def _readable_file(state: Registry, columns: tuple, reader, path: str) -> tuple | None:
    sql, slots = _compiled(state, columns, reader)
    return state.database.execute_sql(sql, [path if name else constant for name, constant in slots]).fetchone()


def _compiled(state: Registry, columns: tuple, reader) -> tuple[str, list]:
    key = ("index_file", len(columns), *reader_key(reader))
    return state.compiled_sql.get(key) or compile_query(key, lambda path: IndexFile.select(*columns).join(Crate).where(
        (IndexFile.path == path) & readable_condition(reader)).limit(1), state, "path")
