"""The object store's pack files: a backup writes its new objects into a few packs, each made
durable before its index names it; what an interrupted backup wrote is never taken for stored
content; garbage collection drops or rewrites packs without losing what newer backups name; and
stores of loose objects (written before packs) still verify, restore and take part."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from provision.backup import create_incremental, incremental, packs, verify_backup
from provision.backup import store as objects
from provision.errors import Cancelled
from tests.provision.test_backup import quiet
from tests.provision.test_backup_incremental import age


def make_files(site: Path, count: int, size: int = 5000, seed: str = "") -> None:
    (site / "files").mkdir(parents=True, exist_ok=True)
    (site / "settings.php").write_text("<?php\n")
    for n in range(count):
        (site / "files" / f"f{n:04d}.txt").write_text(f"{seed}{n} " * (size // 6))
    age(site)


def backup(site: Path, dest: Path, **kwargs):  # type: ignore[no-untyped-def]
    return create_incremental(domain="example.com", site_dir=site, dest_dir=dest, runner=kwargs.pop("runner", quiet()),
                              db_driver=None, db_name=None, follow_files_symlink=True, **kwargs)


def pack_files(dest: Path) -> list[Path]:
    return sorted(packs.folder_of(objects.store_of(dest)).iterdir())


def test_it_writes_a_few_packs_not_a_file_per_object(tmp_path: Path) -> None:
    site = tmp_path / "site"
    make_files(site, 300)
    result = backup(site, tmp_path / "b")
    found = pack_files(tmp_path / "b")
    names = {p.suffix for p in found}
    assert names == {".pack", ".idx"} and len(found) <= 2 * max(2, os.cpu_count() or 2)
    listed = {sha for p in found if p.suffix == ".idx" for sha in json.loads(p.read_text())["objects"]}
    assert listed == {m["sha256"] for m in result.manifest["members"] if m["type"] == "file"}
    assert not [p for p in objects.store_of(tmp_path / "b").iterdir() if len(p.name) == 2]  # no loose objects
    verify_backup(result.path)


def test_an_interrupted_backup_leaves_no_pack_and_a_crashed_one_is_cleared(tmp_path: Path) -> None:
    site = tmp_path / "site"
    make_files(site, 200)
    dest = tmp_path / "b"
    calls = {"n": 0}

    def stop_soon() -> str | None:
        calls["n"] += 1
        return "cancelled by a test" if calls["n"] > 3 else None

    runner = quiet()
    runner.should_stop = stop_soon
    with pytest.raises(Cancelled):
        backup(site, dest, runner=runner)
    assert [p for p in pack_files(dest) if p.suffix == ".pack"] == []
    # A worker killed while writing leaves a pack with no index: not stored content, and cleared.
    folder = packs.folder_of(objects.store_of(dest))
    (folder / "0123456789abcdef.pack").write_bytes(b"half a frame")
    result = backup(site, dest)
    assert not (folder / "0123456789abcdef.pack").exists()
    assert result.manifest["totals"]["reused_files"] == 0
    verify_backup(result.path)


def test_it_stores_a_large_file_once_however_many_copies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(objects, "WHOLE", 50_000)
    monkeypatch.setattr(objects, "CHUNK", 16_384)
    site = tmp_path / "site"
    make_files(site, 1)
    video = os.urandom(200_000)
    for name in ("a.mp4", "b.mp4", "c.mp4"):
        (site / "files" / name).write_bytes(video)
    age(site)
    result = backup(site, tmp_path / "b")
    sha = hashlib.sha256(video).hexdigest()
    with objects.Reader(objects.store_of(tmp_path / "b")) as reader:
        assert reader.stored_size(sha) < len(video) + 100
    stored = sum(p.stat().st_size for p in pack_files(tmp_path / "b") if p.suffix == ".pack")
    assert stored < 2 * len(video)  # the copies streamed after the first were taken back
    verify_backup(result.path)


def test_garbage_collection_drops_dead_packs_and_rewrites_mostly_dead_ones(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # One batch, so one thread and one pack per backup: which files share a pack is then known
    # (with several threads it depends on their timing, and so does a pack's share of garbage).
    monkeypatch.setattr(incremental, "_BATCH", 1000)
    site, dest = tmp_path / "site", tmp_path / "b"
    make_files(site, 100, seed="one")
    first = backup(site, dest)
    first_packs = set(pack_files(dest))
    make_files(site, 100, seed="two")  # every file changed: a second pack set
    second = backup(site, dest)
    second_packs = set(pack_files(dest)) - first_packs
    (site / "files" / "f0000.txt").write_text("three")
    age(site)
    third = backup(site, dest)
    first.path.unlink()
    gone = objects.collect_garbage(dest)
    assert gone is not None and gone.removed == 100 and gone.freed > 0
    assert not first_packs & set(pack_files(dest))
    # The second backup's packs hold 99 live objects of 100: kept as they are.
    second.path.unlink()
    gone = objects.collect_garbage(dest)
    assert gone is not None and gone.removed == 1
    assert second_packs <= set(pack_files(dest))
    verify_backup(third.path)
    # Now most of what remains is garbage: the packs are rewritten with the live objects only.
    for n in range(1, 80):
        (site / "files" / f"f{n:04d}.txt").write_text(f"four {n}")
    age(site)
    fourth = backup(site, dest)
    third.path.unlink()
    before = sum(p.stat().st_size for p in pack_files(dest) if p.suffix == ".pack")
    gone = objects.collect_garbage(dest)
    after = sum(p.stat().st_size for p in pack_files(dest) if p.suffix == ".pack")
    assert gone is not None and gone.removed >= 79 and after < before / 2
    assert not second_packs & set(pack_files(dest))
    verify_backup(fourth.path)


def test_a_store_of_loose_objects_still_verifies_and_is_reused(tmp_path: Path) -> None:
    site, dest = tmp_path / "site", tmp_path / "b"
    make_files(site, 20)
    first = backup(site, dest)
    # Turn the store into the layout of earlier releases: one file per object, no packs.
    store = objects.store_of(dest)
    for pack, listed in list(packs.indexes(packs.folder_of(store))):
        data = pack.read_bytes()
        for sha, (offset, length) in listed.items():
            loose = objects.object_path(store, sha)
            loose.parent.mkdir(exist_ok=True)
            loose.write_bytes(data[offset:offset + length])
        pack.unlink()
        pack.with_suffix(".idx").unlink()
    verify_backup(first.path)
    (site / "files" / "f0001.txt").write_text("changed")
    age(site)
    (store / "index.json").unlink()  # every file is read again, and found in the store
    second = backup(site, dest)
    assert second.manifest["totals"]["stored_bytes"] < 200  # only the changed file is new
    first.path.unlink()
    gone = objects.collect_garbage(dest)
    assert gone is not None and gone.removed == 1  # the old f0001.txt, a loose object
    verify_backup(second.path)


def test_a_reader_that_read_the_indexes_before_a_repack_finds_the_objects_after_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(incremental, "_BATCH", 1000)  # one pack per backup, as above
    site, dest = tmp_path / "site", tmp_path / "b"
    make_files(site, 100, seed="one")
    first = backup(site, dest)
    for n in range(1, 100):
        (site / "files" / f"f{n:04d}.txt").write_text(f"two {n}")
    age(site)
    second = backup(site, dest)
    kept = next(m for m in second.manifest["members"] if m["path"].endswith("f0000.txt"))
    store = objects.store_of(dest)
    with objects.Reader(store) as reader:
        old_place = reader.locate(kept["sha256"])  # the indexes as they were: f0000 in a first pack
        first.path.unlink()
        gone = objects.collect_garbage(dest)  # the first backup's packs are mostly garbage now
        assert gone is not None and gone.removed == 99
        assert not old_place[0].exists()  # rewritten, with f0000 the only live object
        size, sha = reader.read(kept["sha256"], None)
    assert (size, sha) == (kept["size"], kept["sha256"])
    verify_backup(second.path)
