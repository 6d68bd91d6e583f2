"""Crate storage in MinIO or any S3-compatible object store, through the ``minio`` client."""

import hashlib
import io
import os
from datetime import timedelta

import certifi
import urllib3
from minio import Minio
from minio.error import MinioException, S3Error

from alexandrie import BackendSpec, ConfigError, Storage, StorageUnavailable, hookimpl

MISSING_CODES = {"NoSuchKey", "NoSuchObject", "NotFound"}
ACCESS_KEY_VARS = ("ALEXANDRIE_S3_ACCESS_KEY", "AWS_ACCESS_KEY_ID")
SECRET_KEY_VARS = ("ALEXANDRIE_S3_SECRET_KEY", "AWS_SECRET_ACCESS_KEY")
REGION_VARS = ("AWS_REGION", "AWS_DEFAULT_REGION")


class MinioStorage(Storage):
    """One object per version at ``PREFIX<first two letters>/<name>/<name>-<version>.crate`` (lowercase).

    S3 PUTs are atomic, so readers see the whole old object or the whole new one.
    """

    def __init__(self, client: Minio, bucket: str, prefix: str = "", *, endpoint: str = "",
                 presigned_client: Minio | None = None, presigned_expiry: int = 300):
        self.client, self.bucket, self.endpoint = client, bucket, endpoint
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.presigned_client = presigned_client
        self.presigned_expiry = presigned_expiry

    def key_of(self, name: str, version: str) -> str:
        lower = name.lower()
        if "/" in version or "\\" in version or version.startswith("."):
            raise ValueError(f"unsafe version {version!r}")
        return f"{self.prefix}{lower[:2]}/{lower}/{lower}-{version}.crate"

    def store_crate(self, name, version, data):
        digest = hashlib.sha256(data).hexdigest()
        with self._reaching("store", name, version):
            self.client.put_object(self.bucket, self.key_of(name, version), io.BytesIO(data), len(data),
                                   content_type="application/gzip", metadata={"sha256": digest})

    def open_crate(self, name, version):
        with self._reaching("read", name, version):
            try:
                response = self.client.get_object(self.bucket, self.key_of(name, version))
            except S3Error as exc:
                if exc.code in MISSING_CODES:
                    raise FileNotFoundError(f"s3://{self.bucket}/{self.key_of(name, version)}") from None
                raise
            try:
                return io.BytesIO(response.read())
            finally:
                response.close()
                response.release_conn()

    def delete_crate(self, name, version):
        with self._reaching("delete", name, version):
            self.client.remove_object(self.bucket, self.key_of(name, version))

    def crate_exists(self, name, version):
        with self._reaching("check", name, version):
            try:
                self.client.stat_object(self.bucket, self.key_of(name, version))
            except S3Error as exc:
                if exc.code in MISSING_CODES:
                    return False
                raise
            return True

    def iter_crates(self):
        for obj in self.client.list_objects(self.bucket, prefix=self.prefix, recursive=True):
            parts = obj.object_name[len(self.prefix):].split("/")
            if len(parts) == 3 and parts[2].startswith(parts[1] + "-") and parts[2].endswith(".crate"):
                yield parts[1], parts[2][len(parts[1]) + 1:-len(".crate")]

    def download_url(self, name, version):
        """A short-lived presigned GET: cargo sends no token to another host, and this needs none."""
        if self.presigned_client is None:
            return None
        return self.presigned_client.presigned_get_object(
            self.bucket, self.key_of(name, version), expires=timedelta(seconds=self.presigned_expiry))

    def check(self):
        if not self.client.bucket_exists(self.bucket):
            raise OSError(f"bucket {self.bucket!r} does not exist")

    def _reaching(self, action: str, name: str, version: str):
        return _Unreachable(self, action, name, version)


class _Unreachable:
    """Turns network failures into a 503 that tells the user nothing changed and to retry."""

    def __init__(self, storage: MinioStorage, action: str, name: str, version: str):
        self.storage, self.action, self.what = storage, action, f"`{name}` {version}"

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if exc is None or isinstance(exc, (FileNotFoundError, S3Error)):
            return False
        if isinstance(exc, (urllib3.exceptions.HTTPError, OSError, MinioException)):
            raise StorageUnavailable(
                f"the crate storage (S3 at {self.storage.endpoint}, bucket {self.storage.bucket}) could not be "
                f"reached to {self.action} {self.what}: {type(exc).__name__}. Nothing was changed; try again in a "
                "moment, and tell the registry operator if it persists.") from exc
        return False


def _first_env(names) -> str | None:
    return next((os.environ[n] for n in names if os.environ.get(n)), None)


def _http_client(settings: dict) -> urllib3.PoolManager:
    # Fail fast (the user is waiting on cargo) instead of minio's default minutes of retries.
    timeout = float(settings.get("timeout", 10))
    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=min(timeout, 5.0), read=timeout),
        maxsize=int(settings.get("max_connections", 16)),
        cert_reqs="CERT_REQUIRED", ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
        retries=urllib3.Retry(total=int(settings.get("retries", 2)), backoff_factor=0.2,
                              status_forcelist=[500, 502, 503, 504]))


def _client(endpoint: str, settings: dict, access_key, secret_key, region, secure) -> Minio:
    return Minio(endpoint, access_key=access_key, secret_key=secret_key,
                 session_token=os.environ.get("AWS_SESSION_TOKEN"), secure=secure, region=region,
                 http_client=_http_client(settings))


def _build(settings: dict, app) -> MinioStorage:
    endpoint, bucket = settings.get("endpoint"), settings.get("bucket")
    if not endpoint or not bucket:
        raise ConfigError('[storage] type = "minio" needs endpoint = "HOST:PORT" and bucket = "NAME"')
    if "://" in endpoint:
        raise ConfigError(f"[storage] endpoint = {endpoint!r}: write HOST:PORT without http:// "
                          "(use secure = true or false for TLS)")
    access_key = settings.get("access_key") or _first_env(ACCESS_KEY_VARS)
    secret_key = settings.get("secret_key") or _first_env(SECRET_KEY_VARS)
    if bool(access_key) != bool(secret_key):
        raise ConfigError("[storage] has an access key without a secret key (or the reverse); set both, in the "
                          "config or in ALEXANDRIE_S3_ACCESS_KEY / ALEXANDRIE_S3_SECRET_KEY")
    region = settings.get("region") or _first_env(REGION_VARS) or "us-east-1"
    secure = bool(settings.get("secure", True))
    client = _client(endpoint, settings, access_key, secret_key, region, secure)
    _ensure_bucket(client, bucket, region, endpoint, bool(settings.get("create_bucket", False)))
    presigned = None
    if settings.get("presigned_downloads", False):
        public = settings.get("public_endpoint") or endpoint
        presigned = _client(public, settings, access_key, secret_key, region,
                            bool(settings.get("public_secure", secure)))
    return MinioStorage(client, bucket, settings.get("prefix", ""), endpoint=endpoint, presigned_client=presigned,
                        presigned_expiry=int(settings.get("presigned_expiry", 300)))


def _ensure_bucket(client: Minio, bucket: str, region: str, endpoint: str, create: bool) -> None:
    try:
        if client.bucket_exists(bucket):
            return
        if not create:
            raise ConfigError(f"[storage] bucket {bucket!r} does not exist on {endpoint}; create it, or set "
                              "create_bucket = true to let the registry create it")
        client.make_bucket(bucket, location=region)
    except S3Error as exc:
        raise ConfigError(f"[storage] bucket {bucket!r} on {endpoint}: {exc.code} ({exc.message}); check the "
                          "access key, secret key and region") from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise ConfigError(f"[storage] endpoint {endpoint} cannot be reached ({type(exc).__name__}); check "
                          "endpoint and secure (TLS)") from exc


@hookimpl
def alexandrie_storage_backends():
    return [BackendSpec("minio", _build, "crate files in MinIO or any S3-compatible object store",
                        aliases=("s3",))]
