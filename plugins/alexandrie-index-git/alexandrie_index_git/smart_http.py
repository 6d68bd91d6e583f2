"""Git's smart HTTP protocol at ``/git/index``, read only, so cargo can use ``index = "http://HOST/git/index"``.

cargo's default git client (libgit2) cannot use the dumb protocol. Reads wrap
``git upload-pack --stateless-rpc``, as ``git http-backend`` does; nothing here writes. Who may read
is the core's request gate's business: ``/git/`` is declared a read-only machine path, so on a
private registry every request needs an API token with the ``read`` scope (git sends it as the
password of HTTP Basic auth). Anyone who may read the registry may fetch: the repository holds
no read-restricted crate.
"""

import logging
import os
import re
import shutil
import subprocess
import tempfile
import threading
import zlib

from flask import Blueprint, Response, request

log = logging.getLogger(__name__)

MAX_REQUEST_BODY = 64 * 1024 * 1024  # after gzip: a fetch request lists haves/wants, never megabytes of them
CHUNK = 64 * 1024
GIT_PROTOCOL = re.compile(r"[A-Za-z0-9=:.,-]+")
NO_CACHE = {"Cache-Control": "no-cache, max-age=0, must-revalidate", "Pragma": "no-cache",
            "Expires": "Fri, 01 Jan 1980 00:00:00 GMT"}


def make_blueprint(repository_path: str) -> Blueprint:
    """The routes for one repository (the app's git index)."""
    bp = Blueprint("index_git", __name__, url_prefix="/git/index")
    bp.add_url_rule("/info/refs", "info_refs", lambda: _info_refs(repository_path), methods=["GET"])
    bp.add_url_rule("/git-upload-pack", "upload_pack", lambda: _upload_pack(repository_path), methods=["POST"])
    bp.add_url_rule("/git-receive-pack", "receive_pack", _read_only, methods=["POST"])
    return bp


# --- The protocol -----------------------------------------------------------------------------------------


def _read_only():
    return Response("this index is read only over HTTP; the registry writes it when crates are published\n",
                    status=403, mimetype="text/plain")


def _info_refs(path: str):
    service = request.args.get("service")
    if service != "git-upload-pack":
        return Response("only git's smart HTTP protocol is served here: fetch with git or cargo "
                        "(service=git-upload-pack)\n", status=403, mimetype="text/plain")
    result = subprocess.run(_upload_pack_command(path, advertise=True), env=_git_env(),
                            capture_output=True, timeout=60)
    if result.returncode != 0:
        log.error("git upload-pack --advertise-refs failed for %s: %s", path, result.stderr.decode(errors="replace"))
        return Response("the index repository could not be read; see the server log\n", status=500)
    preamble = b"" if _protocol_v2() else _pkt_line(b"# service=git-upload-pack\n") + b"0000"
    return Response(preamble + result.stdout, mimetype="application/x-git-upload-pack-advertisement",
                    headers=NO_CACHE)


def _upload_pack(path: str):
    body = _request_body()
    if isinstance(body, Response):
        return body
    stderr = tempfile.TemporaryFile()
    process = subprocess.Popen(_upload_pack_command(path, advertise=False), env=_git_env(),
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr)
    # Fed from another thread, so a large answer cannot block while the request is still being written.
    threading.Thread(target=_feed, args=(process, body), daemon=True).start()
    return Response(_stream(process, stderr, path), mimetype="application/x-git-upload-pack-result",
                    headers=NO_CACHE, direct_passthrough=True)


def _request_body():
    raw = request.get_data(cache=False)
    encoding = request.headers.get("Content-Encoding", "").lower()
    if encoding in ("gzip", "x-gzip"):
        try:
            raw = _gunzip(raw)
        except (OSError, EOFError, zlib.error):
            return Response("the gzip request body is corrupt\n", status=400, mimetype="text/plain")
        except OverflowError:
            return Response("the request body is too large\n", status=413, mimetype="text/plain")
    elif encoding not in ("", "identity"):
        return Response(f"unsupported Content-Encoding {encoding!r}\n", status=415, mimetype="text/plain")
    return raw


def _gunzip(data: bytes) -> bytes:
    """Decompress with a ceiling, so a small gzip bomb cannot fill memory."""
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = decompressor.decompress(data, MAX_REQUEST_BODY + 1)
    if len(out) > MAX_REQUEST_BODY or decompressor.unconsumed_tail:
        raise OverflowError
    if not decompressor.eof:
        raise EOFError("truncated gzip body")
    return out


def _feed(process: subprocess.Popen, body: bytes) -> None:
    try:
        process.stdin.write(body)
    except (BrokenPipeError, OSError):
        pass
    finally:
        try:
            process.stdin.close()
        except OSError:
            pass


def _stream(process: subprocess.Popen, stderr, path: str):
    try:
        while True:
            chunk = process.stdout.read1(CHUNK) if hasattr(process.stdout, "read1") else process.stdout.read(CHUNK)
            if not chunk:
                break
            yield chunk
    finally:
        process.stdout.close()
        if process.wait(timeout=60) != 0:
            stderr.seek(0)
            log.warning("git upload-pack for %s exited with %s: %s", path, process.returncode,
                        stderr.read().decode(errors="replace")[-2000:])
        stderr.close()


def _upload_pack_command(path: str, advertise: bool) -> list[str]:
    git = shutil.which("git") or "git"
    command = [git, "-c", f"safe.directory={path}", "-c", "uploadpack.allowFilter=true", "upload-pack",
               "--stateless-rpc"]
    if advertise:
        command.append("--advertise-refs")
    return [*command, path]


def _git_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    protocol = request.headers.get("Git-Protocol", "")
    if protocol and GIT_PROTOCOL.fullmatch(protocol):
        env["GIT_PROTOCOL"] = protocol
    return env


def _protocol_v2() -> bool:
    return "version=2" in request.headers.get("Git-Protocol", "")


def _pkt_line(data: bytes) -> bytes:
    return f"{len(data) + 4:04x}".encode() + data
