"""The scrub of one site's object store: every object read again and its content hashed, so
that damage is found before the next backup names the damaged object once more, and while the
site still has the file to store it again (provision.backup.damage).

A store is scrubbed in units (each pack, each fan-out folder of loose objects) in name order; a
run stops after the unit that takes it past its byte budget and says where the next run goes
on. Packs written after a pass started may sort before its cursor: the next pass reads them.
Nothing is locked: packs are written whole before their index, and a pack that garbage
collection removes meanwhile is skipped. Each pack's pages are dropped from the page cache once
read, so that a scrub does not push the sites' own files out of it."""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import zstandard

from provision.backup import damage, packs
from provision.backup import store as objects
from provision.backup.archive import hash_stream
from provision.backup.collect import references
from provision.errors import ProvisionError
from provision.sitefiles import disk_usage

LOOSE = "loose/"
PACK = "pack/"


@dataclass
class Progress:
    cursor: str = ""  # the last unit read; "" once the pass is complete
    done: bool = False
    objects: int = 0
    bytes: int = 0  # of the store read by this run
    damaged: list[str] = field(default_factory=list)  # objects found damaged by this run


def units(store: Path) -> list[str]:
    folder = packs.folder_of(store)
    found = [PACK + p.name for p in folder.glob("*.pack")] if folder.is_dir() else []
    found += [LOOSE + d.name for d in (store.iterdir() if store.is_dir() else ())
              if len(d.name) == 2 and d.is_dir()]
    return sorted(found)


def scrub(archive_dir: Path, budget: int, cursor: str = "",
          check_stop: Callable[[], None] | None = None) -> Progress:
    """Read the units of ARCHIVE_DIR's store after CURSOR until BUDGET bytes are read."""
    store = objects.store_of(archive_dir)
    progress = Progress(cursor=cursor)
    for unit in units(store):
        if cursor and unit <= cursor:
            continue
        if check_stop is not None:
            check_stop()
        if unit.startswith(PACK):
            _scrub_pack(store, packs.folder_of(store) / unit[len(PACK):], progress)
        else:
            _scrub_loose(store, store / unit[len(LOOSE):], progress)
        progress.cursor = unit
        if progress.bytes >= budget:
            return progress
    progress.cursor, progress.done = "", True
    return progress


def _scrub_pack(store: Path, pack: Path, progress: Progress) -> None:
    idx = pack.with_suffix(".idx")
    try:
        listed = packs.read_index(idx)
    except FileNotFoundError:
        return  # no index yet (a backup is writing the pack) or removed since the listing
    except ValueError as exc:
        damage.mark_index(store, idx.name, str(exc))
        return
    known = damage.load(store)
    try:
        handle = open(pack, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return
    with handle:
        size = os.fstat(handle.fileno()).st_size
        for sha, (offset, length) in sorted(listed.items(), key=lambda item: item[1][0]):
            progress.objects += 1
            if known.is_bad(sha, pack.name):
                continue
            progress.bytes += length
            problem = _check(sha, handle, offset, length, size)
            if problem is not None:
                damage.mark(store, sha, pack.name, problem)
                progress.damaged.append(sha)
        _forget_pages(handle.fileno())


def _scrub_loose(store: Path, folder: Path, progress: Progress) -> None:
    known = damage.load(store)
    for path in sorted(folder.iterdir()) if folder.is_dir() else ():
        if path.name.startswith("."):
            continue
        progress.objects += 1
        if known.is_bad(path.name, damage.LOOSE):
            continue
        try:
            with open(path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                progress.bytes += size
                problem = _check(path.name, handle, 0, size, size)
                _forget_pages(handle.fileno())
        except FileNotFoundError:
            continue
        if problem is not None:
            damage.mark(store, path.name, damage.LOOSE, problem)
            progress.damaged.append(path.name)


def _check(sha256: str, handle: object, offset: int, length: int, size: int) -> str | None:
    """Why the frame at OFFSET is not the object SHA256 (None: it is)."""
    if offset < 0 or length <= 0 or offset + length > size:
        return "the pack ends before the object does"
    try:
        # zstandard reads any object with read(); its stubs ask for a file.
        stream = zstandard.ZstdDecompressor().stream_reader(
            packs.Bounded(handle, offset, length), read_size=1 << 20)  # type: ignore[arg-type]
        _size, got = hash_stream(stream, None)
    except zstandard.ZstdError as exc:
        return f"it does not decompress: {exc}"
    return None if got == sha256 else f"its content has sha256 {got}"


def _forget_pages(fd: int) -> None:
    if hasattr(os, "posix_fadvise"):
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)


# -- what the store's state means for its archives --------------------------------------------


@dataclass
class Assessment:
    objects: int = 0  # with a usable copy
    stored_bytes: int = 0  # the store's size on disk
    unusable: list[str] = field(default_factory=list)  # damaged without a good copy, or missing
    damaged_indexes: list[str] = field(default_factory=list)
    damaged_archives: list[str] = field(default_factory=list)  # cannot be restored whole


def assess(archive_dir: Path, archives: Iterable[str] | None = None) -> Assessment:
    """What the store's known damage means: which objects an archive needs have no good copy,
    and which of ARCHIVES (file names in ARCHIVE_DIR; None: all of them, reading every
    manifest) name one, or an object that is missing altogether."""
    archive_dir = Path(archive_dir)
    store = objects.store_of(archive_dir)
    usable = objects.present(store) if store.is_dir() else set()
    known = damage.load(store)
    # Reading every archive tells which marked objects still matter (garbage collection forgets
    # the others); reading some of them does not, so then every marked one counts.
    unusable = set() if archives is None else {sha for sha in known.copies if sha not in usable}
    names = sorted(p.name for p in archive_dir.glob("*.tar.zst")) if archives is None else sorted(set(archives))
    bad_archives = []
    for name in names:
        path = archive_dir / name
        if "/" in name or not path.is_file():
            continue
        try:
            gone = references(path) - usable
        except ProvisionError:
            bad_archives.append(name)
            continue
        if gone:
            unusable |= gone
            bad_archives.append(name)
    return Assessment(len(usable), store_bytes(archive_dir), sorted(unusable), sorted(known.indexes), bad_archives)


def store_bytes(archive_dir: Path) -> int:
    """Bytes of the object store beside ARCHIVE_DIR's archives (packs, their indexes, loose
    objects): what a site's backups hold beyond the archive files themselves."""
    return disk_usage(objects.store_of(Path(archive_dir)))
