"""Cargo's publish frame (u32-LE JSON length, JSON, u32-LE tarball length, tarball) and its size limits."""

import json
import struct

from ..errors import BadRequest, PayloadTooLarge


def max_upload_size(max_crate_size: int, max_metadata_size: int) -> int:
    """The largest publish body worth reading: cargo's frame is 8 length bytes, the metadata and the crate."""
    return max_crate_size + max_metadata_size + 8


def upload_too_large(size: int | None, max_crate_size: int) -> PayloadTooLarge:
    limit = f"this registry's limit of {max_crate_size} bytes per crate ([general] max_crate_size)"
    if size is None:
        return PayloadTooLarge(f"the upload is larger than {limit}")
    return PayloadTooLarge(f"the upload is {size} bytes, over {limit}")


def parse_upload(body: bytes, max_metadata: int) -> tuple[object, bytes]:
    """Split the frame into the metadata (parsed JSON) and the ``.crate`` bytes."""
    json_length = _read_length(body, 0, "metadata")
    if json_length > max_metadata:
        raise PayloadTooLarge(f"the publish metadata is {json_length} bytes, over this registry's limit of "
                              f"{max_metadata} ([general] max_metadata_size); it holds the README, so shorten that "
                              "or ask an administrator to raise the limit")
    _require_bytes(body, 4, json_length, "metadata")
    try:
        metadata = json.loads(body[4:4 + json_length].decode("utf-8"))
        # JSON escapes can smuggle in lone surrogates, which no database can store.
        json.dumps(metadata, ensure_ascii=False).encode("utf-8")
    except (UnicodeError, ValueError, RecursionError) as exc:
        raise BadRequest(f"the publish metadata is not valid UTF-8 JSON: {exc}") from exc
    offset = 4 + json_length
    tar_length = _read_length(body, offset, "crate file")
    _require_bytes(body, offset + 4, tar_length, "crate file")
    if offset + 4 + tar_length != len(body):
        raise BadRequest(f"the upload has {len(body) - offset - 4 - tar_length} unexpected bytes after the crate file")
    return metadata, body[offset + 4:]


def _read_length(body: bytes, offset: int, what: str) -> int:
    if len(body) < offset + 4:
        raise BadRequest(f"the upload is truncated: it ends before the length of the {what}; "
                         "publish with `cargo publish`")
    return struct.unpack_from("<I", body, offset)[0]


def _require_bytes(body: bytes, start: int, length: int, what: str) -> None:
    if start + length > len(body):
        raise BadRequest(f"the upload is truncated: the {what} is said to be {length} bytes, "
                         f"but only {len(body) - start} follow")
