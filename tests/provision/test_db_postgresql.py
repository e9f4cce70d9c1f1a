"""The PostgreSQL driver against a real server on 127.0.0.1:5432 (user postgres, trust)."""
from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from provision.db import DatabaseServer, driver_for
from provision.db.postgresql import PostgreSQLDriver
from provision.errors import ProvisionError
from provision.runner import Runner
from tests.services import need_program, need_service

ROWS = [
    (1, "plain", b"\x00\x01\xff"),
    (2, "quote ' and \" and back\\slash;", b""),
    (3, "multi\nline;\nwith a semicolon at the end;", b"\n"),
    (4, "Unicode: żółw 🐢", bytes(range(256))),
]


class Made(list[tuple[str, str]]):
    """Databases and roles a test created, dropped after it whatever happened."""

    def fresh(self, kind: str) -> str:
        name = f"hm_t_{uuid.uuid4().hex[:12]}"
        self.append((kind, name))
        return name


@pytest.fixture
def server() -> DatabaseServer:
    host, port = need_service("postgresql")
    return DatabaseServer("postgresql", host=host, port=port, admin_user="postgres",
                          name="test-postgresql")


@pytest.fixture
def made(server: DatabaseServer) -> Iterator[Made]:
    names = Made()
    yield names
    drv = driver_for(server)
    # Databases first: a role that still owns one cannot be dropped.
    for kind, name in sorted(names, key=lambda item: item[0] != "db"):
        (drv.drop_database if kind == "db" else drv.drop_user)(name)


@pytest.fixture
def driver(server: DatabaseServer, made: Made) -> PostgreSQLDriver:
    drv = driver_for(server)
    assert isinstance(drv, PostgreSQLDriver)
    return drv


def as_user(server: DatabaseServer, user: str, password: str, db: str) -> psycopg.Connection:
    return psycopg.connect(host=server.host, port=server.port, user=user, password=password,
                           dbname=db, autocommit=True)


def test_it_creates_dumps_drops_and_loads_a_database(driver: PostgreSQLDriver, made: Made,
                                                     server: DatabaseServer, tmp_path: Path) -> None:
    need_program("pg_dump")
    db, user, password = made.fresh("db"), made.fresh("user"), "pw-" + uuid.uuid4().hex
    driver.create_database(db)
    driver.create_user(user, password)
    driver.grant(db, user)
    assert driver.database_exists(db) and driver.user_exists(user)
    # As the site user, in public: what a Drupal install does (PostgreSQL 15+ lets only the
    # database owner create there).
    with as_user(server, user, password, db) as conn:
        conn.execute("CREATE TABLE items (id int PRIMARY KEY, label text, data bytea)")
        conn.execute("CREATE SEQUENCE counter")
        conn.cursor().executemany("INSERT INTO items VALUES (%s, %s, %s)", ROWS)

    lines: list[str] = []
    runner = Runner(lambda level, line: lines.append(line))
    dump = tmp_path / "dump.sql"
    with dump.open("wb") as out:
        driver.dump(db, out, runner)
    assert b"CREATE TABLE public.items" in dump.read_bytes()
    assert b"OWNER TO" not in dump.read_bytes()  # portable to another owner (clone)

    driver.drop_database(db)
    assert not driver.database_exists(db)
    driver.drop_database(db)  # idempotent
    driver.create_database(db)
    driver.grant(db, user)
    with dump.open("rb") as src:
        driver.load(db, src, runner, owner=user)
    with as_user(server, user, password, db) as conn:
        got = [(i, t, bytes(d)) for i, t, d in conn.execute("SELECT id, label, data FROM items ORDER BY id")]
        assert got == ROWS
        owners = conn.execute("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'").fetchall()
        assert owners == [(user,)]
        conn.execute("ALTER TABLE items ADD COLUMN later int")  # only the owner may


def test_it_rolls_a_failed_load_back(driver: PostgreSQLDriver, made: Made, tmp_path: Path) -> None:
    need_program("psql")
    db = made.fresh("db")
    driver.create_database(db)
    bad = tmp_path / "bad.sql"
    bad.write_bytes(b"CREATE TABLE t (id int);\nINSERT INTO t VALUES (1);\nTHIS IS NOT SQL;\n")
    with bad.open("rb") as src, pytest.raises(ProvisionError, match="psql failed"):
        driver.load(db, src, Runner(lambda level, line: None))
    with as_user(driver.server, "postgres", "", db) as conn:
        assert conn.execute("SELECT to_regclass('public.t')").fetchone() == (None,)


def test_it_refuses_to_create_what_exists(driver: PostgreSQLDriver, made: Made) -> None:
    db, user = made.fresh("db"), made.fresh("user")
    driver.create_database(db)
    driver.create_user(user, "secret-one")
    with pytest.raises(ProvisionError, match="already exists"):
        driver.create_database(db)
    with pytest.raises(ProvisionError, match="already exists") as caught:
        driver.create_user(user, "secret-two")
    assert "secret" not in str(caught.value)


@pytest.mark.parametrize("name", ["", "Upper", 'quo"te', "a-b", "a b", "1digit", "x" * 64, "../x"])
def test_it_refuses_bad_identifiers(name: str) -> None:
    drv = driver_for(DatabaseServer("postgresql", host="127.0.0.1", port=1, admin_user="postgres"))
    refused = r"empty|characters long|may hold only"
    with pytest.raises(ProvisionError, match=refused):
        drv.create_database(name)
    with pytest.raises(ProvisionError, match=refused):
        drv.create_user(name, "pw")
    with pytest.raises(ProvisionError, match=refused):
        drv.drop_user(name)


def test_it_refuses_reserved_and_system_names() -> None:
    drv = driver_for(DatabaseServer("postgresql", host="127.0.0.1", port=1, admin_user="postgres"))
    with pytest.raises(ProvisionError, match="reserved"):
        drv.create_user("pg_monitor", "pw")
    with pytest.raises(ProvisionError, match="system database"):
        drv.drop_database("template1")
    with pytest.raises(ProvisionError, match="administrative account"):
        drv.drop_user("postgres")


def test_it_keeps_the_password_out_of_logs_argv_and_errors(driver: PostgreSQLDriver, made: Made,
                                                           server: DatabaseServer,
                                                           tmp_path: Path) -> None:
    need_program("pg_dump")
    db = made.fresh("db")
    driver.create_database(db)
    secret = "Adm1n-" + uuid.uuid4().hex + "'\"%;"
    other = driver_for(DatabaseServer("postgresql", host=server.host, port=server.port,
                                      admin_user="postgres", admin_password=secret))
    assert secret not in repr(other.server)
    lines: list[str] = []
    with (tmp_path / "d.sql").open("wb") as out:
        other.dump(db, out, Runner(lambda level, line: lines.append(line)))
    assert any("--no-owner" in line for line in lines)  # argv was logged
    assert not any(secret in line for line in lines)
    user = made.fresh("user")
    driver.create_user(user, secret)
    with as_user(server, "postgres", "", "postgres") as conn:
        stored = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (user,)).fetchone()
    assert stored and stored[0].startswith(("SCRAM-SHA-256$", "md5")) and secret not in stored[0]


def test_it_pings_and_reports_an_unreachable_server_clearly(server: DatabaseServer) -> None:
    assert 0 < driver_for(server).ping() < 5
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    gone = driver_for(DatabaseServer("postgresql", host="127.0.0.1", port=closed_port,
                                     admin_user="postgres", admin_password="hunter2-secret"))
    with pytest.raises(ProvisionError) as caught:
        gone.ping()
    assert caught.value.permanent is False
    assert f"127.0.0.1:{closed_port}" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_it_gives_settings_and_a_quoted_db_url(server: DatabaseServer) -> None:
    drv = driver_for(server)
    settings = drv.settings_for("site_db", "site_user", "p@ss:w/rd")
    assert (settings.driver, settings.database, settings.username) == ("pgsql", "site_db", "site_user")
    assert drv.db_url("site_db", "site_user", "p@ss:w/rd") == \
        f"pgsql://site_user:p%40ss%3Aw%2Frd@{server.host}:{server.port}/site_db"
