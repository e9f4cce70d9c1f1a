"""The content-addressed object store beside a site's backups: `<backups>/<domain>/objects/`.

Each regular file of a format-2 backup is one object, `objects/<sha[:2]>/<sha256>`, holding the
file's content as one zstd frame. An object is written once and shared by every backup whose
manifest names its sha256, so a file unchanged since the previous backup costs nothing again.
`index.json` maps each site path to (size, mtime_ns, inode, sha256) as last stored: a file whose
three match is not even opened. `.lock` (flock) keeps garbage collection out while a backup is
writing: objects a backup has stored but not yet published would look unreferenced."""
from __future__ import annotations

import contextlib
import ctypes
import fcntl
import hashlib
import itertools
import json
import os
import secrets
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import zstandard

from provision.backup import frames
from provision.errors import ProvisionError

if TYPE_CHECKING:
    from provision.runner import Runner

OBJECTS = "objects"
INDEX = "index.json"
LOCK = ".lock"
CHUNK = 4 << 20
WHOLE = 16 << 20  # files up to this size are read and compressed in one call each
_HEX = "0123456789abcdef"


def store_of(archive_dir: Path) -> Path:
    return Path(archive_dir) / OBJECTS


def object_path(store: Path, sha256: str) -> Path:
    if len(sha256) != 64 or any(c not in _HEX for c in sha256):
        raise ProvisionError(f"{sha256[:80]!r} is not a sha256 object name.")
    return store / sha256[:2] / sha256


@contextlib.contextmanager
def locked(store: Path, *, wait: bool = True) -> Iterator[bool]:
    """Hold the store's lock; yields False (without holding it) when WAIT is off and it is busy."""
    store.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(store / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # releases the lock


def prepare(store: Path) -> set[str]:
    """Make the 256 fan-out folders, drop temporary files an interrupted backup left (we hold
    the lock: nobody is writing), and return the names of the objects present."""
    present: set[str] = set()
    for a in _HEX:
        for b in _HEX:
            folder = store / (a + b)
            folder.mkdir(mode=0o700, exist_ok=True)
            with os.scandir(folder) as listing:
                for entry in listing:
                    if entry.name.startswith("."):
                        os.unlink(entry.path)
                    else:
                        present.add(entry.name)
    return present


def load_index(store: Path) -> dict[str, Any]:
    try:
        with open(store / INDEX, "rb") as handle:
            index = json.load(handle)
        if isinstance(index, dict) and isinstance(index.get("files"), dict):
            return index
    except (OSError, ValueError):
        pass  # no index, or a damaged one: every file is read again, nothing worse
    return {"files": {}, "database_size": 0}


def save_index(store: Path, index: dict[str, Any]) -> None:
    tmp = store / f".{INDEX}.{secrets.token_hex(4)}"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(index, handle, separators=(",", ":"))
    os.replace(tmp, store / INDEX)


_local = threading.local()
_serial = itertools.count()


def _compressor() -> zstandard.ZstdCompressor:
    # One per thread: a ZstdCompressor must not be used by two threads at once.
    if not hasattr(_local, "cctx"):
        _local.cctx = zstandard.ZstdCompressor(level=3, write_checksum=False)
    return _local.cctx


def store_file(store: Path, path: str, present: set[str]) -> tuple[int, str, int]:
    """Read the file at PATH once, hashing it and (if its content is new) compressing it into
    the store. Returns (size, sha256, bytes written to the store). Runs in worker threads:
    reading, hashing, compressing and writing all release the GIL."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        size = os.fstat(fd).st_size
        if size > WHOLE:
            with open(fd, "rb", buffering=0, closefd=False) as source:
                return _store_large(store, source, present)
        data = _read_to_end(fd, size)
    finally:
        os.close(fd)
    sha256 = hashlib.sha256(data).hexdigest()
    if sha256 in present:
        return len(data), sha256, 0
    cctx = _compressor()
    parts = frames.raw_frame(data) if frames.incompressible(cctx, data) else [cctx.compress(data)]
    return len(data), sha256, _write_object(store, sha256, parts, present)


def _read_to_end(fd: int, size: int) -> bytes:
    """The file's content as it is now (it may have grown or shrunk since SIZE was read), in
    one read when it has not: a regular file reads short only at its end."""
    data = os.read(fd, size + 1)
    if len(data) <= size:
        return data
    rest = [data]
    while chunk := os.read(fd, CHUNK):
        rest.append(chunk)
    return b"".join(rest)


def _write_object(store: Path, sha256: str, parts: list[bytes | memoryview], present: set[str]) -> int:
    # Plain strings, not object_path(): the name is our own hexdigest, and at thousands of
    # objects a second, pathlib's parsing is a measurable part of a backup.
    folder = f"{store}/{sha256[:2]}"
    final = f"{folder}/{sha256}"
    # Unique within this process; other processes' backups wait for the store's lock.
    tmp = f"{folder}/.{sha256}.{os.getpid()}.{next(_serial)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        written = _write_all(fd, parts)
    finally:
        os.close(fd)
    os.replace(tmp, final)  # the same name is the same content: replacing a twin is harmless
    present.add(sha256)
    return written


def _write_all(fd: int, parts: list[bytes | memoryview]) -> int:
    """Write PARTS in as few system calls as the kernel allows (os.writev may write less)."""
    views = [memoryview(p) for p in parts if len(p)]
    total = sum(len(v) for v in views)
    while views:
        done = os.writev(fd, views[:1024])  # IOV_MAX
        while done:
            if done >= len(views[0]):
                done -= len(views.pop(0))
            else:
                views[0] = views[0][done:]
                done = 0
    return total


def _store_large(store: Path, source: IO[bytes], present: set[str]) -> tuple[int, str, int]:
    tmp = store / f".large-{secrets.token_hex(8)}"
    digest = hashlib.sha256()
    size = 0

    def chunks() -> Iterator[bytes]:
        nonlocal size
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            yield chunk

    try:
        with open(tmp, "xb") as out:
            os.chmod(tmp, 0o600)
            stream = chunks()
            first = next(stream, b"")
            rest = itertools.chain([first], stream)
            if frames.incompressible(_compressor(), first):
                for piece in frames.raw_stream(rest):
                    out.write(piece)
            else:
                writer = _compressor().stream_writer(out, closefd=False)
                for chunk in rest:
                    writer.write(chunk)
                writer.flush(zstandard.FLUSH_FRAME)
            written = out.tell()
        sha256 = digest.hexdigest()
        if sha256 in present:
            tmp.unlink()
            return size, sha256, 0
        os.replace(tmp, object_path(store, sha256))
        present.add(sha256)
        return size, sha256, written
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def sync(store: Path) -> None:
    """Everything written to the store's filesystem on disk, before an archive names it:
    one syncfs instead of an fsync per object (thousands of journal commits)."""
    fd = os.open(store, os.O_RDONLY | os.O_DIRECTORY)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if getattr(libc, "syncfs", None) is None or libc.syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


def read_object(store: Path, sha256: str, runner: Runner | None, sink: IO[bytes] | None = None) -> tuple[int, str]:
    """Decompress object SHA256 (into SINK if given); returns (size, sha256 of the content)."""
    from provision.backup.archive import hash_stream

    path = object_path(store, sha256)
    try:
        with open(path, "rb") as raw:
            return hash_stream(zstandard.ZstdDecompressor().stream_reader(raw, read_size=1 << 20), runner, sink)
    except FileNotFoundError:
        raise ProvisionError(f"The object {sha256} is missing from {store}.") from None
    except zstandard.ZstdError as exc:
        raise ProvisionError(f"The object {sha256} in {store} is damaged: {exc}") from None


# -- garbage collection ----------------------------------------------------------------------


@dataclass(frozen=True)
class Collected:
    removed: int
    freed: int  # bytes
    kept: int


def references(archive: Path) -> set[str]:
    """The objects the archive at ARCHIVE names. A format-2 archive starts with its manifest;
    a format-1 archive (everything inside) names none."""
    from provision.backup.archive import MANIFEST, SITE, _parse_manifest

    try:
        with open(archive, "rb") as raw:
            reader = zstandard.ZstdDecompressor().stream_reader(raw, read_size=1 << 20)
            with tarfile.open(fileobj=reader, mode="r|", bufsize=64 << 10) as tar:
                first = next(iter(tar), None)
                if first is None or first.name != MANIFEST:
                    return set()
                source = tar.extractfile(first)
                assert source is not None
                manifest = _parse_manifest(source.read(), str(archive))
    except (OSError, zstandard.ZstdError, tarfile.TarError, EOFError, AssertionError) as exc:
        raise ProvisionError(f"Could not read the manifest of {archive}: {exc}") from None
    return {m["sha256"] for m in manifest["members"]
            if m.get("type") == "file" and str(m.get("path", "")).startswith(SITE + "/")}


def collect_garbage(archive_dir: Path) -> Collected | None:
    """Remove the objects no remaining archive in ARCHIVE_DIR names. Returns None, removing
    nothing, when a backup holds the store or an archive's manifest cannot be read (an object
    only it names would be lost)."""
    store = store_of(archive_dir)
    if not store.is_dir():
        return Collected(0, 0, 0)
    with locked(store, wait=False) as got:
        if not got:
            return None
        wanted: set[str] = set()
        for archive in Path(archive_dir).glob("*.tar.zst"):
            try:
                wanted |= references(archive)
            except ProvisionError:
                return None
        removed = freed = kept = 0
        for folder in store.iterdir():
            if not folder.is_dir() or len(folder.name) != 2:
                continue
            with os.scandir(folder) as listing:
                for entry in listing:
                    if entry.name in wanted:
                        kept += 1
                        continue
                    freed += entry.stat(follow_symlinks=False).st_size
                    os.unlink(entry.path)
                    removed += 1
        return Collected(removed, freed, kept)
