"""Check an uploaded ``.crate`` (gzip tar) without unpacking it to disk."""

import gzip
import io
import tarfile
import tomllib
import zlib
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from ..errors import BadRequest

MAX_MANIFEST_SIZE = 10 * 1024 * 1024
MAX_EXTRA_FILE_SIZE = 4 * 1024 * 1024
MAX_ENTRIES = 100_000
TAR_PADDING = 64 * 1024  # zero blocks tar writers may leave after the end-of-archive marker
# Extended headers are read whole, and Python < 3.11.10 parses pax headers in super-linear time.
EXTENDED_HEADER_LIMITS = {tarfile.XHDTYPE: 1024, tarfile.XGLTYPE: 1024, tarfile.SOLARIS_XHDTYPE: 1024,
                          tarfile.GNUTYPE_LONGNAME: 4096, tarfile.GNUTYPE_LONGLINK: 4096}


@dataclass
class CrateContents:
    manifest: dict
    files: dict[str, bytes] = field(default_factory=dict)  # wanted extra files, by path inside the package


def inspect_crate(data: bytes, name: str, version: str, max_unpacked: int, wanted=()) -> CrateContents:
    """Refuse anything ``cargo package`` would not produce; return the parsed ``Cargo.toml``."""
    if not data.startswith(b"\x1f\x8b"):
        raise BadRequest("the .crate file is not gzip-compressed; upload the file `cargo package` builds")
    prefix = f"{name}-{version}/"
    try:
        captured = _scan(data, prefix, max_unpacked, {"Cargo.toml", *wanted})
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise BadRequest(f"the .crate file is not a readable gzip tar archive ({exc}); "
                         "upload the file `cargo package` builds") from exc
    if "Cargo.toml" not in captured:
        raise BadRequest(f"the .crate file has no `{prefix}Cargo.toml`")
    manifest = _parse_manifest(captured.pop("Cargo.toml"))
    _check_manifest_matches(manifest, name, version)
    return CrateContents(manifest=manifest, files=captured)


def _scan(data: bytes, prefix: str, max_unpacked: int, wanted: set[str]) -> dict[str, bytes]:
    captured, unpacked = {}, 0
    stream = gzip.GzipFile(fileobj=io.BytesIO(data), mode="rb")
    with tarfile.open(fileobj=stream, mode="r|", tarinfo=_CheckedTarInfo) as archive:
        for count, member in enumerate(archive, start=1):
            _check_member(member, prefix)
            unpacked += member.size
            if unpacked > max_unpacked or count > MAX_ENTRIES:
                raise BadRequest(f"the .crate file unpacks to more than {max_unpacked} bytes "
                                 f"or {MAX_ENTRIES} entries; the registry refuses it")
            relative = member.name[len(prefix):]
            if member.isfile() and relative in wanted:
                captured[relative] = _read_member(archive, member, relative)
    _drain_to_checksum(stream, max_unpacked - unpacked + TAR_PADDING)
    return captured


class _CheckedTarInfo(tarfile.TarInfo):
    """Refuses oversized pax and GNU long-name headers before tarfile reads and parses them."""

    def _proc_member(self, archive):
        limit = EXTENDED_HEADER_LIMITS.get(self.type)
        if limit is not None and self.size > limit:
            raise BadRequest(f"the .crate file has a {self.size}-byte extended tar header; the limit is {limit}. "
                             "Upload the file `cargo package` builds")
        return super()._proc_member(archive)


def _drain_to_checksum(stream: gzip.GzipFile, allowance: int) -> None:
    """Read past the tar's end so gzip checks its CRC; a corrupt or padded-out file is refused."""
    while chunk := stream.read(64 * 1024):
        allowance -= len(chunk)
        if allowance < 0:
            raise BadRequest("the .crate file has more data after the end of its tar archive than it may unpack to")


def _check_member(member: tarfile.TarInfo, prefix: str) -> None:
    path = member.name
    parts = PurePosixPath(path).parts
    if path.startswith("/") or "\\" in path or ".." in parts or (parts and ":" in parts[0]):
        raise BadRequest(f"the .crate file contains the unsafe path `{path[:200]}`")
    if not (member.isfile() or member.isdir()):
        raise BadRequest(f"the .crate file contains `{path[:200]}`, which is a link or special file; "
                         "packages may only hold regular files")
    if not (path + "/").startswith(prefix):
        raise BadRequest(f"the .crate file contains `{path[:200]}` outside `{prefix}`; "
                         "every entry must sit under the crate's name-version folder")


def _read_member(archive: tarfile.TarFile, member: tarfile.TarInfo, relative: str) -> bytes:
    limit = MAX_MANIFEST_SIZE if relative == "Cargo.toml" else MAX_EXTRA_FILE_SIZE
    if member.size > limit:
        raise BadRequest(f"`{relative}` in the .crate file is larger than {limit} bytes")
    return archive.extractfile(member).read()


def _parse_manifest(raw: bytes) -> dict:
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise BadRequest(f"Cargo.toml inside the .crate file is not valid TOML: {exc}") from exc


def _check_manifest_matches(manifest: dict, name: str, version: str) -> None:
    package = manifest.get("package")
    if not isinstance(package, dict):
        raise BadRequest("Cargo.toml inside the .crate file has no [package] table")
    if package.get("name") != name or str(package.get("version")) != version:
        raise BadRequest(
            f"Cargo.toml inside the .crate file is for `{package.get('name')}` {package.get('version')}, "
            f"but the upload says `{name}` {version}; upload the file `cargo package` built for this version")


def name_and_version(data: bytes, file_name: str) -> tuple[str, str]:
    """The crate a ``.crate`` file holds: its ``NAME-VERSION/Cargo.toml`` names both."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            for member in archive:
                if member.name.endswith("/Cargo.toml") and member.name.count("/") == 1 and member.isfile():
                    package = _parse_manifest(archive.extractfile(member).read()).get("package", {})
                    return str(package.get("name")), str(package.get("version"))
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise BadRequest(f"{file_name} is not a readable gzip tar archive ({exc}); is it a .crate file?") from exc
    raise BadRequest(f"{file_name} holds no NAME-VERSION/Cargo.toml; is it a .crate file?")
