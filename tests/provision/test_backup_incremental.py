"""Format-2 (incremental) backups: unchanged files are not read again, every backup restores and
verifies on its own, garbage collection keeps what newer backups name, and the preflight refuses
a backup that would not fit before writing it."""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sqlite3
import time
from collections import namedtuple
from pathlib import Path

import pytest

from provision.backup import create_incremental, restore_backup, verify_backup
from provision.backup import store as objects
from provision.db.base import DatabaseDriver
from provision.errors import ProvisionError
from tests.provision.test_backup import NOW, db, make_site, quiet, rows, snapshot  # noqa: F401 - db is a fixture


def age(root: Path) -> None:
    """Files written a minute ago, as a real site's are (fresher ones are not trusted from the
    index: they could change again within one mtime tick)."""
    past = time.time() - 60
    for folder, _dirs, names in os.walk(root):
        for name in names:
            os.utime(os.path.join(folder, name), (past, past), follow_symlinks=False)


def backup(site: Path, dest: Path, db: DatabaseDriver | None, minutes: int = 0, **kwargs):  # type: ignore[no-untyped-def]
    return create_incremental(domain="example.com", site_dir=site, dest_dir=dest, runner=quiet(),
                              db_driver=db, db_name="site_db" if db else None, follow_files_symlink=True,
                              now=NOW + dt.timedelta(minutes=minutes), **kwargs)


def opened_under(monkeypatch: pytest.MonkeyPatch, root: Path) -> list[str]:
    opened: list[str] = []
    real = os.open

    def counting(path, flags, *args, **kwargs):  # type: ignore[no-untyped-def]
        if str(path).startswith(str(root)) and not flags & os.O_DIRECTORY:  # directories are listed
            opened.append(str(path))
        return real(path, flags, *args, **kwargs)

    monkeypatch.setattr(objects.os, "open", counting)
    return opened


def test_it_reads_no_unchanged_file_on_a_second_backup(tmp_path: Path, db: DatabaseDriver,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    site = make_site(tmp_path)
    age(site)
    first = backup(site, tmp_path / "backups", db)
    assert first.manifest["format"] == 2 and first.manifest["totals"]["reused_files"] == 0
    (site / "files" / "a.txt").write_text("second version\n")
    opened = opened_under(monkeypatch, site)
    second = backup(site, tmp_path / "backups", db, minutes=1)
    assert opened == [str(site / "files" / "a.txt")]  # only the changed file was read
    assert second.manifest["totals"]["reused_files"] == first.manifest["totals"]["files"] - 1
    assert second.manifest["totals"]["stored_bytes"] < 200  # the 300 kB picture is not stored again
    verify_backup(second.path)


def test_it_restores_the_second_backup_alone_after_the_first_is_deleted(tmp_path: Path, db: DatabaseDriver) -> None:
    site = make_site(tmp_path)
    age(site)
    dest = tmp_path / "backups"
    first = backup(site, dest, db)
    (site / "files" / "a.txt").write_text("second version\n")
    expected_files, expected_rows = snapshot(site), rows(tmp_path)
    second = backup(site, dest, db, minutes=1)
    first.path.unlink()
    gone = objects.collect_garbage(dest)
    assert gone is not None and gone.removed == 1  # "first version" of a.txt, named by no backup now
    shutil.rmtree(site)
    with sqlite3.connect(tmp_path / "dbs" / "site_db.sqlite") as conn:
        conn.execute("DELETE FROM node")
    restore_backup(second.path, site, db, "site_db", quiet())
    assert snapshot(site) == expected_files and rows(tmp_path) == expected_rows
    second.path.unlink()
    assert objects.collect_garbage(dest) is not None
    assert not [p for p in objects.store_of(dest).rglob("*") if p.is_file() and len(p.name) == 64]


def test_it_names_a_missing_or_damaged_object(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    result = backup(site, tmp_path / "backups", None)
    entry = next(m for m in result.manifest["members"] if m["path"] == "site/files/styles/thumb/pic.bin")
    store = objects.store_of(tmp_path / "backups")
    with objects.Reader(store) as reader:
        pack, offset, length = reader.locate(entry["sha256"])
    data = bytearray(pack.read_bytes())
    data[offset + length // 2] ^= 1
    pack.write_bytes(bytes(data))
    with pytest.raises(ProvisionError, match="pic.bin"):
        verify_backup(result.path)
    idx = pack.with_suffix(".idx")
    listed = json.loads(idx.read_text())
    del listed["objects"][entry["sha256"]]
    idx.write_text(json.dumps(listed))
    with pytest.raises(ProvisionError, match=r"pic\.bin.*missing"):
        verify_backup(result.path)


def test_it_keeps_objects_while_a_backup_holds_the_store(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    dest = tmp_path / "backups"
    result = backup(site, dest, None)
    result.path.unlink()
    with objects.locked(objects.store_of(dest)):
        assert objects.collect_garbage(dest) is None  # a backup's new objects look unreferenced
    assert objects.collect_garbage(dest).removed > 0  # type: ignore[union-attr]


def test_it_refuses_a_backup_that_would_not_fit(tmp_path: Path, db: DatabaseDriver,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    site = make_site(tmp_path)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10 << 30, (10 << 30) - (1 << 20), 1 << 20))
    with pytest.raises(ProvisionError) as caught:
        backup(site, tmp_path / "backups", db)
    message = str(caught.value)
    assert "The backup of example.com needs about" in message and "only 1.0 MiB free of 10.0 GiB" in message
    assert "Nothing was written" in message
    written = [p for p in (tmp_path / "backups").rglob("*") if p.is_file() and p.name != objects.LOCK]
    assert written == []


def test_it_makes_a_database_only_backup_that_restore_refuses(tmp_path: Path, db: DatabaseDriver) -> None:
    site = make_site(tmp_path)
    result = backup(site, tmp_path / "backups", db, include_files=False)
    assert [m["path"] for m in result.manifest["members"]] == ["database.sql"]
    verify_backup(result.path)
    before = snapshot(site)
    with pytest.raises(ProvisionError, match="only the database"):
        restore_backup(result.path, site, db, "site_db", quiet())
    assert snapshot(site) == before
