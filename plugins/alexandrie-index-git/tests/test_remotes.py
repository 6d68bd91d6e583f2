"""Pushing to remotes in the background: success, retries with back-off, credentials, refusals."""

import base64
import getpass
import os
import shutil
import socket
import subprocess
import threading
import time
from types import SimpleNamespace

import pygit2
import pytest
import waitress

from alexandrie import registry
from alexandrie.testing import free_port, require, require_tool, stop_process
from alexandrie_index_git import GitIndex, GitIndexSettings, read_settings
from alexandrie_index_git.remotes import Pusher, read_status_file


def bare_repository(path):
    return pygit2.init_repository(str(path), bare=True)


def remote_head(path) -> str | None:
    repo = pygit2.Repository(str(path))
    ref = repo.references.get("refs/heads/main")
    return str(ref.target) if ref else None


def wait_until(condition, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def pushing_index(tmp_path, remotes, **settings):
    parsed = read_settings({"type": "git", "path": str(tmp_path / "index"), "remotes": remotes,
                            "push_retry_base": 0.05, "push_retry_max": 0.2, **settings})
    index = GitIndex(parsed, config={"dl": "x", "api": "y"})
    pusher = Pusher(index.git_dir, index.branch_ref, parsed.remotes, retry_base=parsed.push_retry_base,
                    retry_max=parsed.push_retry_max, poll_interval=1.0)
    index.pusher = pusher
    index.add_listener(pusher)
    return index


def local_tip(index) -> str:
    return str(index.head_commit().id)


def test_every_commit_reaches_a_remote(tmp_path):
    bare_repository(tmp_path / "mirror.git")
    index = pushing_index(tmp_path, [str(tmp_path / "mirror.git")])
    try:
        index.update_crate("foo", "1\n", "Publish foo 1.0.0")
        assert index.pusher.flush(15)
        assert remote_head(tmp_path / "mirror.git") == local_tip(index)
        index.update_crate("foo", "1\n2\n", "Publish foo 1.0.1")
        assert index.pusher.flush(15)
        assert remote_head(tmp_path / "mirror.git") == local_tip(index)
        saved = read_status_file(index.git_dir)
        assert saved[index.pusher.remotes[0].name]["pushed"] == local_tip(index)
    finally:
        index.close()


def test_a_failing_remote_never_blocks_commits_and_catches_up_later(tmp_path):
    index = pushing_index(tmp_path, [{"name": "later", "url": str(tmp_path / "later.git")}])
    try:
        started = time.monotonic()
        for i in range(3):
            index.update_crate(f"crate{i}", "x\n", f"Publish crate{i} 1.0.0")
        assert time.monotonic() - started < 2
        assert wait_until(lambda: index.pusher.states["later"].failures >= 2)
        state = index.pusher.states["later"]
        assert state.last_error and state.pushed is None
        assert read_status_file(index.git_dir)["later"]["last_error"]
        bare_repository(tmp_path / "later.git")
        assert wait_until(lambda: remote_head(tmp_path / "later.git") == local_tip(index))
        assert wait_until(lambda: index.pusher.states["later"].last_error is None)
    finally:
        index.close()


def test_a_refused_update_is_reported_not_ignored(tmp_path):
    require_tool("git")
    bare_repository(tmp_path / "shared.git")
    index = pushing_index(tmp_path, [{"name": "shared", "url": str(tmp_path / "shared.git")}])
    try:
        index.update_crate("foo", "1\n", "Publish foo 1.0.0")
        assert index.pusher.flush(15)
        # someone else pushes a different history to the remote
        other = tmp_path / "other"
        subprocess.run(["git", "clone", "-q", "-b", "main", str(tmp_path / "shared.git"), str(other)], check=True)
        subprocess.run(["git", "-c", "user.name=x", "-c", "user.email=x@x", "commit", "-q", "--allow-empty",
                        "-m", "foreign"], cwd=other, check=True)
        subprocess.run(["git", "push", "-q", "origin", "HEAD:main"], cwd=other, check=True)
        index.update_crate("foo", "1\n2\n", "Publish foo 1.0.1")
        assert wait_until(lambda: index.pusher.states["shared"].failures >= 1)
        error = index.pusher.states["shared"].last_error
        assert "only fast-forwards" in error
    finally:
        index.close()


def test_origin_is_the_default_remote_of_an_existing_clone(make_app, tmp_path):
    require_tool("git")
    bare_repository(tmp_path / "upstream.git")
    subprocess.run(["git", "clone", "-q", str(tmp_path / "upstream.git"), str(tmp_path / "index")], check=True,
                   capture_output=True)
    subprocess.run(["git", "checkout", "-q", "-b", "main"], cwd=tmp_path / "index", check=True)
    app = make_app(index={"type": "git", "path": str(tmp_path / "index"), "repair_grace": 0})
    index = registry(app).index
    assert [r.name for r in index.pusher.remotes] == ["origin"]
    index.update_crate("foo", "1\n", "Publish foo 1.0.0")
    assert index.pusher.flush(15)
    assert remote_head(tmp_path / "upstream.git") == local_tip(index)


# --- https with a user name and password -------------------------------------------------------------


def http_backend(root, user, password):
    """git's own smart HTTP server (``git http-backend``, receive-pack on) behind Basic auth."""
    expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def wsgi(environ, start_response):
        if environ.get("HTTP_AUTHORIZATION") != expected:
            start_response("401 Unauthorized", [("WWW-Authenticate", 'Basic realm="test"')])
            return [b"who are you?\n"]
        body = environ["wsgi.input"].read()
        env = {"GIT_PROJECT_ROOT": str(root), "GIT_HTTP_EXPORT_ALL": "1", "REMOTE_USER": user,
               "PATH": os.environ["PATH"], "REQUEST_METHOD": environ["REQUEST_METHOD"],
               "PATH_INFO": environ["PATH_INFO"], "QUERY_STRING": environ.get("QUERY_STRING", ""),
               "CONTENT_TYPE": environ.get("CONTENT_TYPE", ""), "CONTENT_LENGTH": str(len(body))}
        if environ.get("HTTP_CONTENT_ENCODING"):
            env["HTTP_CONTENT_ENCODING"] = environ["HTTP_CONTENT_ENCODING"]
        output = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True).stdout
        head, _, payload = output.partition(b"\r\n\r\n")
        headers = [tuple(line.split(": ", 1)) for line in head.decode().split("\r\n") if ": " in line]
        status = dict(headers).pop("Status", "200 OK")
        start_response(status, [(k, v) for k, v in headers if k != "Status"])
        return [payload]

    return wsgi


@pytest.fixture
def https_like_remote(tmp_path):
    require_tool("git")
    bare_repository(tmp_path / "served" / "index.git")
    port = free_port()
    server = waitress.create_server(http_backend(tmp_path / "served", "bot", "s3cret"), host="127.0.0.1",
                                    port=port, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}/index.git", tmp_path / "served" / "index.git"
    server.close()
    thread.join(5)


def test_push_with_a_password_from_the_environment(tmp_path, https_like_remote, monkeypatch):
    url, served = https_like_remote
    monkeypatch.setenv("TEST_INDEX_PUSH_TOKEN", "s3cret")
    index = pushing_index(tmp_path, [{"name": "web", "url": url, "username": "bot",
                                      "password_env": "TEST_INDEX_PUSH_TOKEN"}])
    try:
        index.update_crate("foo", "1\n", "Publish foo 1.0.0")
        assert index.pusher.flush(15), index.pusher.states["web"].last_error
        assert remote_head(served) == local_tip(index)
    finally:
        index.close()


def test_a_wrong_password_is_reported_and_never_shown(tmp_path, https_like_remote):
    url, served = https_like_remote
    index = pushing_index(tmp_path, [url.replace("http://", "http://bot:wrong-pass@")])
    try:
        index.update_crate("foo", "1\n", "Publish foo 1.0.0")
        remote = index.pusher.remotes[0]
        assert wait_until(lambda: index.pusher.states[remote.name].failures >= 1)
        assert remote_head(served) is None
        status = (index.git_dir / "alexandrie-push-status.json").read_text()
        assert "wrong-pass" not in status and "credentials" in index.pusher.states[remote.name].last_error
    finally:
        index.close()


# --- ssh with a key, against a real sshd -----------------------------------------------------------------


def _keypair(path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "test", "-f", str(path)], check=True)
    return path


@pytest.fixture
def ssh_remote(tmp_path):
    """OpenSSH's sshd on 127.0.0.1 accepting one key for this user; libgit2 looks up host keys in
    HOME/.ssh/known_hosts, with HOME pointed at a folder of the test's."""
    sshd = shutil.which("sshd", path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")
    require(sshd is not None, "`sshd` is not installed on this machine (Debian: openssh-server)")
    require_tool("ssh-keygen")
    folder = tmp_path / "sshd"
    folder.mkdir()
    host_key, client_key = _keypair(folder / "host_key"), _keypair(folder / "client_key")
    (folder / "authorized_keys").write_text((folder / "client_key.pub").read_text())
    port = free_port()
    (folder / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\nAuthorizedKeysFile {folder}/authorized_keys\n"
        f"PidFile {folder}/sshd.pid\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n")
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege separation folder
    server = subprocess.Popen([sshd, "-D", "-e", "-f", str(folder / "sshd_config")], stderr=subprocess.PIPE)
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    saved_home = pygit2.settings.homedir
    pygit2.settings.homedir = str(home)
    try:
        assert wait_until(lambda: _listening(port) or server.poll() is not None), "sshd did not start"
        assert server.poll() is None, server.stderr.read().decode()
        bare_repository(tmp_path / "over-ssh.git")
        yield SimpleNamespace(url=f"ssh://{getpass.getuser()}@127.0.0.1:{port}{tmp_path}/over-ssh.git",
                              repository=tmp_path / "over-ssh.git", client_key=client_key,
                              known_hosts=home / ".ssh" / "known_hosts",
                              host_line=f"[127.0.0.1]:{port} " + " ".join((folder / "host_key.pub").read_text().split()[:2]))
    finally:
        pygit2.settings.homedir = saved_home
        stop_process(server)


def _listening(port) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def test_push_over_ssh_with_a_key_to_a_known_host(tmp_path, ssh_remote):
    ssh_remote.known_hosts.write_text(ssh_remote.host_line + "\n")
    index = pushing_index(tmp_path, [{"name": "ssh", "url": ssh_remote.url, "ssh_key": str(ssh_remote.client_key)}])
    try:
        index.update_crate("foo", "1\n", "Publish foo 1.0.0")
        assert index.pusher.flush(30), index.pusher.states["ssh"].last_error
        assert remote_head(ssh_remote.repository) == local_tip(index)
    finally:
        index.close()


@pytest.mark.parametrize("known", ["nothing", "another key"])
def test_an_ssh_host_that_cannot_be_verified_gets_nothing(tmp_path, ssh_remote, known):
    """pygit2 lets every ssh host key through by default; the registry pushes only to known hosts."""
    if known == "another key":
        impostor = _keypair(tmp_path / "impostor")
        line = ssh_remote.host_line.split()[0] + " " + " ".join(impostor.with_suffix(".pub").read_text().split()[:2])
        ssh_remote.known_hosts.write_text(line + "\n")
    index = pushing_index(tmp_path, [{"name": "ssh", "url": ssh_remote.url, "ssh_key": str(ssh_remote.client_key)}])
    try:
        index.update_crate("foo", "1\n", "Publish foo 1.0.0")
        assert wait_until(lambda: index.pusher.states["ssh"].failures >= 1)
        error = index.pusher.states["ssh"].last_error
        assert "could not be verified" in error and "known_hosts" in error and "ssh-keyscan" in error
        assert remote_head(ssh_remote.repository) is None
    finally:
        index.close()


def test_an_ssh_key_the_remote_does_not_accept_is_reported(tmp_path, ssh_remote):
    ssh_remote.known_hosts.write_text(ssh_remote.host_line + "\n")
    stranger = _keypair(tmp_path / "stranger")
    index = pushing_index(tmp_path, [{"name": "ssh", "url": ssh_remote.url, "ssh_key": str(stranger)}])
    try:
        index.update_crate("foo", "1\n", "Publish foo 1.0.0")
        assert wait_until(lambda: index.pusher.states["ssh"].failures >= 1)
        assert remote_head(ssh_remote.repository) is None
        error = index.pusher.states["ssh"].last_error
        assert "rejected authentication" in error and "ssh_key" in error
    finally:
        index.close()


def test_settings_without_remotes_key_and_an_empty_list(tmp_path):
    assert read_settings({"type": "git", "path": str(tmp_path)}).remotes is None
    assert read_settings({"type": "git", "path": str(tmp_path), "remotes": []}).remotes == ()
    assert GitIndexSettings(path=tmp_path).remotes is None


def test_index_status_shows_pushes_pending_commits_and_errors(make_app, tmp_path, cli_runner, publisher):
    bare_repository(tmp_path / "good.git")
    remotes = [{"name": "good", "url": str(tmp_path / "good.git")}, {"name": "gone", "url": str(tmp_path / "gone.git")}]
    app = make_app(index={"type": "git", "path": str(tmp_path / "index"), "repair_grace": 0, "remotes": remotes,
                          "push_retry_base": 0.05, "push_retry_max": 0.1})
    index = registry(app).index
    assert publisher(app).publish("foo", "1.0.0").status_code == 200
    index.pusher.flush(15)
    assert wait_until(lambda: index.pusher.states["gone"].failures >= 1)
    index.pusher.close()
    result = cli_runner(app, "index", "status")
    assert result.exit_code == 1, result.output
    good, gone = result.output.split("  good  ")[1].split("  gone  ")
    assert "pending:    0 commits" in good and "last push:  20" in good
    assert "pending:    2 commits" in gone and "last push:  never" in gone and "last error:" in gone
