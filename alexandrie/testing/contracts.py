"""Contract tests every backend reruns: subclass ``StorageContract`` or ``IndexContract`` in the backend's tests."""

import threading

import pytest


class StorageContract:
    """Every storage backend passes these. Subclass and provide a ``storage`` fixture."""

    def test_round_trip_is_byte_exact(self, storage):
        data = bytes(range(256)) * 1000 + b"\x00\xff"
        storage.store_crate("Mixed-Case", "1.0.0+build.5", data)
        assert storage.read_crate("Mixed-Case", "1.0.0+build.5") == data
        with storage.open_crate("Mixed-Case", "1.0.0+build.5") as stream:
            assert stream.read() == data

    def test_missing_file_raises_file_not_found(self, storage):
        with pytest.raises(FileNotFoundError):
            storage.read_crate("absent", "1.0.0")
        assert not storage.crate_exists("absent", "1.0.0")

    def test_store_replaces_and_delete_removes(self, storage):
        storage.store_crate("foo", "0.1.0", b"first")
        storage.store_crate("foo", "0.1.0", b"second")
        assert storage.read_crate("foo", "0.1.0") == b"second"
        assert storage.crate_exists("foo", "0.1.0")
        storage.delete_crate("foo", "0.1.0")
        assert not storage.crate_exists("foo", "0.1.0")
        storage.delete_crate("foo", "0.1.0")

    def test_versions_do_not_collide(self, storage):
        storage.store_crate("foo", "0.1.0", b"a")
        storage.store_crate("foo", "0.1.0-alpha", b"b")
        storage.store_crate("foo-bar", "0.1.0", b"c")
        assert [storage.read_crate(*k) for k in (("foo", "0.1.0"), ("foo", "0.1.0-alpha"), ("foo-bar", "0.1.0"))] \
            == [b"a", b"b", b"c"]

    def test_concurrent_readers_never_see_partial_files(self, storage):
        big_a, big_b = b"a" * 3_000_000, b"b" * 3_000_000
        storage.store_crate("race", "1.0.0", big_a)
        seen, errors, stop = set(), [], threading.Event()

        def reader():
            try:
                while not stop.is_set():
                    seen.add(storage.read_crate("race", "1.0.0") in (big_a, big_b))
            except BaseException as exc:  # a thread's exception would only warn; the test must fail on it
                errors.append(exc)

        thread = threading.Thread(target=reader)
        thread.start()
        try:
            for _ in range(5):
                storage.store_crate("race", "1.0.0", big_b)
                storage.store_crate("race", "1.0.0", big_a)
        finally:
            stop.set()
            thread.join()
        assert errors == [] and seen == {True}

    def test_check_passes_when_usable(self, storage):
        storage.check()


class IndexContract:
    """Every index backend passes these. Subclass and provide ``index_backend`` and ``read_index_file``
    (a fixture returning a function ``(name) -> str | None`` reading what the backend holds)."""

    def test_update_then_read_back(self, index_backend, read_index_file):
        index_backend.update_crate("Foo-Bar", '{"name":"Foo-Bar"}\n', "Publish Foo-Bar 0.1.0")
        assert read_index_file("Foo-Bar") == '{"name":"Foo-Bar"}\n'

    def test_update_replaces_content(self, index_backend, read_index_file):
        index_backend.update_crate("serde", "a\n", "Publish serde 1.0.0")
        index_backend.update_crate("serde", "a\nb\n", "Publish serde 1.0.1")
        assert read_index_file("serde") == "a\nb\n"

    def test_rebuild_holds_exactly_the_given_files(self, index_backend, read_index_file):
        index_backend.update_crate("stale", "x\n", "Publish stale")
        index_backend.rebuild([("ab", "1\n"), ("xyz", "2\n"), ("longer-name", "3\n")], "Rebuild")
        assert [read_index_file(n) for n in ("ab", "xyz", "longer-name", "stale")] == ["1\n", "2\n", "3\n", None]

    def test_check_passes_when_usable(self, index_backend):
        index_backend.check()
