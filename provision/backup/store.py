"""The content-addressed object store beside a site's backups: `<backups>/<domain>/objects/`.

Each regular file of a format-2 backup is one object: the file's content as one zstd frame,
named by its sha256. Objects are written into pack files (provision.backup.packs,
`objects/packs/`); stores written before packs hold loose objects, `objects/<sha[:2]>/<sha256>`,
which are still read and collected. An object is written once and shared by every backup whose
manifest names its sha256, so a file unchanged since the previous backup costs nothing again.
`index.json` maps each site path to (size, mtime_ns, inode, sha256) as last stored: a file whose
three match is not even opened. `.lock` (flock) keeps garbage collection out while a backup is
writing: objects a backup has stored but not yet published would look unreferenced.

Copies found damaged are marked in `damaged.json` (provision.backup.damage): they do not count
as present, so the next backup stores their content again. Objects are read back through
provision.backup.reader. Files of the site are opened so that a link the site's owner swaps in
while a backup runs is never followed (store_file, open_beneath)."""
from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import itertools
import json
import os
import secrets
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import zstandard

from provision.backup import damage, frames, packs
from provision.errors import ProvisionError

if TYPE_CHECKING:
    from provision.runner import Runner

OBJECTS = "objects"
INDEX = "index.json"
LOCK = ".lock"
PENDING = ".collect"  # a deletion found the store busy: collect its garbage after the backup
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


def present(store: Path, *, repair: bool = False) -> set[str]:
    """The names of the objects the store holds a usable copy of, loose or packed: a copy
    marked damaged (provision.backup.damage) does not count, nor does a pack whose .idx cannot
    be read. With REPAIR (only under the store's lock) such an .idx is written again from its
    pack first; without, it is marked."""
    known = damage.load(store)
    found = {entry.name for entry in _loose_entries(store)
             if not entry.name.startswith(".") and not known.is_bad(entry.name, damage.LOOSE)}
    folder = packs.folder_of(store)
    unreadable: dict[str, str] = {}
    listed = list(packs.indexes(folder, unreadable))
    for name, why in unreadable.items():
        pack = (folder / name).with_suffix(".pack")
        if repair and pack.is_file():
            try:
                listed.append((pack, packs.rebuild_index(pack)))
            except OSError as exc:
                damage.mark_index(store, name, f"{why}; could not be written again: {exc}")
                continue
            damage.forget_index(store, name)
        elif name not in known.indexes:
            damage.mark_index(store, name, why)
    for pack, objects in listed:
        if known.copies:
            found.update(sha for sha in objects if not known.is_bad(sha, pack.name))
        else:
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


def store_file(pack_set: packs.PackSet, path: str, present: set[str], listed: os.stat_result | None = None,
               beneath: tuple[Path, str] | None = None) -> tuple[int, str, int]:
    """Read the file at PATH once, hashing it and (if its content is new) compressing it into
    this thread's pack. Returns (size, sha256, bytes written to the store). Runs in worker
    threads: reading, hashing, compressing and writing all release the GIL.

    LISTED: the file's lstat when the site was listed. If PATH now opens another file (replaced
    since, or a directory on the way swapped for a link by the site's owner), the file is opened
    again one directory at a time from BENEATH (the walked root, the path below it), never
    through a link."""
    fd = _open_file(path) if listed is not None or beneath is None else open_beneath(*beneath)
    try:
        info = os.fstat(fd)
        if listed is not None and (info.st_dev, info.st_ino) != (listed.st_dev, listed.st_ino) and beneath:
            os.close(fd)
            fd = -1  # closed, in case open_beneath raises
            fd = open_beneath(*beneath)
            info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FileNotFoundError(path)  # not a regular file any more: not part of the site's files now
        size = info.st_size
        if size > WHOLE:
            with open(fd, "rb", buffering=0, closefd=False) as source:
                return _store_large(pack_set, source, present)
        data = _read_to_end(fd, size)
    finally:
        if fd >= 0:
            os.close(fd)
    sha256 = hashlib.sha256(data).hexdigest()
    if sha256 in present:
        return len(data), sha256, 0
    cctx = _compressor()
    parts = frames.raw_frame(data) if frames.incompressible(cctx, data) else [cctx.compress(data)]
    written = pack_set.writer().add(sha256, parts)
    present.add(sha256)
    return len(data), sha256, written


# O_NONBLOCK: a file swapped for a FIFO since the listing must not hang the backup in open().
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def _open_file(path: str, dir_fd: int | None = None) -> int:
    try:
        return os.open(path, _READ, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):  # a link now: not the file that was listed
            raise FileNotFoundError(path) from None
        raise


def open_beneath(root: Path, relative: str) -> int:
    """Open ROOT/RELATIVE for reading, each directory from its parent's descriptor and with
    O_NOFOLLOW, so that no link on the way is followed (ELOOP, ENOTDIR: FileNotFoundError)."""
    parts = [p for p in relative.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise FileNotFoundError(relative)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts[:-1]:
            below = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            os.close(fd)
            fd = below
        return _open_file(parts[-1], dir_fd=fd)
    except OSError as exc:
        if isinstance(exc, FileNotFoundError) or exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise FileNotFoundError(relative) from None
        raise
    finally:
        os.close(fd)


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


def __getattr__(name: str) -> Any:
    # The reader lives in provision.backup.reader (it imports this module); found here too.
    if name == "Reader":
        from provision.backup import reader

        return getattr(reader, name)
    if name in ("Collected", "references", "collect_garbage", "collect_pending", "forget_marks"):
        from provision.backup import collect  # garbage collection lives there (it imports this module)

        return getattr(collect, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
