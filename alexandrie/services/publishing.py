"""The one write path for versions. ``cargo publish``, both imports and everything else that stores a
version go through ``store_versions``: READMEs rendered before the transaction; the crate row locked,
the rows, the files and the index written inside it; one ``PublishEvent`` per published version, audited
inside the transaction and told to plugins after the commit. An import is audited once for its whole run
(``ImportEvent``, services/importing.py), not once per version."""

import hashlib
import json
import logging

import peewee

from ..auth import PUBLISH_NEW, PUBLISH_UPDATE, Identity
from ..config import GeneralSettings
from ..db import locked
from ..errors import BadRequest, Conflict, PayloadTooLarge
from ..events import PublishEvent
from ..models import (
    Crate,
    CrateKeyword,
    CrateOwner,
    Dependency,
    Keyword,
    User,
    Version,
    utcnow,
)
from ..registry import registry
from ..rules.metadata import NewVersion, policy_problems, read_metadata
from ..rules.names import canonical_name, reserved_name_problem
from ..rules.tarball import inspect_crate
from ..rules.upload import parse_upload
from ..rules.versions import without_build
from .categories import link_categories, split_categories
from .changes import change
from .crate_limits import limits_for
from .index_files import refresh_crate
from .permissions import require_permission
from .readmes import finish_later, render_within_budget
from .stored_files import forget_unreferenced

log = logging.getLogger(__name__)


def prepare(body: bytes, general: GeneralSettings) -> NewVersion:
    """Read a publish: cargo's frame and its metadata, type-checked. Nothing costly happens here: the
    tarball is looked into, and the README rendered, only once ``publish`` knows the publisher may."""
    metadata, tarball = parse_upload(body, general.max_metadata_size)
    if len(tarball) > general.max_crate_size:
        raise PayloadTooLarge(f"the .crate file is {len(tarball)} bytes; this registry accepts crates up to "
                              f"{general.max_crate_size} bytes ([general] max_crate_size): leave large files out "
                              "of the package (`exclude` in Cargo.toml) or ask an administrator to raise the limit")
    new = read_metadata(metadata, registry().settings.limits)
    new.tarball, new.cksum = tarball, hashlib.sha256(tarball).hexdigest()
    return new


def publish(identity: Identity, new: NewVersion) -> dict:
    """``cargo publish``: who may publish and what the policy allows first, then the tarball, the
    validator plugins and the store (which asks the same questions again under the crate's lock)."""
    precheck(identity, new)
    inspect_crate(new.tarball, new.name, new.vers, registry().settings.general.max_unpacked_size)
    _run_validators(identity, new)
    # As crates.io did: a category not on the registry's list is left out, and cargo prints the warning.
    new.categories, unknown = split_categories(new.categories)
    store_versions([new], identity=identity)
    return {"invalid_categories": unknown, "invalid_badges": [], "other": []}


def precheck(identity: Identity, new: NewVersion) -> None:
    """The cheap refusals, without a lock: permission (scope, ownership, read-only), a taken version, the
    crate's publish limits."""
    crate = Crate.get_or_none(Crate.canonical_name == canonical_name(new.name))
    _check_publisher(identity, crate, new.name)
    if crate is not None:
        _refuse_duplicate(crate, new)
    _refuse_over_policy(crate, new)


def _run_validators(identity: Identity, new: NewVersion) -> None:
    problems = []
    for result in registry().pm.hook.alexandrie_validate_publish(new_version=new, identity=identity):
        problems.extend([result] if isinstance(result, str) else result or [])
    if problems:
        raise BadRequest("; ".join(problems))


def store_versions(versions: list[NewVersion], *, identity: Identity | None = None, owner: User | None = None,
                   actor: str | None = None) -> bool:
    """Store checked versions of one crate as one change; True when the crate is new.

    With ``identity`` this is a publish: permissions are asked and local dependencies must exist.
    Without, an import by ``actor``, whose new crate is given to ``owner``, and whose run records one
    ``ImportEvent`` for all it stored.
    """
    readmes = [render_within_budget(new.readme, new.readme_file, new.repository) for new in versions]
    try:
        is_new = _store(versions, [r.html for r in readmes], identity, owner, actor)
    except peewee.IntegrityError:
        # Another writer created the same crate name between our look and our insert; a retry sees it.
        is_new = _store(versions, [r.html for r in readmes], identity, owner, actor)
    for new, rendered in zip(versions, readmes):
        finish_later(rendered, new.name, new.vers)
    return is_new


def _store(versions: list[NewVersion], readmes: list, identity: Identity | None, owner: User | None,
           actor: str | None) -> bool:
    storage, stored = registry().storage, []
    name = versions[0].name
    try:
        with change() as current:
            crate, is_new = _crate_for(name, identity, owner)
            for new, readme_html in zip(versions, readmes):
                _insert_version(crate, new, readme_html, identity)
            _describe_crate(crate, versions[-1])
            for new in versions:
                storage.store_crate(crate.name, new.vers, new.tarball)
                stored.append(new.vers)
            _refuse_overgrown_index(crate, refresh_crate(crate, f"Publish {crate.name} {', '.join(stored)}"),
                                    len(versions))
            who = identity.login if identity else actor
            for position, new in enumerate(versions if identity else ()):
                current.record(PublishEvent(actor=who, crate=crate.name, version=new.vers, cksum=new.cksum,
                                            new_crate=is_new and position == 0))
    except BaseException:
        _forget_files(name, stored)
        raise
    log.info("published %s %s by %s", crate.name, ", ".join(stored), who or "import")
    return is_new


def _forget_files(name: str, nums: list[str]) -> None:
    """The files of a publish that raised, unless its COMMIT reached the database (and only the answer was lost)."""
    forget_unreferenced(name, nums, after="a failed publish")


def _crate_for(name: str, identity: Identity | None, owner: User | None) -> tuple[Crate, bool]:
    crate = locked(Crate.select().where(Crate.canonical_name == canonical_name(name))).first()
    if identity is not None:
        _check_publisher(identity, crate, name)
    if crate is None:
        crate = Crate.create(name=name, canonical_name=canonical_name(name))
        owner = identity.user if identity else owner
        if owner is not None:
            CrateOwner.create(crate=crate, user=owner)
        return crate, True
    if crate.name != name:
        raise BadRequest(f"crate `{name}` is published here as `{crate.name}`; "
                         f"use `name = \"{crate.name}\"` in Cargo.toml")
    return crate, False


def _check_publisher(identity: Identity, crate: Crate | None, name: str) -> None:
    """A new crate needs PUBLISH_NEW and a name that is not reserved; a new version, PUBLISH_UPDATE."""
    if crate is not None:
        require_permission(identity, PUBLISH_UPDATE, crate)
        return
    require_permission(identity, PUBLISH_NEW, None)
    problem = reserved_name_problem(name)
    if problem:
        raise BadRequest(problem)


def _refuse_over_policy(crate: Crate | None, new: NewVersion) -> None:
    problems = policy_problems(new, limits_for(crate), crate_exists=crate is not None)
    if problems:
        raise BadRequest("; ".join(problems))


def _refuse_overgrown_index(crate: Crate, content: str, added: int) -> None:
    """The safety caps, for every way in: no line, file or version count past ``[limits]``."""
    limits = registry().settings.limits
    lines = content.splitlines()
    if len(lines) > limits.max_versions:
        raise BadRequest(f"crate `{crate.name}` would have {len(lines)} versions; this registry stores at most "
                         f"{limits.max_versions} per crate ([limits] max_versions, a safety cap no crate is "
                         "exempt from): ask an administrator to raise it in alexandrie.toml")
    longest = max(lines[-added:], key=lambda line: len(line.encode()), default="")
    if len(longest.encode()) > limits.max_index_line:
        version = json.loads(longest)["vers"]
        raise PayloadTooLarge(f"the index entry of `{crate.name}` {version} is {len(longest.encode())} bytes; this "
                              f"registry stores at most {limits.max_index_line} ([limits] max_index_line): list "
                              "fewer features or dependencies, or ask an administrator to raise it in alexandrie.toml")
    size = len(content.encode())
    if size > limits.max_index_file:
        raise PayloadTooLarge(f"the index file of `{crate.name}` would be {size} bytes; this registry stores at "
                              f"most {limits.max_index_file} ([limits] max_index_file) for all of a crate's "
                              "versions together: ask an administrator to raise it in alexandrie.toml")


def _insert_version(crate: Crate, new: NewVersion, readme_html: str | None, identity: Identity | None) -> None:
    _refuse_duplicate(crate, new)
    if identity is not None:
        _refuse_over_policy(crate, new)
        _refuse_missing_local_deps(new)
    version = Version.create(
        crate=crate, num=new.vers, num_unique=without_build(new.vers), cksum=new.cksum, deps=new.deps,
        features=new.features, links=new.links, rust_version=new.rust_version, yanked=new.yanked,
        published_at=new.published_at or utcnow(), published_by=identity.user if identity else None,
        size=len(new.tarball), description=new.description, license=new.license, license_file=new.license_file,
        homepage=new.homepage, documentation=new.documentation, repository=new.repository, authors=new.authors,
        keywords=new.keywords, categories=new.categories, badges=new.badges, readme=new.readme,
        readme_file=new.readme_file, readme_html=readme_html)
    _insert_dependencies(version, new.deps)


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
    """Index-form dependencies; lines another registry wrote may leave out keys that have defaults."""
    rows = [{"version": version, "crate_name": canonical_name(d.get("package") or d["name"]),
             "req": d.get("req", "*"), "kind": d.get("kind") or "normal", "optional": bool(d.get("optional")),
             "target": d.get("target"), "registry": d.get("registry")} for d in deps]
    if rows:
        Dependency.insert_many(rows).execute()


def _describe_crate(crate: Crate, latest: NewVersion) -> None:
    """The crate's description, links, keywords and categories follow its latest stored version."""
    Crate.update(description=latest.description, homepage=latest.homepage, documentation=latest.documentation,
                 repository=latest.repository, license=latest.license, updated_at=utcnow()
                 ).where(Crate.id == crate.id).execute()
    CrateKeyword.delete().where(CrateKeyword.crate == crate).execute()
    for word in dict.fromkeys(latest.keywords):
        keyword = Keyword.get_or_none(Keyword.name == word) or Keyword.create(name=word)
        CrateKeyword.create(crate=crate, keyword=keyword)
    # An import keeps every category on the version, as the other registry accepted it; only listed ones link.
    link_categories(crate, latest.categories)
