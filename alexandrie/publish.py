"""Publishing: parse cargo's upload, check it, then store it in one transaction."""

import hashlib
import json
import logging
import struct

import peewee
from flask import current_app

from .auth import Identity, require_permission
from .errors import BadRequest, Conflict, PayloadTooLarge
from .events import PublishEvent
from .index_files import refresh_crate
from .metadata import CATEGORY, NewVersion, read_metadata
from .models import (Category, Crate, CrateCategory, CrateKeyword, CrateOwner, Dependency, Keyword, User,
                     Version, utcnow)
from .naming import canonical_name
from .notify import fire_event
from .db import locked, write_transaction
from .tarball import inspect_crate
from .versions import without_build

log = logging.getLogger(__name__)


def max_upload_size(general: dict) -> int:
    """The largest publish body worth reading: cargo's frame is 8 length bytes, the metadata and the crate."""
    return general["max_crate_size"] + general["max_metadata_size"] + 8


def upload_too_large(size: int | None, general: dict) -> PayloadTooLarge:
    limit = f"this registry's limit of {general['max_crate_size']} bytes per crate ([general] max_crate_size)"
    if size is None:
        return PayloadTooLarge(f"the upload is larger than {limit}")
    return PayloadTooLarge(f"the upload is {size} bytes, over {limit}")


def parse_upload(body: bytes, max_metadata: int) -> tuple[object, bytes]:
    """Split cargo's framing: u32-LE JSON length, JSON, u32-LE tarball length, tarball."""
    json_length = _read_length(body, 0, "metadata")
    if json_length > max_metadata:
        raise PayloadTooLarge(f"the publish metadata is {json_length} bytes; the limit is {max_metadata}")
    _require_bytes(body, 4, json_length, "metadata")
    try:
        metadata = json.loads(body[4:4 + json_length].decode("utf-8"))
        # JSON escapes can smuggle in lone surrogates, which no database can store.
        json.dumps(metadata, ensure_ascii=False).encode("utf-8")
    except (UnicodeError, ValueError, RecursionError) as exc:
        raise BadRequest(f"the publish metadata is not valid UTF-8 JSON: {exc}") from exc
    offset = 4 + json_length
    tar_length = _read_length(body, offset, "crate file")
    _require_bytes(body, offset + 4, tar_length, "crate file")
    if offset + 4 + tar_length != len(body):
        raise BadRequest(f"the upload has {len(body) - offset - 4 - tar_length} unexpected bytes after the crate file")
    return metadata, body[offset + 4:]


def _read_length(body: bytes, offset: int, what: str) -> int:
    if len(body) < offset + 4:
        raise BadRequest(f"the upload is truncated: it ends before the length of the {what}; "
                         "publish with `cargo publish`")
    return struct.unpack_from("<I", body, offset)[0]


def _require_bytes(body: bytes, start: int, length: int, what: str) -> None:
    if start + length > len(body):
        raise BadRequest(f"the upload is truncated: the {what} is said to be {length} bytes, "
                         f"but only {len(body) - start} follow")


def prepare(body: bytes) -> NewVersion:
    """Everything that can be checked without the database."""
    limits = current_app.extensions["alexandrie"].config["general"]
    metadata, tarball = parse_upload(body, limits["max_metadata_size"])
    if len(tarball) > limits["max_crate_size"]:
        raise PayloadTooLarge(f"the .crate file is {len(tarball)} bytes; this registry accepts crates up to "
                              f"{limits['max_crate_size']} bytes ([general] max_crate_size)")
    new = read_metadata(metadata)
    inspect_crate(tarball, new.name, new.vers, limits["max_unpacked_size"])
    new.tarball, new.cksum = tarball, hashlib.sha256(tarball).hexdigest()
    return new


def publish(identity: Identity, new: NewVersion) -> dict:
    """Vet, store and index one version; fire the event once it is committed. Returns cargo's warnings."""
    _run_validators(identity, new)
    warnings = {"invalid_categories": [c for c in new.categories if not CATEGORY.fullmatch(c)],
                "invalid_badges": [], "other": []}
    new.categories = [c for c in new.categories if CATEGORY.fullmatch(c)]
    is_new = store_version(new, identity)
    fire_event(PublishEvent(crate=new.name, actor=identity.login, version=new.vers, cksum=new.cksum,
                            new_crate=is_new))
    return warnings


def store_version(new: NewVersion, identity: Identity | None, owner: User | None = None) -> bool:
    """Store a checked version; ``identity`` None skips permission checks (imports). True for a new crate."""
    readme_html = render_readme(new.readme, new.readme_file, new.repository)
    try:
        return _store(identity, owner, new, readme_html)
    except peewee.IntegrityError:
        # Another publish created the same crate name between our check and insert; retry sees it.
        return _store(identity, owner, new, readme_html)


def _run_validators(identity: Identity, new: NewVersion) -> None:
    pm = current_app.extensions["alexandrie"].pm
    problems = []
    for result in pm.hook.alexandrie_validate_publish(new_version=new, identity=identity):
        problems.extend([result] if isinstance(result, str) else result or [])
    if problems:
        raise BadRequest("; ".join(problems))


def render_readme(text: str | None, filename: str | None, repository: str | None) -> str | None:
    if not text:
        return None
    pm = current_app.extensions["alexandrie"].pm
    return pm.hook.alexandrie_render_readme(text=text, filename=filename, repository=repository)


def _store(identity: Identity | None, owner: User | None, new: NewVersion, readme_html: str | None) -> bool:
    storage = current_app.extensions["alexandrie"].storage
    stored = False
    try:
        with write_transaction():
            crate, is_new = _crate_for(identity, owner, new)
            _insert_version(identity, crate, new, readme_html)
            _link_keywords_and_categories(crate, new)
            storage.store_crate(new.name, new.vers, new.tarball)
            stored = True
            refresh_crate(crate, f"Publish {new.name} {new.vers}")
            log.info("published %s %s (%d bytes) by %s", new.name, new.vers, len(new.tarball),
                     identity.login if identity else "import")
            return is_new
    except BaseException:
        if stored:
            _forget_file(storage, new)
        raise


def _forget_file(storage, new: NewVersion) -> None:
    try:
        storage.delete_crate(new.name, new.vers)
    except Exception:
        log.exception("could not remove %s %s from storage after a failed publish", new.name, new.vers)


def _crate_for(identity: Identity | None, owner: User | None, new: NewVersion) -> tuple[Crate, bool]:
    crate = locked(Crate.select().where(Crate.canonical_name == canonical_name(new.name))).first()
    if crate is None:
        if identity is not None:
            require_permission(identity, "publish-new", None)
        crate = Crate.create(name=new.name, canonical_name=canonical_name(new.name))
        owner = identity.user if identity else owner
        if owner is not None:
            CrateOwner.create(crate=crate, user=owner)
        return crate, True
    if identity is not None:
        require_permission(identity, "publish-update", crate)
    if crate.name != new.name:
        raise BadRequest(f"crate `{new.name}` is published here as `{crate.name}`; "
                         f"use `name = \"{crate.name}\"` in Cargo.toml")
    return crate, False


def _insert_version(identity: Identity | None, crate: Crate, new: NewVersion, readme_html: str | None) -> Version:
    _refuse_duplicate(crate, new)
    if identity is not None:
        _refuse_missing_local_deps(new)
    now = utcnow()
    version = Version.create(
        crate=crate, num=new.vers, num_unique=without_build(new.vers), cksum=new.cksum, deps=new.deps,
        features=new.features, links=new.links, rust_version=new.rust_version, published_at=now,
        published_by=identity.user if identity else None, size=len(new.tarball), description=new.description, license=new.license,
        license_file=new.license_file, homepage=new.homepage, documentation=new.documentation,
        repository=new.repository, authors=new.authors, keywords=new.keywords, categories=new.categories,
        badges=new.badges, readme=new.readme, readme_file=new.readme_file, readme_html=readme_html)
    _insert_dependencies(version, new.deps)
    Crate.update(description=new.description, homepage=new.homepage, documentation=new.documentation,
                 repository=new.repository, license=new.license, updated_at=now).where(Crate.id == crate.id).execute()
    return version


def _refuse_duplicate(crate: Crate, new: NewVersion) -> None:
    existing = Version.get_or_none((Version.crate == crate) & (Version.num_unique == without_build(new.vers)))
    if existing is None:
        return
    if existing.num == new.vers:
        raise Conflict(f"crate `{crate.name}` version {new.vers} is already published; "
                       "bump the version in Cargo.toml and publish again")
    raise Conflict(f"version {new.vers} differs from the published {existing.num} only by build metadata, "
                   "which cargo ignores; bump the version instead")


def _refuse_missing_local_deps(new: NewVersion) -> None:
    local = {canonical_name(d["package"] or d["name"]): d for d in new.deps if d["registry"] is None}
    if not local:
        return
    known = {c.canonical_name for c in Crate.select(Crate.canonical_name).where(Crate.canonical_name.in_(list(local)))}
    missing = sorted(set(local) - known - {canonical_name(new.name)})
    if missing:
        names = ", ".join(f"`{local[m]['package'] or local[m]['name']}`" for m in missing)
        raise BadRequest(f"dependencies {names} are not published on this registry; publish them first, "
                         "or point them at the registry they come from")


def _insert_dependencies(version: Version, deps: list[dict]) -> None:
    rows = [{"version": version, "crate_name": canonical_name(d["package"] or d["name"]), "req": d["req"],
             "kind": d["kind"], "optional": d["optional"], "target": d["target"], "registry": d["registry"]}
            for d in deps]
    if rows:
        Dependency.insert_many(rows).execute()


def _link_keywords_and_categories(crate: Crate, new: NewVersion) -> None:
    CrateKeyword.delete().where(CrateKeyword.crate == crate).execute()
    for word in dict.fromkeys(new.keywords):
        keyword = Keyword.get_or_none(Keyword.name == word) or Keyword.create(name=word)
        CrateKeyword.create(crate=crate, keyword=keyword)
    CrateCategory.delete().where(CrateCategory.crate == crate).execute()
    for slug in dict.fromkeys(new.categories):
        category = Category.get_or_none(Category.slug == slug) or Category.create(slug=slug, name=slug)
        CrateCategory.create(crate=crate, category=category)
