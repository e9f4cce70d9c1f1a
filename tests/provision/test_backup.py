"""Backups with an SQLite site database: the restore drill, the archive's shape, verify,
cancellation and failures leaving nothing behind, archives of the older format 1, and archives
that try to escape."""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import sqlite3
import stat
import tarfile
from pathlib import Path

import pytest
import zstandard

from provision.backup import create_incremental, restore_backup, verify_backup
from provision.backup import store as objects
from provision.backup.archive import TarWriter
from provision.db import DatabaseServer, driver_for
from provision.db.base import DatabaseDriver
from provision.errors import Cancelled, ProvisionError
from provision.runner import Runner

NOW = dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def quiet() -> Runner:
    return Runner(lambda level, line: None)


def snapshot(root: Path) -> dict[str, tuple[str, str]]:
    """Every entry below ROOT: (type, sha256 or link target or mode)."""
    seen: dict[str, tuple[str, str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            rel = str(path.relative_to(root))
            if path.is_symlink():
                seen[rel] = ("link", os.readlink(path))
            elif path.is_dir():
                seen[rel] = ("dir", oct(stat.S_IMODE(path.stat().st_mode)))
            else:
                seen[rel] = ("file", hashlib.sha256(path.read_bytes()).hexdigest()
                             + oct(stat.S_IMODE(path.stat().st_mode)))
    return seen


def make_site(root: Path) -> Path:
    site = root / "platform" / "web" / "sites" / "example.com"
    (site / "files" / "styles" / "thumb").mkdir(parents=True)
    (site / "private").mkdir()
    (site / "settings.php").write_text("<?php\n$databases['default']['default'] = [];\n")
    (site / "files" / "a.txt").write_text("first version\n")
    (site / "files" / "styles" / "thumb" / "pic.bin").write_bytes(os.urandom(300_000))
    (site / "files" / "empty").write_bytes(b"")
    (site / "files" / "ünïcode name.txt").write_text("x")
    (site / "private" / "secret.txt").write_text("private")
    (site / "files" / "latest.txt").symlink_to("a.txt")  # a link inside the site is kept
    os.chmod(site / "settings.php", 0o444)
    return site


@pytest.fixture
def db(tmp_path: Path) -> DatabaseDriver:
    driver = driver_for(DatabaseServer("sqlite", sqlite_dir=tmp_path / "dbs"))
    driver.create_database("site_db")
    with sqlite3.connect(tmp_path / "dbs" / "site_db.sqlite") as conn:
        conn.execute("CREATE TABLE node (nid INTEGER PRIMARY KEY, title TEXT)")
        conn.executemany("INSERT INTO node VALUES (?, ?)", [(i, f"node {i};\n'quoted'") for i in range(500)])
    conn.close()
    return driver


def rows(tmp_path: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(tmp_path / "dbs" / "site_db.sqlite")
    try:
        return conn.execute("SELECT nid, title FROM node ORDER BY nid").fetchall()
    finally:
        conn.close()


def backup(site: Path, dest: Path, db: DatabaseDriver | None, runner: Runner | None = None,
           follow: bool = True, now: dt.datetime = NOW, roots: tuple[Path, ...] = ()):  # type: ignore[no-untyped-def]
    return create_incremental(domain="Example.com", site_dir=site, dest_dir=dest, runner=runner or quiet(),
                              db_driver=db, db_name="site_db" if db else None, follow_files_symlink=follow,
                              files_link_roots=roots,
                              platform_name="d10", platform_path=str(site.parents[2]),
                              drupal_version="10.3.1", now=now)


def test_it_restores_files_and_rows_as_they_were(tmp_path: Path, db: DatabaseDriver) -> None:
    site = make_site(tmp_path)
    before_files, before_rows = snapshot(site), rows(tmp_path)
    result = backup(site, tmp_path / "backups", db)
    assert verify_backup(result.path)["domain"] == "example.com"

    os.chmod(site / "settings.php", 0o644)
    (site / "settings.php").write_text("<?php // changed\n")
    (site / "files" / "a.txt").unlink()
    (site / "files" / "new.txt").write_text("added after the backup")
    with sqlite3.connect(tmp_path / "dbs" / "site_db.sqlite") as conn:
        conn.execute("DELETE FROM node WHERE nid < 100")
        conn.execute("INSERT INTO node VALUES (9999, 'later')")
    conn.close()

    manifest = restore_backup(result.path, site, db, "site_db", quiet())
    assert manifest["database"]["engine"] == "sqlite"
    assert snapshot(site) == before_files
    assert rows(tmp_path) == before_rows
    # Nothing left beside the site: no work directory, no old copy.
    assert sorted(p.name for p in site.parent.iterdir()) == ["example.com"]


def test_it_writes_one_named_private_archive_with_a_full_manifest(tmp_path: Path, db: DatabaseDriver) -> None:
    site = make_site(tmp_path)
    result = backup(site, tmp_path / "backups", db)
    assert result.path.name == "example.com-20250102T030405Z.tar.zst"
    # Beside it, the object store that holds the site's files (format 2).
    assert sorted(p.name for p in (tmp_path / "backups").iterdir()) == [result.path.name, "objects"]
    assert stat.S_IMODE(result.path.stat().st_mode) == 0o600
    assert result.size == result.path.stat().st_size
    assert result.sha256 == hashlib.sha256(result.path.read_bytes()).hexdigest()

    with open(result.path, "rb") as raw, zstandard.ZstdDecompressor().stream_reader(raw) as reader, \
            tarfile.open(fileobj=reader, mode="r|") as tar:
        names = [m.name for m in tar]
    # The dump is an object of the store too (since 2026-12-08): an unchanged one is not written again.
    assert names == ["manifest.json"] and result.manifest["database"]["in_store"] is True
    assert result.manifest["database"]["sha256"] in objects.present(tmp_path / "backups" / "objects")

    m = result.manifest
    assert (m["format"], m["domain"], m["created"]) == (2, "example.com", "2025-01-02T03:04:05Z")
    assert m["platform"] == {"name": "d10", "path": str(site.parents[2])} and m["drupal_version"] == "10.3.1"
    by_path = {e["path"]: e for e in m["members"]}
    pic = (site / "files" / "styles" / "thumb" / "pic.bin").read_bytes()
    assert {k: by_path["site/files/styles/thumb/pic.bin"][k] for k in ("path", "type", "size", "sha256")} == {
        "path": "site/files/styles/thumb/pic.bin", "type": "file", "size": len(pic),
        "sha256": hashlib.sha256(pic).hexdigest()}
    assert "site/private/secret.txt" in by_path
    assert {k: by_path["site/files/latest.txt"][k] for k in ("path", "type", "target")} == {
        "path": "site/files/latest.txt", "type": "symlink", "target": "a.txt"}
    assert m["database"]["sha256"] == by_path["database.sql"]["sha256"]
    # The site's files (the dump is counted apart, in "database").
    assert m["totals"]["files"] == 6 and m["totals"]["symlinks"] == 1
    assert m["totals"]["bytes"] == sum(e.get("size", 0) for e in m["members"] if e["path"] != "database.sql")


def test_it_never_replaces_an_earlier_backup(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    first = backup(site, tmp_path / "b", None)
    second = backup(site, tmp_path / "b", None)
    assert second.path.name == "example.com-20250102T030405Z-1.tar.zst" and first.path.exists()


def test_it_finds_a_flipped_byte(tmp_path: Path) -> None:
    result = backup(make_site(tmp_path), tmp_path / "b", None)
    data = bytearray(result.path.read_bytes())
    data[len(data) // 2] ^= 0x01
    result.path.write_bytes(bytes(data))
    with pytest.raises(ProvisionError, match="damaged"):
        verify_backup(result.path)


def rewrite(path: Path, change) -> None:  # type: ignore[no-untyped-def]
    """Recompress the archive at PATH after CHANGE(tar bytes) -> tar bytes."""
    plain = zstandard.ZstdDecompressor().stream_reader(path.read_bytes()).read()
    path.write_bytes(zstandard.ZstdCompressor().compress(change(plain)))


# An archive of format 1 (everything inside it), the format backups had before the object store:
# written by the format-1 writer before it was removed. Such archives still verify and restore.
FORMAT_1 = Path(__file__).parent / "data" / "example.com-20250102T030405Z.tar.zst"


def format_1(tmp_path: Path) -> Path:
    copy = tmp_path / "old" / FORMAT_1.name
    copy.parent.mkdir()
    copy.write_bytes(FORMAT_1.read_bytes())
    return copy


def test_it_restores_an_archive_of_format_1(tmp_path: Path) -> None:
    archive = format_1(tmp_path)
    manifest = verify_backup(archive)
    assert (manifest["format"], manifest["domain"], manifest["database"]["engine"]) == (1, "example.com", "sqlite")
    db = driver_for(DatabaseServer("sqlite", sqlite_dir=tmp_path / "dbs"))
    db.create_database("site_db")
    site = tmp_path / "platform" / "web" / "sites" / "example.com"
    site.parent.mkdir(parents=True)
    restore_backup(archive, site, db, "site_db", quiet())
    assert (site / "files" / "a.txt").read_text() == "first version\n"
    assert os.readlink(site / "files" / "latest.txt") == "a.txt"
    assert (site / "files" / "styles" / "pic.bin").read_bytes() == bytes(range(256)) * 40
    assert rows(tmp_path) == [(i, f"node {i};\n'quoted'") for i in range(50)]


def test_it_names_the_member_whose_content_changed(tmp_path: Path) -> None:
    archive = format_1(tmp_path)
    site = tmp_path / "site"
    site.mkdir()
    (site / "keep.txt").write_text("kept")
    rewrite(archive, lambda tar: tar.replace(b"first version", b"first versioN"))
    with pytest.raises(ProvisionError, match=r"'site/files/a\.txt' .* is damaged"):
        verify_backup(archive)
    with pytest.raises(ProvisionError, match=r"'site/files/a\.txt' .* is damaged"):
        restore_backup(archive, site, None, None, quiet())
    assert [p.name for p in site.iterdir()] == ["keep.txt"]  # nothing was touched


def archives(dest: Path) -> list[str]:
    """What a backup left in DEST besides the object store: archives, partial files."""
    return [p.name for p in dest.iterdir() if p.name != "objects"]


def test_it_leaves_nothing_behind_when_cancelled(tmp_path: Path, db: DatabaseDriver) -> None:
    site = make_site(tmp_path)
    for n in range(200):
        (site / "files" / f"many-{n}.txt").write_text(str(n))
    checks = 0

    def stop_after_a_while() -> str | None:
        nonlocal checks
        checks += 1
        return "cancelled by a test" if checks > 5 else None

    with pytest.raises(Cancelled):
        backup(site, tmp_path / "b", db, Runner(lambda level, line: None, should_stop=stop_after_a_while))
    assert not archives(tmp_path / "b")


def test_it_leaves_nothing_behind_when_the_dump_fails(tmp_path: Path, db: DatabaseDriver) -> None:
    db.drop_database("site_db")
    with pytest.raises(ProvisionError, match="does not exist"):
        backup(make_site(tmp_path), tmp_path / "b", db)
    assert not archives(tmp_path / "b")


def test_it_follows_a_symlinked_files_dir_when_asked(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    big = tmp_path / "big" / "example.com"
    big.parent.mkdir()
    (site / "files").rename(big)
    (site / "files").symlink_to(big)
    followed = backup(site, tmp_path / "b", None, follow=True, roots=(tmp_path / "big",))
    assert followed.manifest["files_symlink"] == {"path": "site/files", "target": str(big), "followed": True}
    assert any(e["path"] == "site/files/a.txt" for e in followed.manifest["members"])
    restored = tmp_path / "restored" / "example.com"
    restored.parent.mkdir()
    restore_backup(followed.path, restored, None, None, quiet())
    assert (restored / "files").is_dir() and not (restored / "files").is_symlink()
    assert (restored / "files" / "a.txt").read_text() == "first version\n"


def test_it_keeps_a_symlinked_files_dir_as_a_link_when_asked(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    big = tmp_path / "big" / "example.com"
    big.parent.mkdir()
    (site / "files").rename(big)
    (site / "files").symlink_to(big)
    kept = backup(site, tmp_path / "b", None, follow=False, roots=(tmp_path / "big",))
    assert not any(e["path"].startswith("site/files/") for e in kept.manifest["members"])
    with pytest.raises(ProvisionError, match="allowed nowhere"):
        restore_backup(kept.path, site, None, None, quiet())
    with pytest.raises(ProvisionError, match="outside the places"):
        restore_backup(kept.path, site, None, None, quiet(), files_link_roots=[tmp_path / "elsewhere"])
    restore_backup(kept.path, site, None, None, quiet(), files_link_roots=[tmp_path / "big"])
    assert os.readlink(site / "files") == str(big)


def test_it_refuses_to_load_a_dump_into_another_engine(tmp_path: Path, db: DatabaseDriver) -> None:
    site = make_site(tmp_path)
    result = backup(site, tmp_path / "b", db)
    mysql = driver_for(DatabaseServer("mysql", host="127.0.0.1", port=1, admin_user="root"))
    with pytest.raises(ProvisionError, match="comes from sqlite"):
        restore_backup(result.path, site, mysql, "site_db", quiet())


def evil_archive(path: Path, *members: tuple[tarfile.TarInfo, bytes]) -> Path:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        site = tarfile.TarInfo("site")
        site.type = tarfile.DIRTYPE
        tar.addfile(site)
        for info, data in members:
            info.size = len(data) if info.isreg() else 0
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
        manifest = json.dumps({"format": 1, "members": []}).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))
    path.write_bytes(zstandard.ZstdCompressor().compress(buffer.getvalue()))
    return path


def member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, 0o644
    return info


@pytest.mark.parametrize("members", [
    [(member("site/../../escaped.txt"), b"x")],
    [(member("/tmp/escaped.txt"), b"x")],
    [(member("site/./x/../../escaped.txt"), b"x")],
    [(member("elsewhere/escaped.txt"), b"x")],
    [(member("site/out", tarfile.SYMTYPE, "../../.."), b"")],
    [(member("site/abs", tarfile.SYMTYPE, "/etc"), b"")],
    [(member("site/in", tarfile.SYMTYPE, "."), b""), (member("site/in/escaped.txt"), b"x")],
    [(member("site/hard", tarfile.LNKTYPE, "/etc/passwd"), b"")],
    [(member("site/dev", tarfile.CHRTYPE), b"")],
    [(member("site/a.txt"), b"1"), (member("site/a.txt"), b"2")],
], ids=["dotdot", "absolute", "dot-dotdot", "outside-site", "link-up", "link-absolute",
        "below-link", "hardlink", "device", "duplicate"])
def test_it_refuses_an_archive_that_reaches_outside(tmp_path: Path, members: list) -> None:  # type: ignore[type-arg]
    site = make_site(tmp_path / "root")
    before = snapshot(site)
    archive = evil_archive(tmp_path / "evil.tar.zst", *members)
    with pytest.raises(ProvisionError):
        restore_backup(archive, site, None, None, quiet())
    assert snapshot(site) == before
    assert sorted(p.name for p in site.parent.iterdir()) == ["example.com"]
    assert not list(tmp_path.rglob("escaped.txt")) and not Path("/tmp/escaped.txt").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_it_says_which_file_it_could_not_read(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    os.chmod(site / "private" / "secret.txt", 0)
    with pytest.raises(ProvisionError, match="secret.txt"):
        backup(site, tmp_path / "b", None)
    assert list((tmp_path / "b").iterdir()) == []


def test_it_passes_on_a_write_failure_of_the_compressing_thread() -> None:
    class Full(io.RawIOBase):
        def writable(self) -> bool:
            return True

        def write(self, data: object) -> int:
            raise OSError(28, "No space left on device")

    data = os.urandom(1 << 20)
    with pytest.raises(OSError, match="No space left"), TarWriter(Full(), quiet()) as writer:  # type: ignore[arg-type]
        for n in range(64):
            writer.add_file(f"site/f{n}", io.BytesIO(data), len(data), 0o644, 0)
        writer.close()
