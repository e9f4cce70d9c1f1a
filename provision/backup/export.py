"""One backup as one plain tar stream that `tar -x` reads without us: the archive's own members
(manifest.json, database.sql; a format-1 archive holds site/ too) and, for a format-2 backup,
the site's files taken from the object store beside the archive (provision.backup.store).

A generator of byte chunks: nothing but one file's content at a time is held, and that in a
spooled temporary file (memory up to a few MiB, then disk), because the store's reader writes
an object whole into a sink while a tar member needs its size before its content."""
from __future__ import annotations

import json
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import zstandard

from provision.backup import store as objects
from provision.backup.archive import MANIFEST, MAX_MANIFEST, SITE, check_member_name
from provision.backup.reader import Reader
from provision.errors import ProvisionError

CHUNK = 1 << 20
SPOOL = 8 << 20
_BLOCK = tarfile.BLOCKSIZE


def _header(info: tarfile.TarInfo) -> bytes:
    return info.tobuf(format=tarfile.PAX_FORMAT, encoding="utf-8", errors="strict")


def _content(handle: IO[bytes], size: int) -> Iterator[bytes]:
    left = size
    while left > 0:
        chunk = handle.read(min(CHUNK, left))
        if not chunk:
            raise ProvisionError("A member of the backup ended early.")
        left -= len(chunk)
        yield chunk
    if size % _BLOCK:
        yield b"\0" * (_BLOCK - size % _BLOCK)


def export_tar(archive: Path) -> Iterator[bytes]:
    """The chunks of a plain tar of the backup ARCHIVE (raises ProvisionError on a damaged
    archive or a missing object; the stream then ends early, never as a complete tar)."""
    manifest: dict[str, Any] | None = None
    with open(archive, "rb") as raw:
        reader = zstandard.ZstdDecompressor().stream_reader(raw, read_size=CHUNK)
        with tarfile.open(fileobj=reader, mode="r|", bufsize=64 << 10) as tar:
            for info in tar:
                check_member_name(info.name)
                if info.isfile():
                    source = tar.extractfile(info)
                    assert source is not None
                    if info.name == MANIFEST:
                        data = source.read(MAX_MANIFEST + 1)
                        manifest = json.loads(data)
                        yield _header(info)
                        yield from _content(_bytes(data), len(data))
                        continue
                    yield _header(info)
                    yield from _content(source, info.size)
                elif info.isdir() or info.issym():
                    yield _header(info)
    if isinstance(manifest, dict) and manifest.get("format") == 2:
        yield from _store_members(objects.store_of(archive.parent), manifest)
    yield b"\0" * (2 * _BLOCK)


def _bytes(data: bytes) -> IO[bytes]:
    import io

    return io.BytesIO(data)


def _store_members(store: Path, manifest: dict[str, Any]) -> Iterator[bytes]:
    with Reader(store) as reader:
        for entry in manifest.get("members") or []:
            if not (isinstance(entry, dict) and str(entry.get("path", "")).startswith(SITE)):
                continue
            name, kind = str(entry["path"]), entry.get("type")
            check_member_name(name)
            info = tarfile.TarInfo(name)
            info.mode, info.mtime = int(entry.get("mode", 0o644)) & 0o7777, int(entry.get("mtime", 0))
            if kind == "dir":
                info.type = tarfile.DIRTYPE
                yield _header(info)
            elif kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, str(entry.get("target", ""))
                yield _header(info)
            elif kind == "file":
                with tempfile.SpooledTemporaryFile(max_size=SPOOL) as spool:
                    size, _ = reader.read(str(entry.get("sha256", "")), None, spool)
                    spool.seek(0)
                    info.size = size
                    yield _header(info)
                    yield from _content(spool, size)
            else:
                raise ProvisionError(f"The manifest lists {name[:200]!r} as a {kind!r}.")
