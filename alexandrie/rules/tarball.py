"""Check an uploaded ``.crate`` (gzip tar) without unpacking it to disk."""

import gzip
import io
import tarfile
import tomllib
import zlib
from dataclasses import dataclass, field

from ..errors import BadRequest

MAX_MANIFEST_SIZE = 10 * 1024 * 1024
MAX_EXTRA_FILE_SIZE = 4 * 1024 * 1024
MAX_ENTRIES = 100_000
CARGO_MARKER = ".cargo-ok"  # written by cargo into the folder it unpacks a crate to
TAR_PADDING = 64 * 1024  # zero blocks tar writers may leave after the end-of-archive marker
# Extended headers are read whole, and Python < 3.11.10 parses pax headers in super-linear time.
EXTENDED_HEADER_LIMITS = {tarfile.XHDTYPE: 1024, tarfile.XGLTYPE: 1024, tarfile.SOLARIS_XHDTYPE: 1024,
                          tarfile.GNUTYPE_LONGNAME: 4096, tarfile.GNUTYPE_LONGLINK: 4096}


@dataclass
class CrateContents:
    manifest: dict
    files: dict[str, bytes] = field(default_factory=dict)  # wanted extra files, by path inside the package


def inspect_crate(data: bytes, name: str, version: str, max_unpacked: int, wanted=(), *,
                  publish_policy: bool = True) -> CrateContents:
    """Refuse anything ``cargo package`` would not produce; return the parsed ``Cargo.toml``.

    Every path must be written plainly and the manifest be there once. ``publish_policy=False`` is for crates
    another registry accepted (import, mirroring): other files that collide with each other (exact or by
    letter case) are let through, as cargo wrote such crates and crates.io holds them.
    """
    if not data.startswith(b"\x1f\x8b"):
        raise BadRequest("the .crate file is not gzip-compressed; upload the file `cargo package` builds")
    prefix = f"{name}-{version}/"
    try:
        captured = _scan(data, prefix, max_unpacked, {"Cargo.toml", *wanted}, _PackagePaths(prefix, publish_policy))
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise BadRequest(f"the .crate file is not a readable gzip tar archive ({exc}); "
                         "upload the file `cargo package` builds") from exc
    if "Cargo.toml" not in captured:
        raise BadRequest(f"the .crate file has no `{prefix}Cargo.toml`")
    manifest = _parse_manifest(captured.pop("Cargo.toml"))
    _check_manifest_matches(manifest, name, version)
    return CrateContents(manifest=manifest, files=captured)


def _scan(data: bytes, prefix: str, max_unpacked: int, wanted: set[str], paths: "_PackagePaths") -> dict[str, bytes]:
    captured, unpacked = {}, 0
    stream = gzip.GzipFile(fileobj=io.BytesIO(data), mode="rb")
    with tarfile.open(fileobj=stream, mode="r|", tarinfo=_CheckedTarInfo) as archive:
        for count, member in enumerate(archive, start=1):
            _check_member(member, prefix)
            _check_how_it_is_named(member, archive.pax_headers)
            paths.add(member)
            unpacked += member.size
            if unpacked > max_unpacked:
                raise BadRequest(f"the .crate file unpacks to more than {max_unpacked} bytes, the limit of "
                                 f"[general] max_unpacked_size (reached at `{member.name[:200]}`); leave large "
                                 "files out of the package (`exclude` in Cargo.toml) or ask an administrator to "
                                 "raise the limit")
            if count > MAX_ENTRIES:
                raise BadRequest(f"the .crate file has more than {MAX_ENTRIES} entries, the most this registry "
                                 "unpacks (a fixed limit); leave files out of the package (`exclude` in Cargo.toml)")
            relative = member.name[len(prefix):]
            if member.isfile() and relative in wanted:
                captured[relative] = _read_member(archive, member, relative)
    _drain_to_checksum(stream, max_unpacked - unpacked + TAR_PADDING)
    return captured


class _CheckedTarInfo(tarfile.TarInfo):
    """Refuses oversized pax and GNU long-name headers before tarfile reads and parses them, and keeps the
    type each header gave (tarfile turns a regular-file header whose name ends in `/` into a folder)."""

    header_type = tarfile.REGTYPE

    @classmethod
    def frombuf(cls, buf, encoding, errors):
        member = super().frombuf(buf, encoding, errors)
        member.header_type = buf[156:157]
        return member

    def _proc_member(self, archive):
        limit = EXTENDED_HEADER_LIMITS.get(self.type)
        if limit is not None and self.size > limit:
            raise BadRequest(f"the .crate file has a {self.size}-byte extended tar header (pax or GNU long name); "
                             f"the limit is {limit} bytes (a fixed limit): upload the file `cargo package` builds")
        return super()._proc_member(archive)


def _drain_to_checksum(stream: gzip.GzipFile, allowance: int) -> None:
    """Read past the tar's end so gzip checks its CRC; a corrupt or padded-out file is refused."""
    while chunk := stream.read(64 * 1024):
        allowance -= len(chunk)
        if allowance < 0:
            raise BadRequest("the .crate file has more data after the end of its tar archive than it may unpack to "
                             "([general] max_unpacked_size); upload the file `cargo package` builds")


def _check_member(member: tarfile.TarInfo, prefix: str) -> None:
    path = member.name
    parts = path.split("/")  # not PurePosixPath: it would hide the `.` and empty segments refused below
    if path.startswith("/") or "\\" in path or ".." in parts or ":" in parts[0]:
        raise BadRequest(f"the .crate file contains the unsafe path `{path[:200]}`; every path must be relative, "
                         "with `/` between folders and no `..`, as `cargo package` writes it")
    if not (member.isfile() or member.isdir()):
        raise BadRequest(f"the .crate file contains `{path[:200]}`, which is a link or special file; "
                         "packages may only hold regular files")
    if not (path + "/").startswith(prefix):
        raise BadRequest(f"the .crate file contains `{path[:200]}` outside `{prefix}`; "
                         "every entry must sit under the crate's name-version folder")
    # tarfile strips a folder's trailing `/`; cargo unpacks `a/./b`, `a//b` and a file `a/b/` all as `a/b`, so
    # such a path could stand in for a file the registry checked under its plain name.
    if "" in parts or "." in parts:
        plain = "/".join(part for part in parts if part not in ("", "."))
        raise BadRequest(f"the .crate file contains `{path[:200]}`, which cargo would unpack as `{plain[:200]}`; "
                         "write every path plainly, without `.` or empty segments or a trailing `/` on a file, "
                         "as `cargo package` does")
    if path[len(prefix):].casefold() == CARGO_MARKER:
        raise BadRequest(f"the .crate file contains `{path[:200]}`, the marker cargo writes when it unpacks a "
                         "crate; remove it from the package")


def _check_how_it_is_named(member: tarfile.TarInfo, global_headers: dict) -> None:
    """Refuse what tarfile and cargo's tar reader may name or read differently; `cargo package` writes none."""
    if member.isdir() and member.header_type != tarfile.DIRTYPE:
        raise BadRequest(f"the .crate file has `{member.name[:200]}/` as a file entry whose name ends in `/`, "
                         "which tar readers unpack as a file or a folder; build the file with `cargo package`")
    if member.issparse() or any(key.startswith("GNU.sparse.") for key in member.pax_headers):
        raise BadRequest(f"the .crate file stores `{member.name[:200]}` as a sparse file; packages hold plain "
                         "files: build the file with `cargo package`")
    if "path" in global_headers or "linkpath" in global_headers:
        raise BadRequest("the .crate file has a global pax header that renames the entries after it, which "
                         "cargo's tar reader ignores; build the file with `cargo package`")


class _PackagePaths:
    """The paths seen so far, case-folded: two members that unpack to the same file (exactly, or on the
    case-insensitive file systems of macOS and Windows) are refused, as is a file that is also a folder.
    Without the publish policy only a second manifest is."""

    def __init__(self, prefix: str, publish_policy: bool):
        self.manifest = f"{prefix}Cargo.toml".casefold()
        self.publish_policy = publish_policy
        self.files: dict[str, str] = {}  # case-folded path: the path as first written
        self.folders: set[str] = set()  # case-folded, explicit entries and the parents of every file

    def add(self, member: tarfile.TarInfo) -> None:
        path, key = member.name, member.name.casefold()
        if not self.publish_policy:
            if member.isfile() and key == self.manifest:
                self._add_file(path, key)
            return
        if member.isfile():
            self._add_file(path, key)
        elif key in self.files:
            raise BadRequest(_file_and_folder(path))
        else:
            self.folders.add(key)
        self._add_parents(path)

    def _add_file(self, path: str, key: str) -> None:
        if key in self.files:
            _refuse_twice(path, self.files[key])
        if key in self.folders:
            raise BadRequest(_file_and_folder(path))
        self.files[key] = path

    def _add_parents(self, path: str) -> None:
        segments = path.split("/")  # case folding never adds or removes a `/`
        for depth in range(len(segments) - 1, 0, -1):
            parent = "/".join(segments[:depth])
            key = parent.casefold()
            if key in self.folders:
                return  # and so are its own parents
            if key in self.files:
                raise BadRequest(_file_and_folder(parent))
            self.folders.add(key)


def _refuse_twice(path: str, earlier: str) -> None:
    if path == earlier:
        raise BadRequest(f"the .crate file contains `{path[:200]}` twice, and cargo would unpack the last copy "
                         "over the first; build the file with `cargo package`, which writes each file once")
    raise BadRequest(f"the .crate file contains `{earlier[:200]}` and `{path[:200]}`, which differ only by "
                     "letter case and unpack to the same file on macOS and Windows; rename or remove one of "
                     "them and package again")


def _file_and_folder(path: str) -> str:
    return (f"the .crate file has `{path[:200]}` both as a file and as a folder (letter case aside); "
            "rename one of them and package again")


def _read_member(archive: tarfile.TarFile, member: tarfile.TarInfo, relative: str) -> bytes:
    limit = MAX_MANIFEST_SIZE if relative == "Cargo.toml" else MAX_EXTRA_FILE_SIZE
    if member.size > limit:
        raise BadRequest(f"`{relative}` in the .crate file is {member.size} bytes; the registry reads at most "
                         f"{limit} bytes of it (a fixed limit): make it smaller")
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
