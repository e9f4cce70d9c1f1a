"""Reading objects back from a site's object store (provision.backup.store), for verify and
restore: loose or packed, the content checked against the object's name, and damage found on the
way marked (provision.backup.damage)."""
from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import zstandard

from provision.backup import damage, packs
from provision.backup.store import object_path
from provision.errors import ProvisionError

if TYPE_CHECKING:
    from provision.runner import Runner

_REREADS = 8  # per Reader: enough for a few packs rewritten meanwhile, bounded for an archive
# that names many damaged objects


class Reader:
    """Reads objects of one store, loose or packed; the packs' indexes and the store's damage
    marks are read once (again when something is not where they said). Of two copies of an
    object, one not marked damaged is read; a copy found damaged is marked (with the scrub,
    readers are how damage is found: verify, restore). Use it as a context manager (it keeps the
    packs it reads from open)."""

    def __init__(self, store: Path) -> None:
        self.store = store
        self._where: dict[str, tuple[Path, int, int]] | None = None
        self._known: damage.Damage | None = None
        self._open: dict[Path, IO[bytes]] = {}
        self._sizes: dict[Path, int] = {}
        self._rereads = 0  # times the indexes and marks were read again after a surprise

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._open.values():
            handle.close()
        self._open.clear()

    @property
    def known(self) -> damage.Damage:
        if self._known is None:
            self._known = damage.load(self.store)
        return self._known

    def _located(self, sha256: str) -> tuple[Path, int, int] | None:
        if self._where is None:
            known = self.known
            unreadable: dict[str, str] = {}
            listed = packs.indexes(packs.folder_of(self.store), unreadable)
            if not known.copies:
                self._where = {sha: (pack, offset, length) for pack, objects in listed
                               for sha, (offset, length) in objects.items()}
            else:
                self._where = {}
                for pack, objects in listed:
                    for sha, (offset, length) in objects.items():
                        if sha not in self._where or known.is_bad(sha, self._where[sha][0].name):
                            self._where[sha] = (pack, offset, length)
            for name, why in unreadable.items():
                if name not in known.indexes:
                    damage.mark_index(self.store, name, why)
        return self._where.get(sha256)

    def _read_again(self) -> bool:
        """Forget the indexes and marks once, after a pack vanished or a copy was found
        damaged: a backup or garbage collection may have moved the object since."""
        if self._rereads >= _REREADS:
            return False
        self._rereads += 1
        self._where, self._known = None, None
        return True

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
        """Decompress object SHA256 (into SINK if given) and check that its content has that
        sha256; returns (size, sha256). A damaged or missing object raises ProvisionError."""
        while True:
            place = self._located(sha256)
            where = place[0].name if place is not None else damage.LOOSE
            if self.known.is_bad(sha256, where):
                if self._read_again():
                    continue
                entry = self.known.copies[sha256]
                raise ProvisionError(f"The object {sha256} in {self.store} is damaged (found {entry.get('found')}: "
                                     f"{entry.get('reason')}).")
            try:
                size, got = self._decompress(sha256, place, runner, sink)
                problem = None if got == sha256 else f"its content has sha256 {got}"
            except FileNotFoundError:
                if place is not None and self._read_again():
                    continue  # garbage collection rewrote that pack after the indexes were read
                dropped = self.known.copies.get(sha256)
                damaged = f" (a damaged copy was found {dropped.get('found')} and dropped)" if dropped else ""
                raise ProvisionError(f"The object {sha256} is missing from {self.store}{damaged}.") from None
            except zstandard.ZstdError as exc:
                problem = f"it does not decompress: {exc}"
            if problem is None:
                return size, got
            if self._read_again():
                if sink is not None:
                    sink.seek(0)
                    sink.truncate()
                continue
            self._mark(sha256, where, problem)
            raise ProvisionError(f"The object {sha256} in {self.store} is damaged: {problem}.")

    def chunks(self, sha256: str, size: int, piece: int = 1 << 20) -> Iterator[bytes]:
        """The content of object SHA256 in pieces, for a stream that cannot wait for the whole
        object (provision.backup.export): checked as it goes, it is exactly SIZE bytes whose
        sha256 is SHA256, or ProvisionError is raised after the last piece (damage marked)."""
        while True:
            place = self._located(sha256)
            where = place[0].name if place is not None else damage.LOOSE
            if self.known.is_bad(sha256, where):
                if self._read_again():
                    continue
                raise ProvisionError(f"The object {sha256} in {self.store} is damaged.")
            try:
                raw, loose = self._raw(sha256, place)
                break
            except FileNotFoundError:
                if place is not None and self._read_again():
                    continue  # garbage collection rewrote that pack after the indexes were read
                raise ProvisionError(f"The object {sha256} is missing from {self.store}.") from None
        digest, got, problem = hashlib.sha256(), 0, None
        try:
            stream = zstandard.ZstdDecompressor().stream_reader(raw, read_size=1 << 20)
            while chunk := stream.read(piece):
                digest.update(chunk)
                got += len(chunk)
                if got <= size:
                    yield chunk  # past SIZE, only hashed: is the object damaged or the size wrong?
        except zstandard.ZstdError as exc:
            problem = f"it does not decompress: {exc}"
        finally:
            if loose is not None:
                loose.close()
        if problem is None and digest.hexdigest() != sha256:
            problem = f"its content has sha256 {digest.hexdigest()}"
        if problem is not None:
            self._mark(sha256, where, problem)
            raise ProvisionError(f"The object {sha256} in {self.store} is damaged: {problem}.")
        if got != size:  # a good object, a manifest that does not match it: nothing to mark
            raise ProvisionError(f"The object {sha256} holds {got} bytes, not the {size} the manifest says.")

    def _raw(self, sha256: str, place: tuple[Path, int, int] | None) -> tuple[Any, IO[bytes] | None]:
        """The object's frame as a readable stream, and the handle to close after (a loose one)."""
        if place is None:
            loose = open(object_path(self.store, sha256), "rb")  # noqa: SIM115 - closed by chunks()
            return loose, loose
        pack, offset, length = place
        handle = self._pack(pack)
        if offset + length > self._sizes[pack]:
            return _Broken(), None
        return packs.Bounded(handle, offset, length), None

    def _pack(self, pack: Path) -> IO[bytes]:
        if pack not in self._open:
            self._open[pack] = open(pack, "rb")  # noqa: SIM115 - closed by __exit__
            self._sizes[pack] = os.fstat(self._open[pack].fileno()).st_size
        return self._open[pack]

    def _decompress(self, sha256: str, place: tuple[Path, int, int] | None, runner: Runner | None,
                    sink: IO[bytes] | None) -> tuple[int, str]:
        from provision.backup.archive import hash_stream

        if place is None:
            with open(object_path(self.store, sha256), "rb") as loose:
                return hash_stream(zstandard.ZstdDecompressor().stream_reader(loose, read_size=1 << 20), runner, sink)
        pack, offset, length = place
        handle = self._pack(pack)
        if offset + length > self._sizes[pack]:
            raise zstandard.ZstdError("the pack ends before the object does")
        raw: Any = packs.Bounded(handle, offset, length)
        return hash_stream(zstandard.ZstdDecompressor().stream_reader(raw, read_size=1 << 20), runner, sink)

    def _mark(self, sha256: str, where: str, problem: str) -> None:
        try:
            damage.mark(self.store, sha256, where, problem)
        except OSError:
            pass  # a read-only store: the damage is still reported by whoever reads it
        self._known = None



class _Broken:
    """A frame that runs past the end of its pack: reading it fails as damage does."""

    def read(self, size: int = -1) -> bytes:
        raise zstandard.ZstdError("the pack ends before the object does")
