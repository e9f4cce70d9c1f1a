"""Damage in the object store (provision.backup.damage, .scrub): a damaged copy is found by
whoever reads it, marked, and stored again by the next backup from the site's file; the older
archives that named it are whole again; what cannot be stored again is said."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from provision.backup import damage, packs, scrub, verify_backup
from provision.backup import store as objects
from provision.backup.frames import frame_length
from provision.errors import ProvisionError
from tests.provision.test_backup_packs import backup, make_files


def flip_inside(dest: Path, sha256: str) -> Path:
    """Flip one byte in the middle of the object's frame, where it lies."""
    with objects.Reader(objects.store_of(dest)) as reader:
        where, offset, length = reader.locate(sha256)
    data = bytearray(where.read_bytes())
    data[offset + length // 2] ^= 0x55
    where.write_bytes(bytes(data))
    return where


def sha_of(result, name: str) -> str:  # type: ignore[no-untyped-def]
    return next(m["sha256"] for m in result.manifest["members"] if m["path"] == f"site/files/{name}")


def test_a_damaged_object_is_marked_by_verify_and_stored_again_by_the_next_backup(tmp_path: Path) -> None:
    site, dest = tmp_path / "site", tmp_path / "b"
    make_files(site, 30)
    first = backup(site, dest)
    sha = sha_of(first, "f0007.txt")
    pack = flip_inside(dest, sha)
    second = backup(site, dest)  # the damage is not known yet: the object is named again
    assert sha_of(second, "f0007.txt") == sha
    with pytest.raises(ProvisionError, match=r"f0007\.txt.*damaged"):
        verify_backup(second.path)
    marks = damage.load(objects.store_of(dest))
    assert marks.copies[sha]["where"] == pack.name
    third = backup(site, dest)
    assert third.manifest["totals"]["stored_bytes"] > 0 and not third.warnings
    verify_backup(third.path)
    # Content-addressed: the good copy makes the older archives whole again.
    verify_backup(first.path)
    verify_backup(second.path)
    assert not damage.load(objects.store_of(dest))
    assert sha not in packs.read_index(pack.with_suffix(".idx"))  # the damaged copy is garbage now


def test_a_backup_says_which_archives_stay_damaged_when_the_file_is_gone(tmp_path: Path) -> None:
    site, dest = tmp_path / "site", tmp_path / "b"
    make_files(site, 10)
    first = backup(site, dest)
    sha = sha_of(first, "f0003.txt")
    flip_inside(dest, sha)
    with pytest.raises(ProvisionError, match="damaged"):
        verify_backup(first.path)
    (site / "files" / "f0003.txt").unlink()
    second = backup(site, dest)
    assert len(second.warnings) == 1 and first.path.name in second.warnings[0]
    verify_backup(second.path)  # the new backup is whole: it does not name the lost content
    with pytest.raises(ProvisionError, match="damaged"):
        verify_backup(first.path)
    assessed = scrub.assess(dest)
    assert assessed.unusable == [sha] and assessed.damaged_archives == [first.path.name]
    first.path.unlink()  # the operator deletes the backup that cannot be repaired
    assert objects.collect_garbage(dest) is not None
    assert not damage.load(objects.store_of(dest)) and scrub.assess(dest).unusable == []


def test_a_damaged_loose_object_is_stored_again_into_a_pack(tmp_path: Path) -> None:
    site, dest = tmp_path / "site", tmp_path / "b"
    make_files(site, 10)
    first = backup(site, dest)
    store = objects.store_of(dest)
    for pack, listed in list(packs.indexes(packs.folder_of(store))):  # the layout before packs
        data = pack.read_bytes()
        for sha, (offset, length) in listed.items():
            loose = objects.object_path(store, sha)
            loose.parent.mkdir(exist_ok=True)
            loose.write_bytes(data[offset:offset + length])
        pack.unlink()
        pack.with_suffix(".idx").unlink()
    sha = sha_of(first, "f0002.txt")
    flip_inside(dest, sha)
    with pytest.raises(ProvisionError, match="damaged"):
        verify_backup(first.path)
    assert damage.load(store).copies[sha]["where"] == damage.LOOSE
    second = backup(site, dest)
    assert not objects.object_path(store, sha).exists()  # the damaged copy went
    verify_backup(second.path)
    verify_backup(first.path)


def test_a_damaged_pack_index_is_written_again_from_its_pack(tmp_path: Path) -> None:
    site, dest = tmp_path / "site", tmp_path / "b"
    make_files(site, 25)
    first = backup(site, dest)
    folder = packs.folder_of(objects.store_of(dest))
    idx = next(folder.glob("*.idx"))
    listed = packs.read_index(idx)
    idx.write_bytes(idx.read_bytes()[:40] + b"\x00garbage")
    with pytest.raises(ProvisionError, match="missing"):
        verify_backup(first.path)  # its objects cannot be found, and the index is marked
    assert idx.name in damage.load(objects.store_of(dest)).indexes
    second = backup(site, dest)
    assert second.manifest["totals"]["stored_bytes"] == 0  # everything was found in the pack again
    assert packs.read_index(idx) == listed
    assert not damage.load(objects.store_of(dest))
    verify_backup(first.path)
    verify_backup(second.path)


def test_garbage_collection_never_copies_a_damaged_copy(tmp_path: Path) -> None:
    site, dest = tmp_path / "site", tmp_path / "b"
    make_files(site, 10)
    first = backup(site, dest)
    for n in range(10):
        if n != 4:
            (site / "files" / f"f{n:04d}.txt").write_text(f"new {n}")
    make_files(site, 0)  # ages the files
    second = backup(site, dest)  # names the old f0004.txt, the only survivor of the first pack
    sha = sha_of(second, "f0004.txt")
    flip_inside(dest, sha)
    with pytest.raises(ProvisionError):
        verify_backup(second.path)
    (site / "files" / "f0004.txt").unlink()
    first.path.unlink()
    assert objects.collect_garbage(dest) is not None  # the first pack holds nothing good: dropped
    marks = damage.load(objects.store_of(dest))
    assert marks.copies[sha]["where"] == ""  # dropped, not copied: missing until stored again
    with pytest.raises(ProvisionError, match="missing.*damaged copy"):
        verify_backup(second.path)
    assert scrub.assess(dest).damaged_archives == [second.path.name]


def test_the_scrub_finds_damage_a_budget_at_a_time(tmp_path: Path) -> None:
    site, dest = tmp_path / "site", tmp_path / "b"
    make_files(site, 40, size=20000)
    first = backup(site, dest)
    make_files(site, 40, size=20000, seed="two")
    backup(site, dest)
    sha = sha_of(first, "f0011.txt")
    flip_inside(dest, sha)
    runs, cursor, found = 0, "", []
    while True:
        progress = scrub.scrub(dest, budget=1, cursor=cursor)  # one unit per run
        runs += 1
        found += progress.damaged
        if progress.done:
            break
        cursor = progress.cursor
    assert runs >= 2 and found == [sha]
    assert damage.load(objects.store_of(dest)).copies[sha]["reason"].startswith("it does not decompress") or \
        "sha256" in damage.load(objects.store_of(dest)).copies[sha]["reason"]
    assert scrub.assess(dest).damaged_archives == [first.path.name]


def test_frame_lengths_are_read_from_the_headers(tmp_path: Path) -> None:
    site, dest = tmp_path / "site", tmp_path / "b"
    make_files(site, 5)
    backup(site, dest)
    folder = packs.folder_of(objects.store_of(dest))
    idx = next(folder.glob("*.idx"))
    pack = idx.with_suffix(".pack")
    places = sorted(packs.read_index(idx).values())
    with open(pack, "rb") as handle:
        assert [frame_length(handle, offset, pack.stat().st_size) for offset, _ in places] == \
            [length for _, length in places]
    assert json.loads(idx.read_text())["format"] == 1
    assert hashlib.sha256(b"").hexdigest()  # keeps hashlib used for readers of this file


def test_damage_marked_while_a_backup_runs_is_not_named_by_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from provision.backup import incremental

    site, dest = tmp_path / "site", tmp_path / "b"
    make_files(site, 10)
    first = backup(site, dest)
    sha = sha_of(first, "f0003.txt")
    real_dump = incremental._dump

    def verify_meanwhile(*args, **kwargs):  # type: ignore[no-untyped-def]
        # After the backup listed the site (the object still looked good), verify finds it damaged.
        flip_inside(dest, sha)
        with pytest.raises(ProvisionError):
            verify_backup(first.path)
        return real_dump(*args, **kwargs)

    monkeypatch.setattr(incremental, "_dump", verify_meanwhile)
    second = backup(site, dest)
    assert second.repaired == 1 and not second.warnings
    verify_backup(second.path)
    verify_backup(first.path)


def test_a_backup_that_names_an_object_found_damaged_at_its_very_end_says_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from provision.backup import incremental

    site, dest = tmp_path / "site", tmp_path / "b"
    make_files(site, 10)
    first = backup(site, dest)
    sha = sha_of(first, "f0005.txt")
    real_write = incremental._write_archive

    def verify_meanwhile(*args, **kwargs):  # type: ignore[no-untyped-def]
        flip_inside(dest, sha)
        with pytest.raises(ProvisionError):
            verify_backup(first.path)
        return real_write(*args, **kwargs)

    monkeypatch.setattr(incremental, "_write_archive", verify_meanwhile)
    second = backup(site, dest)
    assert any("This backup names an object found damaged" in w for w in second.warnings)
    monkeypatch.undo()
    third = backup(site, dest)  # stores it again
    assert third.repaired == 1 and not third.warnings
    verify_backup(second.path)
