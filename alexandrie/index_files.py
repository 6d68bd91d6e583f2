"""Project versions from the database into crates.io-format index lines and files."""

import hashlib
import json

from flask import current_app

from .db import locked
from .models import Crate, CrateRestriction, IndexFile, Version
from .naming import index_path
from .versions import max_version

CRATES_IO_INDEX = "https://github.com/rust-lang/crates.io-index"


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


def refresh_crate(crate: Crate, message: str) -> str:
    """Re-render one crate's file and max version; hand it to the index backend. Call inside the write transaction."""
    _lock_crate(crate)
    content = render_index_file(crate, locking=True)
    _store_index_file(crate, content)
    _refresh_max_version(crate)
    shared = content if _is_shared(crate) else ""
    current_app.extensions["alexandrie"].index.update_crate(crate.name, shared, message)
    return content


def _is_shared(crate: Crate) -> bool:
    """Index backends keep one copy for every reader, so they hold only crates everyone may read
    (read-restricted crates are served by the sparse index alone, which filters per reader)."""
    return Crate.select().where((Crate.id == crate.id) & CrateRestriction.absent()).exists()


def shared_files() -> dict[str, str]:
    """Index path -> content of every crate an index backend should hold (see ``_is_shared``)."""
    query = (IndexFile.select(IndexFile.path, IndexFile.content).join(Crate)
             .where(CrateRestriction.absent() & (IndexFile.content != "")))
    return {row.path: row.content for row in query}


def _lock_crate(crate: Crate) -> None:
    """Two changes to one crate on PostgreSQL/MySQL take turns, so the second renders the first's rows
    (SQLite's write transaction already serialises every writer)."""
    if current_app.extensions["alexandrie"].database.for_update:
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
    shared = {crate.id for crate in Crate.select(Crate.id).where(CrateRestriction.absent())}
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
    current_app.extensions["alexandrie"].index.rebuild(files, "Rebuild the index from the database")
    return count


def config_json() -> dict:
    """The index ``config.json`` for this registry."""
    general = current_app.extensions["alexandrie"].config["general"]
    public_url = general["public_url"]
    config = {"dl": f"{public_url}/api/v1/crates/{{crate}}/{{version}}/download", "api": public_url}
    if general["auth_required"]:
        config["auth-required"] = True
    return config
