"""The archive format of backups: a POSIX (pax) tar stream compressed with zstd, written and
read in one pass with every regular file hashed on the way.

Tar headers come from tarfile.TarInfo, but data goes straight into the compressor: tarfile's
own stream writer re-slices its buffer on every write, which costs more than compressing."""
from __future__ import annotations

import hashlib
import json
import os
import posixpath
import queue
import tarfile
import threading
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, BinaryIO, Protocol

import zstandard

from provision.errors import ProvisionError

if TYPE_CHECKING:
    from provision.runner import Runner

CHUNK = 1 << 20  # bytes per read: large, so hashing and compressing run in few Python calls
_WRITEBACK = 16 << 20  # bytes of archive between two nudges to write back to disk
_BLOCK = tarfile.BLOCKSIZE
_RECORD = tarfile.RECORDSIZE
_CHECK_EVERY = 64  # chunks between two runner.check_stop() calls inside one large file
_QUEUE = 16  # chunks on their way to the compressor
_SMALL = 64 << 10  # writes below this are gathered before being handed over
MANIFEST = "manifest.json"
DATABASE = "database.sql"
SITE = "site"
MAX_MANIFEST = 256 << 20
# 1: everything inside the archive (written before the object store, still read);
# 2: files in the object store beside the archive (provision.backup.incremental).
FORMATS = (1, 2)


@dataclass
class Member:
    """What the manifest says of one member."""

    path: str
    type: str  # "file", "dir" or "symlink"
    size: int = 0
    sha256: str = ""
    target: str = ""

    def as_json(self) -> dict[str, object]:
        if self.type == "file":
            return {"path": self.path, "type": "file", "size": self.size, "sha256": self.sha256}
        if self.type == "symlink":
            return {"path": self.path, "type": "symlink", "target": self.target}
        return {"path": self.path, "type": self.type}


class _HashingSink:
    """The archive file, hashed as the compressor writes it (the Backup record's checksum).

    Every _WRITEBACK bytes it asks the kernel to start writing what came before: the final
    fsync then has only the tail left to wait for, instead of the whole archive (on a disk
    writing ~400 MB/s that wait was as long as the compression), and the archive does not
    push the sites' own files out of the page cache."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.hash = hashlib.sha256()
        self.size = 0
        self.advised = 0
        try:
            self.fd: int | None = raw.fileno() if hasattr(os, "posix_fadvise") else None
        except (OSError, ValueError, AttributeError):
            self.fd = None

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.size += len(data)
        written = self.raw.write(data)
        if self.fd is not None and self.size - self.advised >= 2 * _WRITEBACK:
            # Up to one window behind: that part has surely left the writer's own buffer.
            upto = self.size - _WRITEBACK
            # DONTNEED on dirty pages starts their writeback (Linux) and drops them once clean.
            os.posix_fadvise(self.fd, self.advised, upto - self.advised, os.POSIX_FADV_DONTNEED)
            self.advised = upto
        return written

    def flush(self) -> None:
        self.raw.flush()


class TarWriter:
    """Writes members into RAW as a zstd-compressed tar stream. Use it as a context manager:
    leaving the block stops its thread whatever happened.

    Two threads share the work besides zstd's own workers (one per CPU): the caller's reads
    files and hashes them, a second one feeds the compressor and hashes and writes the
    archive. One thread doing all of that would cap a backup at the speed of one core,
    whatever the number of cores compressing."""

    def __init__(self, raw: BinaryIO, runner: Runner, *, level: int = 3, threads: int = -1) -> None:
        self.runner = runner
        self.sink = _HashingSink(raw)
        compressor = zstandard.ZstdCompressor(level=level, threads=threads, write_checksum=True)
        self.out = compressor.stream_writer(self.sink, write_size=CHUNK, closefd=False)  # type: ignore[arg-type]
        self.written = 0  # uncompressed bytes, for the end-of-archive padding
        self._small = bytearray()  # headers and padding, gathered into fewer hand-overs
        # Bounded: a slow disk holds the reading thread back instead of filling memory.
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=_QUEUE)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._drain, name="backup-compress", daemon=True)
        self._thread.start()

    def __enter__(self) -> TarWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop()

    def _drain(self) -> None:
        while (data := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self.out.write(data)
                except BaseException as exc:  # noqa: BLE001 - handed to the reading thread
                    self._error = exc  # and keep taking data, so the reader is never stuck

    def _put(self, data: bytes) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(data)

    def _stop(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def _write(self, data: bytes) -> None:
        self.written += len(data)
        if len(data) < _SMALL:
            self._small += data
            if len(self._small) < _SMALL:
                return
            data, self._small = bytes(self._small), bytearray()
        elif self._small:
            self._put(bytes(self._small))
            self._small = bytearray()
        self._put(data)

    def _header(self, info: tarfile.TarInfo) -> None:
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        self._write(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))

    def add_dir(self, name: str, mode: int, mtime: float) -> Member:
        info = tarfile.TarInfo(name)
        info.type, info.mode, info.mtime = tarfile.DIRTYPE, mode & 0o7777, int(mtime)
        self._header(info)
        return Member(name, "dir")

    def add_symlink(self, name: str, target: str, mtime: float) -> Member:
        info = tarfile.TarInfo(name)
        info.type, info.linkname, info.mode, info.mtime = tarfile.SYMTYPE, target, 0o777, int(mtime)
        self._header(info)
        return Member(name, "symlink", target=target)

    def add_file(self, name: str, source: IO[bytes], size: int, mode: int, mtime: float) -> Member:
        """Copy SIZE bytes of SOURCE, hashing them on the way. A file that shrank while being
        read is padded with zeros (as GNU tar does), so the header stays true; the hash is of
        what was archived."""
        info = tarfile.TarInfo(name)
        info.type, info.size, info.mode, info.mtime = tarfile.REGTYPE, size, mode & 0o7777, int(mtime)
        self._header(info)
        digest = hashlib.sha256()
        remaining = size
        chunks = 0
        while remaining:
            want = min(CHUNK, remaining)
            # A new bytes object per chunk: the other thread may still be compressing the last.
            chunk = source.read(want)
            if not chunk:
                self.runner.log("warning", f"{name} shrank while it was archived; padded with zeros.")
                chunk = bytes(want)
            digest.update(chunk)
            self._write(chunk)
            remaining -= len(chunk)
            chunks += 1
            if chunks % _CHECK_EVERY == 0:
                self.runner.check_stop()
        padding = -size % _BLOCK
        if padding:
            self._write(bytes(padding))
        return Member(name, "file", size=size, sha256=digest.hexdigest())

    def add_bytes(self, name: str, data: bytes, mtime: float) -> Member:
        info = tarfile.TarInfo(name)
        info.type, info.size, info.mode, info.mtime = tarfile.REGTYPE, len(data), 0o644, int(mtime)
        self._header(info)
        self._write(data)
        self._write(bytes(-len(data) % _BLOCK))
        return Member(name, "file", size=len(data), sha256=hashlib.sha256(data).hexdigest())

    def close(self) -> tuple[int, str]:
        """End the tar stream and the zstd frame; returns (compressed size, its sha256)."""
        end = 2 * _BLOCK
        self._write(bytes(end + (-(self.written + end) % _RECORD)))
        if self._small:
            self._put(bytes(self._small))
        self._stop()
        if self._error is not None:
            raise self._error
        self.out.flush(zstandard.FLUSH_FRAME)
        self.sink.flush()
        return self.sink.size, self.sink.hash.hexdigest()


# -- reading -----------------------------------------------------------------------------


def in_store(manifest: dict[str, Any], entry: Any) -> bool:
    """Is ENTRY of a format-2 MANIFEST's members an object of the store: a file under site/, or
    the database dump when the manifest says it was stored there (`database.in_store`, backups
    since 2026-12-08: an unchanged dump is then not written again)? Earlier dumps are in the
    archive."""
    if not isinstance(entry, dict):
        return False
    path = str(entry.get("path", ""))
    if path == SITE or path.startswith(SITE + "/"):
        return True
    database = manifest.get("database")
    return path == DATABASE and isinstance(database, dict) and database.get("in_store") is True


def check_member_name(name: str) -> None:
    """Refuse any member but manifest.json, database.sql and a clean path under site/."""
    clean = posixpath.normpath(name) if name else ""
    parts = name.split("/")
    if (name != clean or name.startswith("/") or "" in parts or "." in parts or ".." in parts
            or "\x00" in name):
        raise ProvisionError(f"The archive holds a member with an unsafe path: {name[:200]!r}.")
    if name not in (MANIFEST, DATABASE, SITE) and not name.startswith(SITE + "/"):
        raise ProvisionError(f"The archive holds an unexpected member: {name[:200]!r}.")


def kind_of(info: tarfile.TarInfo) -> str:
    if info.isreg():
        return "file"
    if info.isdir():
        return "dir"
    if info.issym():
        return "symlink"
    raise ProvisionError(f"The archive member {info.name[:200]!r} is a link, device or other "
                         "special file; backups hold only files, directories and symlinks.")


class Extractor(Protocol):
    """Where scan() puts members: create dirs and links, and give a file to write each
    regular file's data into (None: only hash it)."""

    def member(self, info: tarfile.TarInfo) -> BinaryIO | None: ...

    def finished(self, info: tarfile.TarInfo, sink: BinaryIO) -> None: ...


def scan(path: str, runner: Runner | None,
         extractor: Extractor | None = None) -> tuple[list[Member], dict[str, Any]]:
    """Read the archive at PATH in one pass: check each member's name and type, hash every
    regular file (writing it through EXTRACTOR when given), and return what was found and the
    parsed manifest. Damage in the compressed stream or the tar structure becomes a
    ProvisionError naming the member being read."""
    found: list[Member] = []
    seen: set[str] = set()
    manifest: bytes | None = None
    current = "the start of the archive"
    try:
        with open(path, "rb") as raw:
            reader = zstandard.ZstdDecompressor().stream_reader(raw, read_size=CHUNK)
            # 64 KiB: tarfile's stream reader copies its whole buffer on every read.
            with tarfile.open(fileobj=reader, mode="r|", bufsize=64 << 10) as tar:
                for info in tar:
                    if runner is not None:
                        runner.check_stop()
                    current = repr(info.name[:200])
                    if info.name in seen:
                        raise ProvisionError(f"The archive holds {current} twice.")
                    seen.add(info.name)
                    if info.name == MANIFEST:
                        manifest = _read_manifest(tar, info)
                    else:
                        found.append(_scan_member(tar, info, runner, extractor))
                    current = f"the member after {current}"
    except FileNotFoundError:
        raise ProvisionError(f"The backup {path} does not exist.") from None
    except (zstandard.ZstdError, tarfile.TarError, EOFError) as exc:
        raise ProvisionError(f"The backup {path} is damaged at {current}: {exc}") from None
    return found, _parse_manifest(manifest, path)


def _scan_member(tar: tarfile.TarFile, info: tarfile.TarInfo, runner: Runner | None,
                 extractor: Extractor | None) -> Member:
    check_member_name(info.name)
    kind = kind_of(info)
    sink = extractor.member(info) if extractor is not None else None
    if kind != "file":
        return Member(info.name, kind, target=info.linkname if kind == "symlink" else "")
    source = tar.extractfile(info)
    assert source is not None
    try:
        size, sha256 = hash_stream(source, runner, sink)
    except BaseException:
        if sink is not None:
            sink.close()
        raise
    if sink is not None and extractor is not None:
        extractor.finished(info, sink)
    return Member(info.name, "file", size=size, sha256=sha256)


def _read_manifest(tar: tarfile.TarFile, info: tarfile.TarInfo) -> bytes:
    source = tar.extractfile(info) if info.isreg() and info.size <= MAX_MANIFEST else None
    if source is None:
        raise ProvisionError("The archive's manifest.json is not a plain file of sane size.")
    return source.read()


def _parse_manifest(manifest: bytes | None, path: str) -> dict[str, Any]:
    if manifest is None:
        raise ProvisionError(f"The backup {path} has no manifest.json: it is incomplete or not a "
                             "Harbormaster backup.")
    try:
        parsed = json.loads(manifest)
    except ValueError as exc:
        raise ProvisionError(f"The manifest of {path} is not valid JSON: {exc}") from None
    if (not isinstance(parsed, dict) or parsed.get("format") not in FORMATS
            or not isinstance(parsed.get("members"), list)):
        raise ProvisionError(f"The manifest of {path} is not a Harbormaster manifest of format "
                             f"{' or '.join(map(str, FORMATS))}.")
    return parsed


def compare(found: list[Member], manifest: dict[str, Any], path: str) -> None:
    """Raise a ProvisionError naming the first member (in manifest order) whose type, size,
    checksum or link target differs from what the manifest says, or that is missing or extra."""
    by_path = {m.path: m for m in found}
    listed: set[str] = set()
    for entry in manifest["members"]:
        name = str(entry.get("path", "")) if isinstance(entry, dict) else ""
        listed.add(name)
        got = by_path.get(name)
        if got is None:
            raise ProvisionError(f"{name!r} is listed in the manifest of {path} but missing from "
                                 "the archive.")
        if got.type != entry.get("type"):
            raise ProvisionError(f"{name!r} in {path} is a {got.type}, but the manifest says "
                                 f"{entry.get('type')}.")
        if got.type == "file" and (got.size != entry.get("size") or got.sha256 != entry.get("sha256")):
            raise ProvisionError(f"{name!r} in {path} is damaged: {got.size} bytes with sha256 "
                                 f"{got.sha256}, but the manifest says {entry.get('size')} bytes "
                                 f"with sha256 {entry.get('sha256')}.")
        if got.type == "symlink" and got.target != entry.get("target"):
            raise ProvisionError(f"The link {name!r} in {path} points elsewhere than the manifest says.")
    for member in found:
        if member.path not in listed:
            raise ProvisionError(f"{member.path!r} in {path} is not listed in its manifest.")
def hash_stream(source: IO[bytes], runner: Runner | None, sink: IO[bytes] | None = None) -> tuple[int, str]:
    """Read SOURCE to its end (copying it to SINK if given); returns (size, sha256)."""
    digest = hashlib.sha256()
    size = 0
    chunks = 0
    while True:
        data = source.read(CHUNK)
        if not data:
            return size, digest.hexdigest()
        digest.update(data)
        size += len(data)
        if sink is not None:
            sink.write(data)
        chunks += 1
        if runner is not None and chunks % _CHECK_EVERY == 0:
            runner.check_stop()
