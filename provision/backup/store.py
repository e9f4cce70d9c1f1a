"""The content-addressed object store beside a site's backups: `<backups>/<domain>/objects/`.

Each regular file of a format-2 backup is one object: the file's content as one zstd frame,
named by its sha256. Objects are written into pack files (provision.backup.packs,
`objects/packs/`); stores written before packs hold loose objects, `objects/<sha[:2]>/<sha256>`,
which are still read and collected. An object is written once and shared by every backup whose
manifest names its sha256, so a file unchanged since the previous backup costs nothing again.
`index.json` maps each site path to (size, mtime_ns, inode, sha256) as last stored: a file whose
three match is not even opened. `.lock` (flock) keeps garbage collection out while a backup is
writing: objects a backup has stored but not yet published would look unreferenced."""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import itertools
import json
import os
import secrets
import tarfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import zstandard

from provision.backup import frames, packs
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
def locked(store: Path, *, wait: bool = True, runner: Runner | None = None) -> Iterator[bool]:
    """Hold the store's lock; yields False (without holding it) when WAIT is off and it is busy.
    With a RUNNER, a busy lock is waited for in its log (saying who holds it) and the wait ends
    as the task's does (cancel, deadline, a worker that lost its task): never a silent flock
    that only the holder's death ends."""
    store.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(store / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            if wait and runner is not None:
                _wait_for_lock(fd, store / LOCK, runner)
            else:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # releases the lock


def _wait_for_lock(fd: int, path: Path, runner: Runner) -> None:
    told = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if told:
                runner.log("info", f"Got the lock of the backup store {path.parent}.")
            return
        except BlockingIOError:
            pass
        if not told:
            holder = _lock_holder(fd)
            runner.log("info", f"Waiting for the lock of the backup store {path.parent}: another backup or a "
                               f"garbage collection of this site holds it{f' (pid {holder})' if holder else ''}.")
            told = True
        runner.check_stop()  # raises Cancelled or TimedOut
        time.sleep(0.2)


def _lock_holder(fd: int) -> int | None:
    """The pid holding an flock on FD's file, from /proc/locks (Linux), or None."""
    st = os.fstat(fd)
    wanted = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as locks:
            for line in locks:
                fields = line.split()
                # "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF" ("->" marks a blocked waiter)
                if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == wanted and fields[4].isdigit():
                    return int(fields[4])
    except OSError:
        pass
    return None


def _loose_entries(store: Path) -> Iterator[os.DirEntry[str]]:
    """The files in the fan-out folders of loose objects (stores written before packs)."""
    for folder in store.iterdir() if store.is_dir() else ():
        if len(folder.name) == 2 and folder.is_dir():
            with os.scandir(folder) as listing:
                yield from listing


def present(store: Path) -> set[str]:
    """The names of the objects in the store, loose or packed."""
    found = {entry.name for entry in _loose_entries(store) if not entry.name.startswith(".")}
    for _pack, objects in packs.indexes(packs.folder_of(store)):
        found.update(objects)
    return found


def prepare(store: Path) -> None:
    """Drop what an interrupted backup left (temporary files, packs without an index). Only
    with the lock held: nobody is writing."""
    for entry in _loose_entries(store):
        if entry.name.startswith("."):
            os.unlink(entry.path)
    packs.clean(packs.folder_of(store))


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


def _compressor() -> zstandard.ZstdCompressor:
    # One per thread: a ZstdCompressor must not be used by two threads at once.
    if not hasattr(_local, "cctx"):
        _local.cctx = zstandard.ZstdCompressor(level=3, write_checksum=False)
    return _local.cctx


def store_file(pack_set: packs.PackSet, path: str, present: set[str]) -> tuple[int, str, int]:
    """Read the file at PATH once, hashing it and (if its content is new) compressing it into
    this thread's pack. Returns (size, sha256, bytes written to the store). Runs in worker
    threads: reading, hashing, compressing and writing all release the GIL."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        size = os.fstat(fd).st_size
        if size > WHOLE:
            with open(fd, "rb", buffering=0, closefd=False) as source:
                return _store_large(pack_set, source, present)
        data = _read_to_end(fd, size)
    finally:
        os.close(fd)
    sha256 = hashlib.sha256(data).hexdigest()
    if sha256 in present:
        return len(data), sha256, 0
    cctx = _compressor()
    parts = frames.raw_frame(data) if frames.incompressible(cctx, data) else [cctx.compress(data)]
    written = pack_set.writer().add(sha256, parts)
    present.add(sha256)
    return len(data), sha256, written


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


def _store_large(pack_set: packs.PackSet, source: IO[bytes], present: set[str]) -> tuple[int, str, int]:
    """A file too large to hold in memory, streamed into the pack; its sha256 is known only at
    the end, so when the content was in the store already the frame is taken back."""
    digest = hashlib.sha256()
    size = 0

    def chunks() -> Iterator[bytes]:
        nonlocal size
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            yield chunk

    stream = chunks()
    first = next(stream, b"")
    rest = itertools.chain([first], stream)
    if frames.incompressible(_compressor(), first):
        pieces: Iterator[bytes | memoryview] = frames.raw_stream(rest)
    else:
        pieces = _compressed(rest)
    sha256, written = pack_set.writer().add_stream(pieces, digest.hexdigest, present)
    return size, sha256, written


def _compressed(chunks: Iterator[bytes]) -> Iterator[bytes]:
    compressor = _compressor().compressobj()
    for chunk in chunks:
        if out := compressor.compress(chunk):
            yield out
    yield compressor.flush(zstandard.COMPRESSOBJ_FLUSH_FINISH)


class Reader:
    """Reads objects of one store, loose or packed; the packs' indexes are read once. Use it
    as a context manager (it keeps the packs it reads from open)."""

    def __init__(self, store: Path) -> None:
        self.store = store
        self._where: dict[str, tuple[Path, int, int]] | None = None
        self._open: dict[Path, IO[bytes]] = {}

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._open.values():
            handle.close()
        self._open.clear()

    def _located(self, sha256: str) -> tuple[Path, int, int] | None:
        if self._where is None:
            self._where = {sha: (pack, offset, length) for pack, objects in packs.indexes(packs.folder_of(self.store))
                           for sha, (offset, length) in objects.items()}
        return self._where.get(sha256)

    def locate(self, sha256: str) -> tuple[Path, int, int]:
        """(file, offset, length) of the object's frame: in a pack, or a loose object's file."""
        place = self._located(sha256)
        if place is not None:
            return place
        path = object_path(self.store, sha256)
        return path, 0, path.stat().st_size

    def stored_size(self, sha256: str) -> int:
        """Bytes the object takes in the store (its frame)."""
        return self.locate(sha256)[2]

    def read(self, sha256: str, runner: Runner | None, sink: IO[bytes] | None = None) -> tuple[int, str]:
        """Decompress object SHA256 (into SINK if given); returns (size, sha256 of the content)."""
        from provision.backup.archive import hash_stream

        path = object_path(self.store, sha256)
        try:
            place = self._located(sha256)
            if place is not None:
                pack, offset, length = place
                if pack not in self._open:
                    try:
                        self._open[pack] = open(pack, "rb")  # noqa: SIM115 - closed by __exit__
                    except FileNotFoundError:
                        # Garbage collection rewrote that pack after the indexes were read: the
                        # object is in the new pack, whose index was on disk before the old went.
                        self._where = None
                        place = self._located(sha256)
                        if place is None:
                            raise
                        pack, offset, length = place
                        self._open[pack] = open(pack, "rb")  # noqa: SIM115 - closed by __exit__
                raw: Any = packs.Bounded(self._open[pack], offset, length)
                return hash_stream(zstandard.ZstdDecompressor().stream_reader(raw, read_size=1 << 20), runner, sink)
            with open(path, "rb") as loose:
                return hash_stream(zstandard.ZstdDecompressor().stream_reader(loose, read_size=1 << 20), runner, sink)
        except FileNotFoundError:
            raise ProvisionError(f"The object {sha256} is missing from {self.store}.") from None
        except zstandard.ZstdError as exc:
            raise ProvisionError(f"The object {sha256} in {self.store} is damaged: {exc}") from None


def read_object(store: Path, sha256: str, runner: Runner | None, sink: IO[bytes] | None = None) -> tuple[int, str]:
    """One object (Reader, for many)."""
    with Reader(store) as reader:
        return reader.read(sha256, runner, sink)


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
        for entry in _loose_entries(store):  # packs/ is collected below
            if entry.name in wanted:
                kept += 1
                continue
            freed += entry.stat(follow_symlinks=False).st_size
            os.unlink(entry.path)
            removed += 1
        in_packs = packs.collect(packs.folder_of(store), wanted)
        return Collected(removed + in_packs[0], freed + in_packs[1], kept + in_packs[2])
