"""Database tables: the single source of truth that every index format is projected from."""

import json
from datetime import UTC, datetime

import peewee
from flask_login import UserMixin

from .db import BaseModel, BigTextField


def utcnow() -> datetime:
    """Naive UTC, the form stored in every DateTimeField."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


class JSONField(BigTextField):
    """JSON stored as text, portable to every supported database."""

    def db_value(self, value):
        return None if value is None else json.dumps(value, separators=(",", ":"))

    def python_value(self, value):
        return None if value is None else json.loads(value)


class Setting(BaseModel):
    """Registry-wide key/value state shared by every instance (schema version, session secret)."""

    key = peewee.CharField(max_length=64, primary_key=True)
    value = peewee.TextField()


def login_key(login: str) -> str:
    """What makes two logins the same: their case is ignored, as on crates.io and GitHub."""
    return login.lower()


class User(UserMixin, BaseModel):
    login = peewee.CharField(max_length=64, unique=True)  # as its owner spells it
    login_key = peewee.CharField(max_length=64, unique=True)  # login_key(login), set by save()
    name = peewee.CharField(max_length=128, null=True)
    email = peewee.CharField(max_length=254, null=True)
    password_hash = peewee.CharField(max_length=256, null=True)
    is_admin = peewee.BooleanField(default=False)
    is_active_account = peewee.BooleanField(default=True)
    is_read_only = peewee.BooleanField(default=False)  # may read and download, never publish
    created_at = peewee.DateTimeField(default=utcnow)
    # Stored in each browser session at sign-in; bumping it ends every session signed in before.
    session_version = peewee.IntegerField(default=0, constraints=[peewee.SQL("DEFAULT 0")])

    @property
    def is_active(self):
        return self.is_active_account

    def save(self, *args, **kwargs):
        self.login_key = login_key(self.login)
        return super().save(*args, **kwargs)


class ApiToken(BaseModel):
    """An API token; only its SHA-256 is stored."""

    user = peewee.ForeignKeyField(User, backref="tokens", on_delete="CASCADE")
    label = peewee.CharField(max_length=128)
    token_hash = peewee.CharField(max_length=64, unique=True)
    created_at = peewee.DateTimeField(default=utcnow)
    last_used_at = peewee.DateTimeField(null=True)
    revoked_at = peewee.DateTimeField(null=True)
    # Null means unrestricted (tokens made before scopes existed behave as before).
    scopes = JSONField(null=True)  # e.g. ["read", "publish-update"]
    crate_patterns = JSONField(null=True)  # e.g. ["my-team-*"]
    expires_at = peewee.DateTimeField(null=True)


class Crate(BaseModel):
    name = peewee.CharField(max_length=64)
    canonical_name = peewee.CharField(max_length=64, unique=True)
    description = peewee.TextField(null=True)
    homepage = peewee.TextField(null=True)
    documentation = peewee.TextField(null=True)
    repository = peewee.TextField(null=True)
    license = peewee.TextField(null=True)
    max_version = peewee.CharField(max_length=160, null=True)
    downloads = peewee.BigIntegerField(default=0, index=True)
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow, index=True)
    limit_overrides = peewee.TextField(null=True)  # JSON object set by an admin, e.g. {"max_features": 2000}


class CrateOwner(BaseModel):
    crate = peewee.ForeignKeyField(Crate, backref="owner_links", on_delete="CASCADE")
    user = peewee.ForeignKeyField(User, backref="crate_links", on_delete="CASCADE")
    added_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("crate", "user"), True),)


class Version(BaseModel):
    """One published version, with every field its index line needs."""

    crate = peewee.ForeignKeyField(Crate, backref="versions", on_delete="CASCADE")
    num = peewee.CharField(max_length=160)
    num_unique = peewee.CharField(max_length=160)  # without +build: twins are refused
    cksum = peewee.CharField(max_length=64)
    deps = JSONField()
    features = JSONField()
    links = peewee.TextField(null=True)
    rust_version = peewee.CharField(max_length=32, null=True)
    yanked = peewee.BooleanField(default=False)
    published_at = peewee.DateTimeField(default=utcnow)
    published_by = peewee.ForeignKeyField(User, null=True, on_delete="SET NULL")
    size = peewee.IntegerField(default=0)
    downloads = peewee.BigIntegerField(default=0)
    description = peewee.TextField(null=True)
    license = peewee.TextField(null=True)
    license_file = peewee.TextField(null=True)
    homepage = peewee.TextField(null=True)
    documentation = peewee.TextField(null=True)
    repository = peewee.TextField(null=True)
    authors = JSONField(default=list)
    keywords = JSONField(default=list)
    categories = JSONField(default=list)
    badges = JSONField(default=dict)
    readme = BigTextField(null=True)
    readme_file = peewee.TextField(null=True)
    readme_html = BigTextField(null=True)

    class Meta:
        indexes = ((("crate", "num_unique"), True),)


class Dependency(BaseModel):
    """One dependency of a version, searchable for reverse dependencies."""

    version = peewee.ForeignKeyField(Version, backref="dependencies", on_delete="CASCADE")
    crate_name = peewee.CharField(max_length=64, index=True)  # canonical name of the real package
    req = peewee.TextField()
    kind = peewee.CharField(max_length=8, default="normal")
    optional = peewee.BooleanField(default=False)
    target = peewee.TextField(null=True)  # real cfg expressions pass 400 characters
    registry = peewee.TextField(null=True)


class Keyword(BaseModel):
    name = peewee.CharField(max_length=32, unique=True)


class CrateKeyword(BaseModel):
    crate = peewee.ForeignKeyField(Crate, backref="keyword_links", on_delete="CASCADE")
    keyword = peewee.ForeignKeyField(Keyword, backref="crate_links", on_delete="CASCADE")

    class Meta:
        indexes = ((("crate", "keyword"), True),)


class Category(BaseModel):
    slug = peewee.CharField(max_length=64, unique=True)
    name = peewee.CharField(max_length=128)
    description = peewee.TextField(null=True)


class CrateCategory(BaseModel):
    crate = peewee.ForeignKeyField(Crate, backref="category_links", on_delete="CASCADE")
    category = peewee.ForeignKeyField(Category, backref="crate_links", on_delete="CASCADE")

    class Meta:
        indexes = ((("crate", "category"), True),)


class VersionDownload(BaseModel):
    """Downloads of one version on one UTC day."""

    version = peewee.ForeignKeyField(Version, backref="daily_downloads", on_delete="CASCADE")
    day = peewee.DateField()
    count = peewee.BigIntegerField(default=0)

    class Meta:
        indexes = ((("version", "day"), True),)


class IndexFile(BaseModel):
    """The rendered sparse-index file of one crate, kept in step with its versions."""

    crate = peewee.ForeignKeyField(Crate, unique=True, on_delete="CASCADE")
    path = peewee.CharField(max_length=80, unique=True)
    content = BigTextField()
    etag = peewee.CharField(max_length=80)


class UserGroup(BaseModel):
    """A named set of users that can be given read access to restricted crates."""

    name = peewee.CharField(max_length=64, unique=True)
    created_at = peewee.DateTimeField(default=utcnow)


class UserGroupMember(BaseModel):
    group = peewee.ForeignKeyField(UserGroup, backref="members", on_delete="CASCADE")
    user = peewee.ForeignKeyField(User, backref="group_links", on_delete="CASCADE")

    class Meta:
        indexes = ((("group", "user"), True),)


class CrateGroupOwner(BaseModel):
    """A group owning a crate, as a GitHub team owns one on crates.io: its members, whoever they are at the
    time, may publish and yank; only user owners (``CrateOwner``) may change the owners."""

    crate = peewee.ForeignKeyField(Crate, backref="group_owner_links", on_delete="CASCADE")
    group = peewee.ForeignKeyField(UserGroup, backref="owned_crate_links", on_delete="CASCADE")
    added_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("crate", "group"), True),)


class CrateRestriction(BaseModel):
    """A crate readable only by its owners, its readers and admins; absent for everyone else."""

    crate = peewee.ForeignKeyField(Crate, unique=True, backref="restriction", on_delete="CASCADE")
    created_at = peewee.DateTimeField(default=utcnow)

    @classmethod
    def absent(cls):
        """A condition on ``Crate`` rows: the crate is readable by everyone who can use the registry."""
        return ~peewee.fn.EXISTS(cls.select().where(cls.crate == Crate.id))


class CrateReader(BaseModel):
    """A user or a group (exactly one is set) allowed to read a restricted crate."""

    crate = peewee.ForeignKeyField(Crate, backref="reader_links", on_delete="CASCADE")
    user = peewee.ForeignKeyField(User, null=True, backref="readable_links", on_delete="CASCADE")
    group = peewee.ForeignKeyField(UserGroup, null=True, backref="readable_links", on_delete="CASCADE")

    class Meta:
        indexes = ((("crate", "user", "group"), True),)


class AuditEvent(BaseModel):
    """Append-only record of security-relevant actions; nothing in the product updates or deletes rows."""

    created_at = peewee.DateTimeField(default=utcnow, index=True)
    action = peewee.CharField(max_length=32, index=True)
    actor = peewee.CharField(max_length=64, null=True)  # login, kept even if the user is deleted
    token_id = peewee.IntegerField(null=True)
    ip = peewee.CharField(max_length=64, null=True)
    crate = peewee.CharField(max_length=64, null=True)
    version = peewee.CharField(max_length=160, null=True)
    details = JSONField(null=True)

    @classmethod
    def update(cls, *args, **kwargs):
        raise TypeError("the audit log is append-only")

    @classmethod
    def delete(cls):
        raise TypeError("the audit log is append-only")

    def save(self, *args, **kwargs):
        if self.id is not None:
            raise TypeError("the audit log is append-only")
        return super().save(*args, **kwargs)


class RateLimitCounter(BaseModel):
    """Rate-limit counters shared by every instance when ``[rate_limits] storage = "alexandrie-db://"``."""

    key = peewee.CharField(max_length=255, primary_key=True)
    count = peewee.IntegerField(default=0)
    expires_at = peewee.DoubleField(index=True)  # Unix time


MODELS = [Setting, User, ApiToken, Crate, CrateOwner, Version, Dependency, Keyword, CrateKeyword,
          Category, CrateCategory, VersionDownload, IndexFile, UserGroup, UserGroupMember, CrateGroupOwner,
          CrateRestriction, CrateReader, AuditEvent, RateLimitCounter]
