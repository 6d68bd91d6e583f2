"""Push every commit to the configured remotes from a background thread.

A failed push is retried with exponential back-off and never blocks a publish: the
commits stay in the local repository, and the next successful push carries all of them.
What happened is logged and kept in ``alexandrie-push-status.json`` in the git directory,
which ``alexandrie index status`` reads from any process.
"""

import json
import logging
import os
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import pygit2
from pygit2.enums import CredentialType

from .settings import Credentials, RemoteSpec

log = logging.getLogger(__name__)

STATUS_FILE = "alexandrie-push-status.json"
MAX_CREDENTIAL_TRIES = 3


class PushError(Exception):
    """The remote refused the push or could not be reached."""


@dataclass
class RemoteState:
    """What is known about one remote, as shown by ``alexandrie index status``."""

    name: str
    url: str
    pushed: str | None = None
    last_success: float | None = None
    last_attempt: float | None = None
    last_error: str | None = None
    failures: int = 0
    next_retry: float = 0.0


class Credentialer(pygit2.RemoteCallbacks):
    """Answers libgit2's credential questions and records refused ref updates."""

    def __init__(self, credentials: Credentials):
        super().__init__()
        self.given = credentials
        self.tries = 0
        self.refused: list[str] = []
        self.untrusted_host: str | None = None

    def credentials(self, url, username_from_url, allowed_types):
        self.tries += 1
        if self.tries > MAX_CREDENTIAL_TRIES:
            raise PushError("the remote refused the credentials; check the username, password or key")
        creds = self.given
        user = creds.username or username_from_url or "git"
        if allowed_types & CredentialType.SSH_KEY:
            if creds.ssh_key:
                guessed = creds.ssh_key + ".pub"
                public = creds.ssh_public_key or (guessed if Path(guessed).exists() else None)
                return pygit2.Keypair(user, public, creds.ssh_key, creds.ssh_passphrase or "")
            return pygit2.KeypairFromAgent(user)
        if allowed_types & CredentialType.USERPASS_PLAINTEXT and creds.password is not None:
            return pygit2.UserPass(user, creds.password)
        if allowed_types & CredentialType.USERNAME:
            return pygit2.Username(user)
        raise PushError("the remote asks for credentials, but none are configured for it "
                        "(username/password for https, ssh_key or ssh_agent for ssh)")

    def certificate_check(self, certificate, valid, host):
        # pygit2's default lets every ssh host key through; libgit2 has checked ~/.ssh/known_hosts (and
        # TLS certificates) by now, and ``valid`` says whether that check passed.
        if not valid:
            self.untrusted_host = host.decode(errors="replace") if isinstance(host, bytes) else str(host)
        return bool(valid)

    def push_update_reference(self, refname, message):
        if message:
            self.refused.append(f"{refname}: {message}")


class Pusher:
    """One background thread per repository pushing the branch to every remote."""

    def __init__(self, git_dir: Path, branch_ref, remotes: tuple[RemoteSpec, ...], *, retry_base: float = 1.0,
                 retry_max: float = 300.0, poll_interval: float = 60.0):
        self.git_dir = Path(git_dir)
        self.branch_ref = branch_ref
        self.remotes = remotes
        self.retry_base, self.retry_max, self.poll_interval = retry_base, retry_max, poll_interval
        self.states = {r.name: RemoteState(r.name, r.display_url) for r in remotes}
        self._load_saved_states()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._pass_done = threading.Condition()
        self._passes = 0
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    # --- Control ------------------------------------------------------------------------------------

    def __call__(self, commit) -> None:
        """A new commit exists: push soon (the GitIndex listener)."""
        self.start()
        self._wake.set()

    def start(self) -> None:
        with self._start_lock:
            if self._thread is None and self.remotes and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, name="alexandrie-git-push", daemon=True)
                self._thread.start()
        self._wake.set()

    def flush(self, timeout: float) -> bool:
        """Wait until every remote has the branch tip, or a push failed; True when all are pushed."""
        deadline = time.monotonic() + timeout
        self.start()
        with self._pass_done:
            first_pass = self._passes + 1
            while not self.all_pushed() and time.monotonic() < deadline and self._running():
                if self._passes >= first_pass and any(s.last_error for s in self.states.values()):
                    break
                self._wake.set()
                self._pass_done.wait(min(0.5, max(0.0, deadline - time.monotonic())))
        return self.all_pushed()

    def _running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stop.is_set()

    def close(self, timeout: float = 10.0) -> None:
        if self._running() and not self.all_pushed():
            self.flush(timeout)
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    # --- The loop -------------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                wait = self._push_pass(pygit2.Repository(str(self.git_dir)))
            except Exception:
                # The thread must outlive any surprise, or commits would silently stop reaching remotes.
                log.exception("the git index push pass failed; trying again in %.0f s", self.poll_interval)
                wait = self.poll_interval
            with self._pass_done:
                self._passes += 1
                self._pass_done.notify_all()
            self._wake.wait(min(wait, self.poll_interval))

    def _push_pass(self, repo: pygit2.Repository) -> float:
        """Push to every remote that is behind and due; return the seconds until the next retry."""
        waits = [self.poll_interval]
        tip = self._tip(repo)
        for remote in self.remotes:
            state = self.states[remote.name]
            if tip is None or state.pushed == tip or self._stop.is_set():
                continue
            delay = state.next_retry - time.time()
            if delay > 0:
                waits.append(delay)
                continue
            self._attempt(repo, remote, state, tip)
            if state.last_error:
                waits.append(state.next_retry - time.time())
        self._save_states()
        return max(0.01, min(waits))

    def _attempt(self, repo: pygit2.Repository, remote: RemoteSpec, state: RemoteState, tip: str) -> None:
        state.last_attempt = time.time()
        try:
            push(repo, remote, self.branch_ref())
        except (PushError, pygit2.GitError, OSError, ValueError, KeyError) as exc:
            state.failures += 1
            state.last_error = _explain(str(exc) or type(exc).__name__)
            backoff = min(self.retry_base * 2 ** (state.failures - 1), self.retry_max)
            state.next_retry = time.time() + backoff
            log.warning("pushing the git index to %s (%s) failed (attempt %d): %s; retrying in %.0f s",
                        remote.name, remote.display_url, state.failures, state.last_error, backoff)
            return
        if state.failures:
            log.info("pushed the git index to %s after %d failed attempts", remote.name, state.failures)
        state.pushed, state.last_success, state.last_error = tip, time.time(), None
        state.failures, state.next_retry = 0, 0.0

    def _tip(self, repo: pygit2.Repository) -> str | None:
        ref = repo.references.get(self.branch_ref())
        return str(ref.target) if ref is not None else None

    # --- State ----------------------------------------------------------------------------------------

    def all_pushed(self) -> bool:
        try:
            tip = self._tip(pygit2.Repository(str(self.git_dir)))
        except pygit2.GitError:
            return False
        return all(state.pushed == tip for state in self.states.values())

    def _load_saved_states(self) -> None:
        for name, saved in read_status_file(self.git_dir).items():
            state = self.states.get(name)
            if state is not None and saved.get("url") == state.url:
                state.pushed, state.last_success = saved.get("pushed"), saved.get("last_success")

    def _save_states(self) -> None:
        saved = read_status_file(self.git_dir)
        saved.update({name: asdict(state) for name, state in self.states.items()})
        target = self.git_dir / STATUS_FILE
        temp = target.with_name(f".{STATUS_FILE}.{os.getpid()}.{threading.get_ident()}")
        temp.write_text(json.dumps(saved, indent=2))
        os.replace(temp, target)


def push(repo: pygit2.Repository, remote: RemoteSpec, branch_ref: str) -> None:
    """Push the local branch (fast-forward only) and fail loudly when any ref is refused."""
    target = f"refs/heads/{remote.branch}" if remote.branch else branch_ref
    handle = repo.remotes.create_anonymous(remote.url) if remote.url else _named_remote(repo, remote.name)
    callbacks = Credentialer(remote.credentials)
    try:
        handle.push([f"{branch_ref}:{target}"], callbacks=callbacks)
    except pygit2.GitError as exc:
        if callbacks.untrusted_host:
            raise PushError(_untrusted(callbacks.untrusted_host)) from exc
        raise
    if callbacks.refused:
        raise PushError("the remote refused the update: " + "; ".join(callbacks.refused) +
                        " (has someone else pushed to it? the registry only fast-forwards)")


def _untrusted(host: str) -> str:
    return (f"{host} could not be verified: its ssh host key is not in {Path.home() / '.ssh' / 'known_hosts'} "
            "(or differs from it), or its TLS certificate is not trusted. For ssh, check the key's fingerprint "
            f"with the remote's operator, then add it: ssh-keyscan [-p PORT] {host} >> ~/.ssh/known_hosts "
            "(as the user that runs the registry)")


def _explain(error: str) -> str:
    if "rejected authentication" in error:
        return (error.rstrip(".") + ". Check that ssh_key (or the ssh agent's key) is one the remote accepts "
                "for that user")
    if "not present locally" in error or "non-fast-forward" in error:
        return (error.rstrip(".") + ". Someone else changed the remote branch; the registry only fast-forwards, "
                "so reset that branch to the registry's history (or drop the remote)")
    return error


def _named_remote(repo: pygit2.Repository, name: str):
    try:
        return repo.remotes[name]
    except KeyError:
        raise PushError(f"the index repository has no git remote named {name!r}; add it with "
                        f"`git -C PATH remote add {name} URL` or give url = ... in [index] remotes") from None


def read_status_file(git_dir: Path) -> dict:
    try:
        return json.loads((Path(git_dir) / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return {}


def pending_commits(repo: pygit2.Repository, tip: str | None, pushed: str | None) -> int:
    """How many commits the remote lacks (every commit when nothing was pushed yet)."""
    if tip is None:
        return 0
    if pushed is None:
        return sum(1 for _ in repo.walk(tip))
    try:
        return repo.ahead_behind(tip, pushed)[0]
    except (pygit2.GitError, KeyError, ValueError):
        return sum(1 for _ in repo.walk(tip))
