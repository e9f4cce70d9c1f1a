"""The SQLite driver: one file per database, dumps and loads through Python's sqlite3, and the
rules every driver shares (DatabaseServer, identifiers)."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from provision.db import DatabaseServer, check_identifier, driver_for
from provision.db.sqlite import SQLiteDriver
from provision.errors import Cancelled, ProvisionError
from provision.runner import Runner

ROWS = [
    (1, "plain", b"\x00\x01\xff"),
    (2, "quote ' and \" and back\\slash;", b""),
    (3, "multi\nline;\nwith a semicolon at the end;", b"\n"),
    (4, "Unicode: żółw 🐢", bytes(range(256))),
]


@pytest.fixture
def driver(tmp_path: Path) -> SQLiteDriver:
    drv = driver_for(DatabaseServer("sqlite", sqlite_dir=tmp_path / "dbs"))
    assert isinstance(drv, SQLiteDriver)
    return drv


def quiet() -> Runner:
    return Runner(lambda level, line: None)


def fill(path: Path, extra: int = 0) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY AUTOINCREMENT, label TEXT, data BLOB)")
        conn.execute("CREATE INDEX items_label ON items (label)")
        conn.executemany("INSERT INTO items VALUES (?, ?, ?)", ROWS)
        conn.executemany("INSERT INTO items (label, data) VALUES (?, ?)",
                         ((f"row {i}", b"x" * (i % 50)) for i in range(extra)))
    conn.close()


def rows_of(path: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT id, label, data FROM items ORDER BY id").fetchall()
    finally:
        conn.close()


def test_it_creates_dumps_drops_and_loads_a_database(driver: SQLiteDriver, tmp_path: Path) -> None:
    driver.create_database("site_db")
    driver.create_user("site_user", "ignored")
    driver.grant("site_db", "site_user")
    path = driver.path_of("site_db")
    assert path == tmp_path / "dbs" / "site_db.sqlite" and driver.database_exists("site_db")
    fill(path, extra=5000)
    before = rows_of(path)

    dump = tmp_path / "dump.sql"
    with dump.open("wb") as out:
        driver.dump("site_db", out, quiet())
    driver.drop_database("site_db")
    assert not path.exists() and not driver.database_exists("site_db")
    driver.drop_database("site_db")  # idempotent
    driver.create_database("site_db")
    with dump.open("rb") as src:
        driver.load("site_db", src, quiet())
    assert rows_of(path) == before and before[:4] == ROWS
    with sqlite3.connect(path) as conn:
        # AUTOINCREMENT state came back too: the next id follows the old ones.
        conn.execute("INSERT INTO items (label) VALUES ('next')")
        assert conn.execute("SELECT max(id) FROM items").fetchone() == (len(before) + 1,)
    conn.close()


def test_it_rolls_a_failed_load_back(driver: SQLiteDriver, tmp_path: Path) -> None:
    driver.create_database("site_db")
    bad = tmp_path / "bad.sql"
    bad.write_bytes(b"BEGIN TRANSACTION;\nCREATE TABLE t (id int);\nNOT SQL AT ALL;\nCOMMIT;\n")
    with bad.open("rb") as src, pytest.raises(ProvisionError, match="Could not load"):
        driver.load("site_db", src, quiet())
    conn = sqlite3.connect(driver.path_of("site_db"))
    assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)
    conn.close()


def test_it_stops_a_dump_when_cancelled(driver: SQLiteDriver, tmp_path: Path) -> None:
    driver.create_database("site_db")
    fill(driver.path_of("site_db"), extra=10000)
    runner = Runner(lambda level, line: None, should_stop=lambda: "cancelled by a test")
    with (tmp_path / "d.sql").open("wb") as out, pytest.raises(Cancelled):
        driver.dump("site_db", out, runner)


def test_it_refuses_to_reuse_an_existing_file(driver: SQLiteDriver) -> None:
    driver.create_database("site_db")
    with pytest.raises(ProvisionError, match="already exists"):
        driver.create_database("site_db")


def test_it_reports_a_directory_it_cannot_create_as_retryable(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    drv = driver_for(DatabaseServer("sqlite", sqlite_dir=tmp_path / "a-file" / "databases"))
    with pytest.raises(ProvisionError) as caught:
        drv.ping()
    assert caught.value.permanent is False and "missing or not writable" in str(caught.value)


def test_it_answers_for_a_directory_the_first_database_will_create(tmp_path: Path) -> None:
    # A fresh instance: var/databases appears with the first site, and is no outage before.
    drv = driver_for(DatabaseServer("sqlite", sqlite_dir=tmp_path / "var" / "databases"))
    assert drv.ping() >= 0
    drv.create_database("first")
    assert (tmp_path / "var" / "databases" / "first.sqlite").is_file() and drv.ping() >= 0


@pytest.mark.parametrize("name", ["", "../escape", "a/b", "A", "x" * 65, "1x", "a.b", "a\x00"])
def test_it_refuses_bad_identifiers(driver: SQLiteDriver, name: str) -> None:
    with pytest.raises(ProvisionError):
        driver.create_database(name)
    with pytest.raises(ProvisionError):
        check_identifier(name, "name", 64)


def test_it_gives_settings_and_a_drupal_sqlite_url(driver: SQLiteDriver, tmp_path: Path) -> None:
    settings = driver.settings_for("site_db", "u", "p")
    assert settings.driver == "sqlite" and settings.database == str(tmp_path / "dbs" / "site_db.sqlite")
    assert driver.db_url("site_db", "u", "p") == f"sqlite://localhost/{tmp_path}/dbs/site_db.sqlite"


def test_it_hides_the_admin_password_and_checks_the_engine() -> None:
    server = DatabaseServer("mysql", admin_user="root", admin_password="very-secret")
    assert "very-secret" not in repr(server) and "very-secret" not in server.label
    with pytest.raises(ProvisionError, match="Unknown database engine"):
        DatabaseServer("oracle")  # type: ignore[arg-type]
    with pytest.raises(ProvisionError, match="sqlite_dir"):
        DatabaseServer("sqlite")
