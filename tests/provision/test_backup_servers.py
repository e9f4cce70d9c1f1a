"""The restore drill against real MariaDB and PostgreSQL servers: rows and files written,
backed up, changed, restored, compared."""
from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest

from provision.backup import create_incremental, restore_backup, verify_backup
from provision.db import DatabaseServer, driver_for
from provision.db.base import DatabaseDriver
from provision.runner import Runner
from tests.services import need_program, need_service

ROWS = [(i, f"node {i}: 'quoted'; żółw\nsecond line", bytes([i % 256]) * (i % 7)) for i in range(300)]


class Engine:
    """One database server, seen as a site sees it."""

    def __init__(self, driver: DatabaseDriver, connect: Callable[[str, str, str], Any], blob: str) -> None:
        self.driver, self.connect, self.blob = driver, connect, blob

    def execute(self, db: str, user: str, password: str, *statements: tuple[str, Any]) -> list[tuple[Any, ...]]:
        conn = self.connect(db, user, password)
        try:
            cursor = conn.cursor()
            for sql, args in statements:
                if isinstance(args, list):
                    cursor.executemany(sql, args)
                else:
                    cursor.execute(sql, args)
            got = [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
                   for row in cursor.fetchall()] if cursor.description else []
            conn.commit()
            return got
        finally:
            conn.close()


def mariadb() -> Engine:
    host, port = need_service("mariadb")
    need_program("mariadb-dump", "mysqldump")
    server = DatabaseServer("mysql", host=host, port=port, admin_user="root")
    return Engine(driver_for(server), lambda db, user, pw: pymysql.connect(
        host=host, port=port, user=user, password=pw, database=db, charset="utf8mb4"), "LONGBLOB")


def postgresql() -> Engine:
    host, port = need_service("postgresql")
    need_program("pg_dump")
    server = DatabaseServer("postgresql", host=host, port=port, admin_user="postgres")
    return Engine(driver_for(server), lambda db, user, pw: psycopg.connect(
        host=host, port=port, user=user, password=pw, dbname=db), "bytea")


@pytest.fixture(params=[mariadb, postgresql], ids=["mariadb", "postgresql"])
def engine(request: pytest.FixtureRequest) -> Iterator[tuple[Engine, str, str, str]]:
    eng: Engine = request.param()
    db = user = f"hm_t_{uuid.uuid4().hex[:12]}"
    password = "pw-" + uuid.uuid4().hex
    eng.driver.create_database(db)
    try:
        eng.driver.create_user(user, password)
        eng.driver.grant(db, user)
        yield eng, db, user, password
    finally:
        eng.driver.drop_database(db)
        eng.driver.drop_user(user)


def checksums(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_it_restores_rows_and_files_as_they_were(engine: tuple[Engine, str, str, str], tmp_path: Path) -> None:
    eng, db, user, password = engine
    eng.execute(db, user, password,
                (f"CREATE TABLE node (nid INT PRIMARY KEY, title TEXT, data {eng.blob})", None),
                ("INSERT INTO node VALUES (%s, %s, %s)", ROWS))
    site = tmp_path / "sites" / "example.com"
    (site / "files").mkdir(parents=True)
    (site / "settings.php").write_text("<?php // settings\n")
    (site / "files" / "photo.bin").write_bytes(os.urandom(200_000))
    before = checksums(site)
    runner = Runner(lambda level, line: None, secrets=[password])

    result = create_incremental(domain="example.com", site_dir=site, dest_dir=tmp_path / "backups",
                           runner=runner, db_driver=eng.driver, db_name=db, follow_files_symlink=True)
    assert verify_backup(result.path)["database"]["engine"] == eng.driver.server.engine

    eng.execute(db, user, password, ("DELETE FROM node WHERE nid < 150", None),
                ("INSERT INTO node VALUES (5000, 'after the backup', NULL)", None),
                ("CREATE TABLE later (id INT)", None))
    (site / "files" / "photo.bin").write_bytes(b"overwritten")
    (site / "files" / "new.bin").write_bytes(b"new")

    restore_backup(result.path, site, eng.driver, db, runner, db_owner=user)
    assert eng.execute(db, user, password, ("SELECT nid, title, data FROM node ORDER BY nid", None)) == ROWS
    assert checksums(site) == before
    # The site user still owns and may change everything (PostgreSQL: tables owned by it).
    eng.execute(db, user, password, ("ALTER TABLE node ADD COLUMN changed INT", None))
    tables = eng.execute(db, user, password, ("SELECT count(*) FROM information_schema.tables "
                                              "WHERE table_name = 'later'", None))
    assert tables == [(0,)]
