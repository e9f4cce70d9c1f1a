"""Garbage collection of a site's object store (provision.backup.store): the objects, packs and
indexes that no remaining archive names go, under the store's lock, so never while a backup is
writing objects it has not yet published. A deletion that finds the store busy marks it
(PENDING), and the backup holding it collects once it lets it go."""
from __future__ import annotations

import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

import zstandard

from provision.backup import damage, packs
from provision.backup.store import PENDING, _loose_entries, locked, store_of
from provision.errors import ProvisionError


@dataclass(frozen=True)
class Collected:
    removed: int
    freed: int  # bytes
    kept: int


def references(archive: Path) -> set[str]:
    """The objects the archive at ARCHIVE names (archive.in_store). A format-2 archive starts
    with its manifest; a format-1 archive (everything inside) names none."""
    from provision.backup.archive import MANIFEST, _parse_manifest, in_store

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
    # The site's files, and the database dump when it was stored as an object too.
    return {m["sha256"] for m in manifest["members"] if m.get("type") == "file" and in_store(manifest, m)}


def collect_garbage(archive_dir: Path) -> Collected | None:
    """Remove the objects no remaining archive in ARCHIVE_DIR names. Returns None, removing
    nothing, when a backup holds the store (it is then marked PENDING, and that backup collects
    once it has let the store go: collect_pending) or an archive's manifest cannot be read (an
    object only it names would be lost)."""
    store = store_of(archive_dir)
    if not store.is_dir():
        return Collected(0, 0, 0)
    with locked(store, wait=False) as got:
        if not got:
            (store / PENDING).touch()  # the backup holding the store collects when it is done
            return None
        (store / PENDING).unlink(missing_ok=True)  # from here on, this collection sees every archive
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
        known = damage.load(store)
        in_packs = packs.collect(packs.folder_of(store), wanted, known.is_bad if known.copies else None)
        if known.copies:
            forget_marks(store, wanted)
        return Collected(removed + in_packs[0], freed + in_packs[1], kept + in_packs[2])


def collect_pending(archive_dir: Path) -> Collected | None:
    """Collect ARCHIVE_DIR's garbage if a deletion asked for it while the store was busy."""
    if not (store_of(archive_dir) / PENDING).exists():
        return None
    return collect_garbage(archive_dir)


def forget_marks(store: Path, wanted: set[str]) -> None:
    """After garbage collection: forget the damage of objects no archive names any more, and
    note the damaged copies that went with their pack (the object is then missing until a
    backup stores its content again)."""
    folder = packs.folder_of(store)

    def change(known: damage.Damage) -> bool:
        changed = False
        for sha, entry in list(known.copies.items()):
            where = entry.get("where") or ""
            if sha not in wanted:
                del known.copies[sha]
                changed = True
            elif where and where != damage.LOOSE and not (folder / where).exists():
                entry["where"] = ""
                changed = True
        return changed

    damage.update(store, change)
