import pytest

import alexandrie_storage_minio


@pytest.fixture
def make_app(make_app):
    """The kit loads no entry points: every registry of these tests gets the S3 storage plugin explicitly."""
    def with_s3_storage(plugins=(), **sections):
        return make_app(plugins=[alexandrie_storage_minio, *plugins], **sections)
    return with_s3_storage
