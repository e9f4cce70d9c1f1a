"""Known damage in a site's object store, kept in `objects/damaged.json` next to the packs.

Objects are shared between backups: a file unchanged since the last backup is not read again and
its object is named once more. A damaged object would be named by every later backup, each of
them reporting success. So whoever finds damage (verify, restore, the scrub) marks the damaged
copy here, and:

- the next backup treats a marked copy as absent: it reads the file again and writes a good copy
  (the object's name is its content's sha256, so the new copy is the same object), then drops
  the marked copy from its pack's index. Every older archive that named the object is whole
  again; one whose content no longer exists anywhere stays damaged, and the backup says so.
- readers prefer an unmarked copy, and do not read a marked one again.
- garbage collection never copies a marked copy into a new pack, and forgets the marks of
  objects no archive names any more.

    {"format": 1,
     "copies":  {sha256: {"where": "<name>.pack" | "loose" | "", "found": iso, "reason": text}},
     "indexes": {"<name>.idx": {"found": iso, "reason": text}}}

"where" empty: the damaged copy is gone and no good copy exists yet. The file is replaced
atomically under its own flock (`.damaged.lock`), not the store's lock: verify and the scrub must
not wait for an hour-long backup to write down what they found. A damaged.json that cannot be
read counts as empty: the next scrub finds the damage again."""
from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provision.durable import fsync_dir

DAMAGED = "damaged.json"
_LOCK = ".damaged.lock"
LOOSE = "loose"


@dataclass
class Damage:
    copies: dict[str, dict[str, Any]] = field(default_factory=dict)
    indexes: dict[str, dict[str, Any]] = field(default_factory=dict)

    def is_bad(self, sha256: str, where: str) -> bool:
        """Whether the copy of SHA256 at WHERE (a pack's file name, or LOOSE) is marked."""
        entry = self.copies.get(sha256)
        return entry is not None and entry.get("where") == where

    def __bool__(self) -> bool:
        return bool(self.copies or self.indexes)


def load(store: Path) -> Damage:
    try:
        with open(store / DAMAGED, "rb") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return Damage()
    if not isinstance(data, dict):
        return Damage()
    copies = data.get("copies")
    indexes = data.get("indexes")
    copies = copies if isinstance(copies, dict) else {}
    indexes = indexes if isinstance(indexes, dict) else {}
    return Damage({k: v for k, v in copies.items() if isinstance(v, dict)},
                  {k: v for k, v in indexes.items() if isinstance(v, dict)})


@contextlib.contextmanager
def _held(store: Path) -> Iterator[None]:
    fd = os.open(store / _LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def update(store: Path, change: Callable[[Damage], bool]) -> Damage:
    """Apply CHANGE to the marks (it returns whether it changed anything) and write them back
    atomically; returns the marks as they are now."""
    with _held(store):
        damage = load(store)
        if change(damage):
            _write(store, damage)
        return damage


def _write(store: Path, damage: Damage) -> None:
    path = store / DAMAGED
    if not damage:
        path.unlink(missing_ok=True)
        fsync_dir(store)
        return
    tmp = store / f".{DAMAGED}.{secrets.token_hex(4)}"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump({"format": 1, "copies": damage.copies, "indexes": damage.indexes}, handle,
                  separators=(",", ":"), sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fsync_dir(store)


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def mark(store: Path, sha256: str, where: str, reason: str) -> None:
    """Mark the copy of SHA256 at WHERE as damaged (once: the first finding is kept)."""
    def change(damage: Damage) -> bool:
        if damage.is_bad(sha256, where):
            return False
        damage.copies[sha256] = {"where": where, "found": now(), "reason": reason[:300]}
        return True

    update(store, change)


def mark_index(store: Path, name: str, reason: str) -> None:
    def change(damage: Damage) -> bool:
        if name in damage.indexes:
            return False
        damage.indexes[name] = {"found": now(), "reason": reason[:300]}
        return True

    update(store, change)


def forget_index(store: Path, name: str) -> None:
    """Drop the mark of the index NAME (it was written again)."""
    update(store, lambda damage: damage.indexes.pop(name, None) is not None)


def settle(store: Path) -> tuple[list[str], list[str]]:
    """After a backup stored its files (under the store's lock): every marked object that now
    has a good copy loses its damaged copy (dropped from its pack's index, or removed if loose)
    and its mark. Returns (objects repaired, objects still without a good copy)."""
    from provision.backup import packs
    from provision.backup.store import present

    known = load(store)
    if not known.copies:
        return [], []
    usable = present(store)  # read now: a mark made while the backup ran counts too
    known = load(store)
    repaired = sorted(sha for sha in known.copies if sha in usable)
    if not repaired:
        return [], sorted(known.copies)
    folder = packs.folder_of(store)
    by_pack: dict[str, set[str]] = {}
    for sha in repaired:
        where = known.copies[sha].get("where") or ""
        if where == LOOSE:
            (store / sha[:2] / sha).unlink(missing_ok=True)
        elif where:
            by_pack.setdefault(where, set()).add(sha)
    for name, shas in by_pack.items():
        pack = folder / name
        if pack.suffix == ".pack" and "/" not in name:
            packs.drop_from_index(pack, shas)
    if by_pack:
        fsync_dir(folder)

    def forget(damage: Damage) -> bool:
        gone = [sha for sha in repaired if damage.copies.pop(sha, None) is not None]
        return bool(gone)

    after = update(store, forget)
    return repaired, sorted(after.copies)


def archives_naming(archive_dir: Path, shas: set[str]) -> list[str]:
    """The names of the archives in ARCHIVE_DIR whose manifest names any of SHAS (or cannot be
    read), oldest first. Reads every manifest: only for when damage is known."""
    from provision.backup.collect import references
    from provision.errors import ProvisionError

    found = []
    for archive in sorted(Path(archive_dir).glob("*.tar.zst")):
        try:
            if references(archive) & shas:
                found.append(archive.name)
        except ProvisionError:
            found.append(archive.name)
    return found
