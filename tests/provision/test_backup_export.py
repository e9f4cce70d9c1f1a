"""The standard archive of a backup (provision.backup.export): plain `tar` extracts it into the
site and its database dump byte for byte, in constant memory; a tampered manifest makes it
neither read outside the store nor write outside the directory tar runs in; and garbage
collection after deleting backups keeps every object a remaining backup needs."""
from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import zstandard

from provision.backup import restore_backup
from provision.backup import store as objects
from provision.backup.archive import DATABASE, MANIFEST
from provision.backup.export import archive_in, export_stream, main
from provision.db.base import DatabaseDriver
from provision.errors import ProvisionError
from tests.provision.test_backup import db, make_site, quiet, snapshot  # noqa: F401 - db is a fixture
from tests.provision.test_backup_incremental import age, backup

REPO = Path(__file__).resolve().parents[2]


def stored_member(archive: Path, name: str) -> bytes | None:
    with open(archive, "rb") as raw, tarfile.open(fileobj=zstandard.ZstdDecompressor().stream_reader(raw),
                                                  mode="r|") as tar:
        for info in tar:
            if info.name == name:
                source = tar.extractfile(info)
                assert source is not None
                return source.read()
    return None


def dump_of(archive: Path) -> bytes:
    """The database dump a backup took, from its archive or (since 2026-12-08) its store."""
    from provision.backup.reader import Reader

    inside = stored_member(archive, DATABASE)
    if inside is not None:
        return inside
    database = json.loads(stored_member(archive, MANIFEST) or b"")["database"]
    with Reader(objects.store_of(archive.parent)) as reader:
        return b"".join(reader.chunks(database["sha256"], database["size"]))


def extract(archive: Path, into: Path, *flags: str) -> None:
    into.mkdir()
    subprocess.run(["tar", *flags, "-xf", str(archive), "-C", str(into)], check=True, capture_output=True)


@pytest.mark.parametrize(("name", "flags"), [("site.tar.zst", ("--zstd",)), ("site.tar.gz", ("-z",))])
def test_plain_tar_extracts_the_site_and_the_dump_byte_for_byte(tmp_path: Path, db: DatabaseDriver,
                                                                name: str, flags: tuple[str, ...]) -> None:
    site = make_site(tmp_path)
    age(site)
    backup(site, tmp_path / "backups", db)
    (site / "files" / "a.txt").write_text("second version\n")
    result = backup(site, tmp_path / "backups", db, minutes=1)
    before = snapshot(site)
    target = tmp_path / name
    assert main([str(tmp_path / "backups"), result.path.name, "-o", str(target)]) == 0
    extract(target, tmp_path / "out", *flags)
    assert snapshot(tmp_path / "out" / "site") == before
    assert (tmp_path / "out" / DATABASE).read_bytes() == dump_of(result.path)
    assert b"CREATE TABLE" in (tmp_path / "out" / DATABASE).read_bytes()
    assert json.loads((tmp_path / "out" / MANIFEST).read_bytes())["format"] == 2
    assert main([str(tmp_path / "backups"), result.path.name, "-o", str(target)]) == 1  # exists: no --force


def test_the_entry_point_runs_without_the_panel_and_writes_to_stdout(tmp_path: Path, db: DatabaseDriver) -> None:
    site = make_site(tmp_path)
    result = backup(site, tmp_path / "backups", db)
    # No Django settings, no hosting on the path that matters: a bare interpreter in the repository.
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "provision.backup.export", str(tmp_path / "backups"),
                           str(result.path), "-o", "-"], env=env, cwd=tmp_path, capture_output=True, check=True)
    assert "django" not in done.stderr.decode().lower()
    with tarfile.open(fileobj=io.BytesIO(zstandard.ZstdDecompressor().decompressobj().decompress(done.stdout))) as tar:
        settings = tar.extractfile("site/settings.php")
        assert settings is not None and settings.read() == (site / "settings.php").read_bytes()


def test_only_a_backup_archive_inside_the_directory_is_exported(tmp_path: Path, db: DatabaseDriver) -> None:
    result = backup(make_site(tmp_path), tmp_path / "backups", db)
    folder = tmp_path / "backups"
    (tmp_path / "elsewhere.tar.zst").write_bytes(result.path.read_bytes())
    (folder / "link.tar.zst").symlink_to(tmp_path / "elsewhere.tar.zst")
    for name in ("../elsewhere.tar.zst", str(tmp_path / "elsewhere.tar.zst"), "link.tar.zst", "index.json",
                 ".hidden.tar.zst", "objects/../../elsewhere.tar.zst"):
        with pytest.raises(ProvisionError):
            archive_in(folder, name)
    assert archive_in(folder, result.path.name) == result.path


def tamper(archive: Path, change) -> None:
    """Rewrite ARCHIVE's manifest through CHANGE(members) (as someone with the disk could)."""
    manifest = json.loads(stored_member(archive, MANIFEST) or b"")
    change(manifest["members"])
    dump = stored_member(archive, DATABASE)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in ((MANIFEST, json.dumps(manifest).encode()), (DATABASE, dump)):
            if data is None:
                continue
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    archive.write_bytes(zstandard.ZstdCompressor().compress(buffer.getvalue()))


def _file(members: list[dict]) -> dict:
    return next(m for m in members if m["type"] == "file" and m["path"].endswith("a.txt"))


ATTACKS = {
    "dot-dot": lambda ms: _file(ms).update(path="site/../../escaped.txt"),
    "absolute": lambda ms: _file(ms).update(path="/tmp/escaped.txt"),
    "outside site": lambda ms: _file(ms).update(path="etc/passwd"),
    "object name as a path": lambda ms: _file(ms).update(sha256="../../../../etc/passwd"),
    "absolute link": lambda ms: ms.append({"path": "site/etc", "type": "symlink", "target": "/etc"}),
    "climbing link": lambda ms: ms.append({"path": "site/up", "type": "symlink", "target": "../.."}),
    "member below a link": lambda ms: ms.extend([
        {"path": "site/private/out", "type": "symlink", "target": "../files"},
        {**_file(ms), "path": "site/private/out/x.txt"}]),
    "two links climbing together": lambda ms: ms.extend([
        {"path": "site/here", "type": "symlink", "target": "."},
        {"path": "site/away", "type": "symlink", "target": "here/.."}]),
    "beside the site": lambda ms: ms.append({**_file(ms), "path": MANIFEST}),
    "twice": lambda ms: ms.append(dict(_file(ms))),
    "bad size": lambda ms: _file(ms).update(size="12"),
    "other type": lambda ms: _file(ms).update(type="fifo"),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_a_tampered_manifest_is_refused_before_the_first_byte(tmp_path: Path, attack: str) -> None:
    result = backup(make_site(tmp_path), tmp_path / "backups", None)
    tamper(result.path, ATTACKS[attack])
    with pytest.raises(ProvisionError):
        export_stream(result.path, "tar")
    assert not (tmp_path / "escaped.txt").exists()


def drain(archive: Path) -> None:
    for _chunk in export_stream(archive, "tar"):
        pass


def test_a_lying_size_or_a_damaged_object_ends_the_stream_short(tmp_path: Path, db: DatabaseDriver) -> None:
    site = make_site(tmp_path)
    result = backup(site, tmp_path / "backups", db)
    drain(result.path)
    tamper(result.path, lambda ms: _file(ms).update(size=3))
    with pytest.raises(ProvisionError, match="not the 3"):
        drain(result.path)
    assert not (objects.store_of(tmp_path / "backups") / "damaged.json").exists()  # the object is good
    target = tmp_path / "short.tar"
    assert main([str(tmp_path / "backups"), result.path.name, "-o", str(target)]) == 1
    assert not target.exists() and not list(tmp_path.glob(".short.tar.*"))  # no file that looks whole
    tamper(result.path, lambda ms: _file(ms).update(size=len("first version\n")))
    drain(result.path)
    dump = next(m for m in json.loads(stored_member(result.path, MANIFEST) or b"")["members"] if m["path"] == DATABASE)
    tamper(result.path, lambda ms: next(m for m in ms if m["path"] == DATABASE).update(sha256="0" * 64))
    with pytest.raises(ProvisionError, match="0{64} is missing"):
        drain(result.path)
    tamper(result.path, lambda ms: next(m for m in ms if m["path"] == DATABASE).update(sha256=dump["sha256"]))
    pack = next((objects.store_of(tmp_path / "backups") / "packs").glob("*.pack"))
    data = bytearray(pack.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside the 300 KB random file
    pack.write_bytes(bytes(data))
    with pytest.raises(ProvisionError, match="damaged"):
        drain(result.path)


def test_an_export_holds_constant_memory_for_a_large_site(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    (site / "files" / "video.bin").write_bytes(os.urandom(96 << 20))  # one file larger than any buffer
    many = site / "files" / "many"
    many.mkdir()
    for n in range(2000):
        (many / f"{n}.txt").write_bytes(f"file {n}\n".encode() * 50)
    result = backup(site, tmp_path / "backups", None)
    script = ("import resource, sys; from provision.backup.export import main; rc = main(sys.argv[1:]); "
              "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    base = ("import resource, zstandard, provision.backup.export; "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO)}
    idle = int(subprocess.run([sys.executable, "-c", base], env=env, capture_output=True, check=True).stdout)
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "backups"), result.path.name,
                           "-o", str(tmp_path / "out.tar.zst")], env=env, capture_output=True, check=True)
    peak = int(done.stdout)  # KiB
    assert (tmp_path / "out.tar.zst").stat().st_size > 96 << 20
    assert peak - idle < 48 << 10, (peak, idle)  # well under the 96 MiB file: it is never held whole


# -- garbage collection after deleting backups ------------------------------------------------


def du(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def test_collection_keeps_what_remaining_backups_need_and_frees_the_rest(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    dest = tmp_path / "backups"
    taken = []
    for step in range(5):
        age(site)
        (site / "files" / f"new-{step}.bin").write_bytes(os.urandom(400_000))  # each backup adds content
        if step % 2:
            (site / "files" / f"new-{step - 1}.bin").unlink()  # and some goes again
        (site / "files" / "a.txt").write_text(f"version {step}\n")
        taken.append((backup(site, dest, None, minutes=step), snapshot(site)))
    store = objects.store_of(dest)
    before = du(store)
    for result, _seen in (taken[0], taken[2], taken[3]):
        result.path.unlink()
    with objects.locked(store):  # as a backup running now holds it
        assert objects.collect_garbage(dest) is None  # nothing is touched, the store is marked
    assert du(store) == before and (store / objects.PENDING).exists()
    last = backup(site, dest, None, minutes=9)  # collects once it lets the store go
    taken.append((last, snapshot(site)))
    assert not (store / objects.PENDING).exists()
    # new-0 and new-2 were deleted from the site and only deleted backups named them: their
    # 800 KB (incompressible) are freed on disk, not only counted.
    assert before - du(store) > 700_000
    again = objects.collect_garbage(dest)
    assert again is not None and again.freed == 0  # nothing left to free (a pack mostly alive keeps a dead object)
    for result, seen in (taken[1], taken[4], taken[5]):
        into = tmp_path / f"restored-{result.path.name}"
        restore_backup(result.path, into, None, None, quiet())
        assert snapshot(into) == seen
        shutil.rmtree(into, ignore_errors=True)


def test_a_backup_holding_its_dump_inside_its_archive_exports_and_restores_too(tmp_path: Path,
                                                                               db: DatabaseDriver) -> None:
    """Backups written before the dump became an object keep it in the archive."""
    site = make_site(tmp_path)
    result = backup(site, tmp_path / "backups", db)
    dump = dump_of(result.path)
    manifest = json.loads(stored_member(result.path, MANIFEST) or b"")
    del manifest["database"]["in_store"]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in ((MANIFEST, json.dumps(manifest).encode()), (DATABASE, dump)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    result.path.write_bytes(zstandard.ZstdCompressor().compress(buffer.getvalue()))
    target = tmp_path / "legacy.tar.zst"
    assert main([str(tmp_path / "backups"), result.path.name, "-o", str(target)]) == 0
    extract(target, tmp_path / "out", "--zstd")
    assert (tmp_path / "out" / DATABASE).read_bytes() == dump
    restore_backup(result.path, tmp_path / "restored", None, None, quiet())
    assert snapshot(tmp_path / "restored") == snapshot(site)


def test_an_export_survives_garbage_collection_rewriting_packs_under_it(tmp_path: Path) -> None:
    from provision.backup.export import _tar, plan

    site = make_site(tmp_path)
    dest = tmp_path / "backups"
    for n in range(8):
        (site / "files" / f"big-{n}.bin").write_bytes(os.urandom(200_000))
    age(site)
    first = backup(site, dest, None)  # one pack: the site's files and the big ones
    for n in range(8):
        (site / "files" / f"big-{n}.bin").unlink()
    second = backup(site, dest, None, minutes=1)  # names the same pack's objects, but few of them
    seen = snapshot(site)
    packs_before = set((objects.store_of(dest) / "packs").glob("*.pack"))
    stream = _tar(second.path, plan(second.path))
    head = [next(stream) for _ in range(12)]  # under way: indexes read, the pack open
    first.path.unlink()
    gone = objects.collect_garbage(dest)
    assert gone is not None and gone.freed > 1_000_000
    assert not packs_before & set((objects.store_of(dest) / "packs").glob("*.pack"))  # the pack was rewritten
    target = tmp_path / "during-gc.tar"
    target.write_bytes(b"".join(head + list(stream)))
    extract(target, tmp_path / "out")
    assert snapshot(tmp_path / "out" / "site") == seen
    # And one started after the rewrite reads the new pack.
    assert b"".join(export_stream(second.path, "tar")) == target.read_bytes()
