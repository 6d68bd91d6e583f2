import os

import pytest

from alexandrie.testing import StorageContract
from alexandrie_storage_disk import DiskStorage


@pytest.fixture
def storage(tmp_path):
    return DiskStorage(tmp_path / "crates")


class TestDiskStorageContract(StorageContract):
    pass


def test_files_land_in_lowercase_sharded_folders(storage, tmp_path):
    storage.store_crate("Serde_JSON", "1.0.0", b"x")
    assert (tmp_path / "crates" / "se" / "serde_json" / "serde_json-1.0.0.crate").read_bytes() == b"x"


def test_a_failed_write_leaves_no_temporary_file(storage, tmp_path, monkeypatch):
    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        storage.store_crate("foo", "1.0.0", b"data")
    assert list((tmp_path / "crates").rglob("*")) == [tmp_path / "crates" / "fo", tmp_path / "crates" / "fo" / "foo"]


def test_path_traversal_in_version_is_refused(storage):
    with pytest.raises(ValueError):
        storage.store_crate("foo", "../../etc", b"x")
