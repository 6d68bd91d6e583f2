"""What a crash or a race leaves in crate storage: temporary files of uploads that never finished are swept at
start-up, and a stored file goes only when no committed version references it (a publish whose COMMIT
answer was lost, an administrator's deletion raced by a re-publish of the same version)."""

import os
import threading
import time
from pathlib import Path

import peewee
import pytest

from alexandrie import hookimpl
from alexandrie.db import connection
from alexandrie.events import CrateDeletedEvent, PublishEvent, VersionDeletedEvent
from alexandrie.models import Crate, Version
from alexandrie.services import crates
from alexandrie.testing import create_user_with_token, make_crate, publish

WAIT = 30  # seconds; a test that waits this long has failed


def storage_root(app) -> Path:
    return Path(app.extensions["alexandrie"].settings.storage["path"])


def download(app, token: str, name: str, version: str):
    return app.test_client().get(f"/api/v1/crates/{name}/{version}/download", headers={"Authorization": token})


def nums(name: str) -> list[str]:
    return sorted(v.num for v in Version.select(Version.num).join(Crate).where(Crate.name == name))


# --- (a) temporary files of uploads that never finished ----------------------------------------------------


def test_start_up_sweeps_stale_upload_files_and_keeps_young_ones(make_app, tmp_path):
    shared = tmp_path / "shared-storage"
    first = make_app(storage={"path": str(shared)})
    token = create_user_with_token(first, "alice")
    assert publish(first.test_client(), token, "kept").status_code == 200
    folder = shared / "ke" / "kept"
    stale, young = folder / ".upload-k1ll3d", folder / ".upload-1nfl1ght"
    for leftover in (stale, young):
        leftover.write_bytes(b"half a crate")
    an_hour_ago = time.time() - 3600
    os.utime(stale, (an_hour_ago, an_hour_ago))

    make_app(storage={"path": str(shared)})  # a restart, or a second instance starting on the same storage

    assert not stale.exists()
    assert young.exists(), "a young temporary file may be another instance's upload in progress"
    assert (folder / "kept-0.1.0.crate").is_file()


# --- (b) a publish whose COMMIT reached the database, though its answer did not ----------------------------


class LosesTheCommitAnswer:
    """Lets the publish's COMMIT happen, then raises as a connection dropped while the answer was on its way."""

    def __init__(self, app):
        self.armed = False
        self.db = app.extensions["alexandrie"].database
        self.commit = self.db.commit

    @hookimpl
    def alexandrie_event_in_transaction(self, event):
        self.armed = isinstance(event, PublishEvent)  # the next commit is the publish's

    def __call__(self):
        self.commit()
        if self.armed:
            self.armed = False
            raise peewee.OperationalError("server closed the connection unexpectedly")


def test_a_publish_whose_commit_answer_is_lost_keeps_the_file_of_the_committed_version(make_app, monkeypatch):
    app = make_app()
    token = create_user_with_token(app, "alice")
    lose = LosesTheCommitAnswer(app)
    app.extensions["alexandrie"].pm.register(lose)
    monkeypatch.setattr(lose.db, "commit", lose)
    tarball = make_crate("committed", "1.0.0")

    response = publish(app.test_client(), token, "committed", "1.0.0", tarball=tarball)

    assert response.status_code >= 500  # cargo was told it failed; it did not
    with app.app_context(), connection():
        assert nums("committed") == ["1.0.0"]
    served = download(app, token, "committed", "1.0.0")
    assert served.status_code == 200 and served.get_data() == tarball


def test_a_publish_that_really_failed_still_leaves_no_file(make_app):
    class FailsAfterStoring:
        @hookimpl
        def alexandrie_event_in_transaction(self, event):
            if isinstance(event, PublishEvent):
                raise RuntimeError("the audit log is full")

    app = make_app(plugins=[FailsAfterStoring()])
    token = create_user_with_token(app, "alice")
    assert publish(app.test_client(), token, "rolled-back").status_code >= 500
    assert [p for p in storage_root(app).rglob("*") if p.is_file()] == []


# --- (c) an administrator's deletion raced by a re-publish of the same version -----------------------------


class RepublishesDuringDeletion:
    """Right after the deletion commits (``alexandrie_event``, before its files go), publishes the same version
    again with other bytes from another thread: to the end (``finished``), or until its file is stored and its
    transaction is about to commit (``in_flight``), which then commits half a second later."""

    def __init__(self, app, token: str, name: str, version: str, mode: str):
        self.app, self.token, self.name, self.version, self.mode = app, token, name, version, mode
        self.tarball = make_crate(name, version, files={"src/lib.rs": b"pub fn republished() {}\n"})
        self.stored, self.release = threading.Event(), threading.Event()
        self.armed, self.response, self.thread = False, None, None

    @hookimpl
    def alexandrie_event(self, event):
        if not (self.armed and isinstance(event, (VersionDeletedEvent, CrateDeletedEvent))):
            return
        self.armed = False
        self.thread = threading.Thread(target=self._republish)
        self.thread.start()
        if self.mode == "finished":
            self.release.set()
            self.thread.join(WAIT)
        else:
            assert self.stored.wait(WAIT)
            threading.Timer(0.5, self.release.set).start()

    @hookimpl
    def alexandrie_event_in_transaction(self, event):
        if isinstance(event, PublishEvent) and self.thread is threading.current_thread():
            self.stored.set()
            self.release.wait(WAIT)

    def _republish(self):
        self.response = publish(self.app.test_client(), self.token, self.name, self.version, tarball=self.tarball)


@pytest.mark.parametrize("mode", ["finished", "in_flight"])
@pytest.mark.parametrize("deletion", ["version", "crate"])
def test_a_re_publish_racing_an_admin_deletion_keeps_its_file(make_app, deletion, mode):
    app = make_app()
    token = create_user_with_token(app, "alice")
    client = app.test_client()
    assert publish(client, token, "raced", "1.0.0").status_code == 200
    if deletion == "version":
        assert publish(client, token, "raced", "1.1.0").status_code == 200
    target = "1.1.0" if deletion == "version" else "1.0.0"
    racer = RepublishesDuringDeletion(app, token, "raced", target, mode)
    app.extensions["alexandrie"].pm.register(racer)

    racer.armed = True
    with app.app_context(), connection():
        if deletion == "version":
            crates.delete_version("raced", target, actor="admin")
        else:
            crates.delete_crate("raced", actor="admin")
    racer.thread.join(WAIT)

    assert racer.response is not None and racer.response.status_code == 200, racer.response.get_data(as_text=True)
    served = download(app, token, "raced", target)
    assert served.status_code == 200, "the re-published version lost its file"
    assert served.get_data() == racer.tarball


def test_an_admin_deletion_still_removes_the_files(make_app):
    app = make_app()
    token = create_user_with_token(app, "alice")
    client = app.test_client()
    for version in ("1.0.0", "1.1.0"):
        assert publish(client, token, "gone", version).status_code == 200
    with app.app_context(), connection():
        crates.delete_version("gone", "1.1.0", actor="admin")
        assert sorted(p.name for p in storage_root(app).rglob("*.crate")) == ["gone-1.0.0.crate"]
        crates.delete_crate("gone", actor="admin")
    assert list(storage_root(app).rglob("*.crate")) == []
