import urllib.request

import pytest
from minio import Minio

from alexandrie import ConfigError, StorageUnavailable, registry
from alexandrie.testing import StorageContract, crate_metadata, create_user_with_token, make_crate, publish_body
from alexandrie_storage_minio import _build
from alexandrie_storage_minio.testing import ACCESS_KEY, SECRET_KEY, MotoServer


@pytest.fixture
def settings(s3_server):
    return s3_server.storage_settings()


@pytest.fixture
def storage(settings):
    return _build(settings, None)


class TestMinioStorageContract(StorageContract):
    pass


def _raw_client(s3_server) -> Minio:
    return Minio(s3_server.endpoint, access_key=ACCESS_KEY, secret_key=SECRET_KEY, secure=False,
                 region="us-east-1")


def test_objects_use_the_prefix_and_the_disk_layout(s3_server):
    storage = _build(s3_server.storage_settings(prefix="/registry/"), None)
    storage.store_crate("Serde_JSON", "1.0.0", b"x")
    objects = [o.object_name for o in _raw_client(s3_server).list_objects(storage.bucket, recursive=True)]
    assert objects == ["registry/se/serde_json/serde_json-1.0.0.crate"]
    assert list(storage.iter_crates()) == [("serde_json", "1.0.0")]


def test_a_missing_bucket_is_refused_unless_creation_is_allowed(s3_server):
    settings = s3_server.storage_settings(create_bucket=False)
    with pytest.raises(ConfigError, match="does not exist.*create_bucket = true"):
        _build(settings, None)
    _build({**settings, "create_bucket": True}, None)
    assert _raw_client(s3_server).bucket_exists(settings["bucket"])


def test_keys_come_from_the_environment(s3_server, monkeypatch):
    settings = s3_server.storage_settings()
    del settings["access_key"], settings["secret_key"]
    monkeypatch.setenv("ALEXANDRIE_S3_ACCESS_KEY", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    storage = _build(settings, None)
    assert storage.client._provider.retrieve().access_key == ACCESS_KEY
    storage.store_crate("envy", "1.0.0", b"ok")
    assert storage.read_crate("envy", "1.0.0") == b"ok"


def test_config_mistakes_name_the_fix(s3_server):
    with pytest.raises(ConfigError, match="endpoint"):
        _build({"bucket": "b"}, None)
    with pytest.raises(ConfigError, match="without http://"):
        _build({**s3_server.storage_settings(), "endpoint": f"http://{s3_server.endpoint}"}, None)
    with pytest.raises(ConfigError, match="cannot be reached"):
        _build({**s3_server.storage_settings(), "endpoint": "127.0.0.1:1"}, None)


def test_unreachable_store_raises_a_503_that_says_nothing_changed(s3_server):
    server = MotoServer().start()
    storage = _build(server.storage_settings(retries=0), None)
    server.stop()
    with pytest.raises(StorageUnavailable, match="could not be reached to store `foo` 1.0.0.*Nothing was changed") \
            as info:
        storage.store_crate("foo", "1.0.0", b"x")
    assert info.value.status == 503


def test_presigned_url_fetches_without_credentials(s3_server):
    storage = _build(s3_server.storage_settings(presigned_downloads=True, presigned_expiry=60), None)
    storage.store_crate("foo", "1.0.0", b"crate bytes")
    url = storage.download_url("foo", "1.0.0")
    assert "X-Amz-Expires=60" in url and url.startswith(f"http://{s3_server.endpoint}/")
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == b"crate bytes"
    assert _build(s3_server.storage_settings(), None).download_url("foo", "1.0.0") is None


def test_registry_streams_or_redirects_downloads(make_app, s3_server):
    for presigned in (False, True):
        app = make_app(storage=s3_server.storage_settings(presigned_downloads=presigned))
        client = app.test_client()
        token = create_user_with_token(app, f"user{int(presigned)}")
        name = f"dl{int(presigned)}"
        tarball = make_crate(name, "1.0.0")
        response = client.put("/api/v1/crates/new", data=publish_body(crate_metadata(name, "1.0.0"), tarball),
                              headers={"Authorization": token})
        assert response.status_code == 200, response.get_json()
        response = client.get(f"/api/v1/crates/{name}/1.0.0/download")
        if presigned:
            assert response.status_code == 302
            with urllib.request.urlopen(response.headers["Location"], timeout=10) as fetched:
                assert fetched.read() == tarball
        else:
            assert response.status_code == 200 and response.data == tarball


def test_s3_selects_the_same_backend(make_app, s3_server):
    from alexandrie_storage_minio import MinioStorage

    app = make_app(storage=s3_server.storage_settings(type="s3"))
    assert isinstance(registry(app).storage, MinioStorage)
    assert app.test_client().get("/health").status_code == 200
