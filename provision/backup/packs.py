"""Pack files of the object store: the objects a backup stores, one zstd frame after another in a
few large files, instead of one file per object.

    objects/packs/<name>.pack   the frames, back to back
    objects/packs/<name>.idx    {"format": 1, "objects": {sha256: [offset, length]}}

A backup of 10,000 files created 10,000 object files, and creating, journalling and syncing
them cost more than compressing them; a pack is one file per storing thread (a new one past
PACK_LIMIT). A pack is fsynced before its .idx is written, so an .idx never names bytes that
are not on disk; a pack without an .idx is an interrupted backup's, and the next backup (holding
the store's lock) removes it. Garbage collection drops packs no backup names and rewrites those
that are mostly garbage."""
from __future__ import annotations

import json
import os
import secrets
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO

import zstandard

from provision.durable import fsync_dir

PACKS = "packs"
PACK_LIMIT = 256 << 20  # bytes: large enough to be few, small enough to collect garbage by
REPACK_WHEN = 0.5  # a pack whose garbage is more than this share of it is rewritten
_IOV_MAX = 1024


def folder_of(store: Path) -> Path:
    return store / PACKS


def write_all(fd: int, parts: Iterable[bytes | memoryview]) -> int:
    """Write PARTS in as few system calls as the kernel allows (os.writev may write less)."""
    views = [memoryview(p) for p in parts if len(p)]
    total = sum(len(v) for v in views)
    while views:
        done = os.writev(fd, views[:_IOV_MAX])
        while done:
            if done >= len(views[0]):
                done -= len(views.pop(0))
            else:
                views[0] = views[0][done:]
                done = 0
    return total


class PackWriter:
    """One pack being written by one thread."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / f"{secrets.token_hex(8)}.pack"
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        self.size = 0
        self.objects: dict[str, list[int]] = {}

    def add(self, sha256: str, parts: Iterable[bytes | memoryview]) -> int:
        """Append one object's frame; returns its length."""
        written = write_all(self.fd, parts)
        self.objects[sha256] = [self.size, written]
        self.size += written
        return written

    def add_stream(self, pieces: Iterator[bytes | memoryview], sha256_of: Callable[[], str],
                   present: set[str]) -> tuple[str, int]:
        """Append a frame written piece by piece, whose sha256 (SHA256_OF(), asked once the pieces
        are written) is only known at its end; when PRESENT has it already, the frame is taken
        back. Returns (sha256, bytes kept)."""
        start = self.size
        for piece in pieces:
            self.size += write_all(self.fd, [piece])
        sha256 = sha256_of()
        if sha256 in present:
            os.ftruncate(self.fd, start)
            os.lseek(self.fd, start, os.SEEK_SET)
            self.size = start
            return sha256, 0
        self.objects[sha256] = [start, self.size - start]
        present.add(sha256)
        return sha256, self.size - start

    def close(self) -> Path | None:
        """Make the pack durable, then write its .idx; returns the .idx (None for an empty pack,
        which is removed)."""
        try:
            if self.objects:
                os.fsync(self.fd)
        finally:
            os.close(self.fd)
        if not self.objects:
            self.path.unlink(missing_ok=True)
            return None
        return write_index(self.path, self.objects)


def write_index(pack: Path, objects: dict[str, list[int]]) -> Path:
    idx = pack.with_suffix(".idx")
    tmp = idx.with_name(f".{idx.name}.{secrets.token_hex(4)}")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump({"format": 1, "objects": objects}, handle, separators=(",", ":"))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, idx)
    return idx


class PackSet:
    """The packs one backup writes: an open pack per storing thread, so that no lock is taken
    around a write. Use it as a context manager: leaving it closes every pack, writing their
    .idx files on success and removing them on failure."""

    def __init__(self, store: Path) -> None:
        self.folder = folder_of(store)
        self.folder.mkdir(mode=0o700, exist_ok=True)
        self._open: dict[int, PackWriter] = {}
        self._closed: list[PackWriter] = []
        self._lock = threading.Lock()

    def __enter__(self) -> PackSet:
        return self

    def __exit__(self, kind: object, *exc: object) -> None:
        writers = [*self._closed, *self._open.values()]
        self._open.clear()
        self._closed.clear()
        if kind is None:
            for writer in writers:
                writer.close()
            fsync_dir(self.folder)
            return
        for writer in writers:
            os.close(writer.fd)
            writer.path.unlink(missing_ok=True)

    def writer(self) -> PackWriter:
        """This thread's pack, a new one when it has none or its pack is full."""
        ident = threading.get_ident()
        current = self._open.get(ident)
        if current is None or current.size >= PACK_LIMIT:
            with self._lock:
                if current is not None:
                    self._closed.append(current)
                current = self._open[ident] = PackWriter(self.folder)
        return current



def read_index(idx: Path) -> dict[str, list[int]]:
    """The objects an .idx lists; ValueError when it cannot be read as one (FileNotFoundError
    when it is not there)."""
    try:
        with open(idx, "rb") as handle:
            objects = json.load(handle)["objects"]
    except FileNotFoundError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{type(exc).__name__}: {exc}"[:300]) from None
    if not isinstance(objects, dict):
        raise ValueError("its objects are not a mapping")
    return objects


def indexes(folder: Path, unreadable: dict[str, str] | None = None) -> Iterator[tuple[Path, dict[str, list[int]]]]:
    """(pack path, its objects) of every complete pack in FOLDER. An .idx that cannot be read
    is left out (its objects count as absent, so backups store them again) and put in
    UNREADABLE (name -> why) when given."""
    if not folder.is_dir():
        return
    for idx in sorted(folder.glob("*.idx")):
        try:
            objects = read_index(idx)
        except FileNotFoundError:
            continue  # removed by garbage collection since the listing
        except ValueError as exc:
            if unreadable is not None:
                unreadable[idx.name] = str(exc)
            continue
        yield idx.with_suffix(".pack"), objects


def drop_from_index(pack: Path, shas: set[str]) -> int:
    """Rewrite PACK's .idx without SHAS (damaged copies that a good copy elsewhere replaces);
    the frames become garbage for collect(). Only under the store's lock. Returns how many went."""
    try:
        objects = read_index(pack.with_suffix(".idx"))
    except (OSError, ValueError):
        return 0
    gone = shas & set(objects)
    if gone:
        write_index(pack, {sha: place for sha, place in objects.items() if sha not in gone})
    return len(gone)


def rebuild_index(pack: Path) -> dict[str, list[int]]:
    """Write PACK's .idx again from the frames in the pack (its old one could not be read):
    each frame's length from its headers, its name from the sha256 of its content. A frame
    that does not decompress is left out (it is damaged); a pack whose structure breaks off is
    indexed up to there. Only under the store's lock. Returns the objects found."""
    from provision.backup.archive import hash_stream
    from provision.backup.frames import frame_length

    objects: dict[str, list[int]] = {}
    with open(pack, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        offset = 0
        while offset < size:
            length = frame_length(handle, offset, size)
            if length is None:
                break
            try:
                # zstandard reads any object with read(); its stubs ask for a file.
                stream = zstandard.ZstdDecompressor().stream_reader(
                    Bounded(handle, offset, length), read_size=1 << 20)  # type: ignore[arg-type]
                _size, sha256 = hash_stream(stream, None)
                objects.setdefault(sha256, [offset, length])
            except zstandard.ZstdError:
                pass
            offset += length
    write_index(pack, objects)
    return objects


def clean(folder: Path) -> None:
    """Remove what an interrupted backup left: packs without an .idx, temporary files. Only
    under the store's lock (nobody is writing)."""
    if not folder.is_dir():
        return
    with os.scandir(folder) as listing:
        names = {entry.name for entry in listing}
    for name in names:
        if name.startswith(".") or (name.endswith(".pack") and name[:-5] + ".idx" not in names):
            os.unlink(folder / name)


class Bounded:
    """LENGTH bytes of a file from OFFSET, as a readable stream (one object of a pack)."""

    def __init__(self, handle: IO[bytes], offset: int, length: int) -> None:
        self.handle, self.at, self.left = handle, offset, length

    def read(self, size: int = -1) -> bytes:
        want = self.left if size < 0 else min(size, self.left)
        data = os.pread(self.handle.fileno(), want, self.at) if want > 0 else b""
        self.at += len(data)
        self.left -= len(data)
        return data


def collect(folder: Path, wanted: set[str], bad: Callable[[str, str], bool] | None = None) -> tuple[int, int, int]:
    """Drop the packs in FOLDER that hold no object of WANTED and rewrite those that are mostly
    garbage; returns (objects removed, bytes freed, objects kept). A copy BAD(sha256, pack
    name) says is damaged counts as garbage: it is never copied into a new pack."""
    removed = freed = kept = 0
    for pack, objects in list(indexes(folder)):
        live = {sha: place for sha, place in objects.items()
                if sha in wanted and not (bad is not None and bad(sha, pack.name))}
        size = pack.stat().st_size
        garbage = size - sum(length for _offset, length in live.values())
        removed += len(objects) - len(live)
        kept += len(live)
        if live and garbage <= size * REPACK_WHEN:
            continue
        if live:
            writer = PackWriter(folder)
            with open(pack, "rb") as source:
                for sha, (offset, length) in live.items():
                    writer.add(sha, [os.pread(source.fileno(), length, offset)])
            writer.close()
            fsync_dir(folder)  # the new pack and its .idx are in place before the old go
        pack.with_suffix(".idx").unlink()
        pack.unlink()
        freed += garbage
    return removed, freed, kept
