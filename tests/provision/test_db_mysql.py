"""The MariaDB/MySQL driver against a real server on 127.0.0.1:3306 (root, empty password)."""
from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest

from provision.db import DatabaseServer, driver_for
from provision.db.mysql import MySQLDriver
from provision.errors import ProvisionError
from provision.runner import Runner
from tests.services import need_program, need_service

ROWS = [
    (1, "plain", b"\x00\x01\xff"),
    (2, "quote ' and \" and back\\slash;", b""),
    (3, "multi\nline;\nwith a semicolon at the end;", b"\n"),
    (4, "Unicode: żółw 🐢", bytes(range(256))),
]


@pytest.fixture
def server() -> DatabaseServer:
    host, port = need_service("mariadb")
    return DatabaseServer("mysql", host=host, port=port, admin_user="root", admin_password="",
                          name="test-mariadb")


class Made(list[tuple[str, str]]):
    """Databases and users a test created, dropped after it whatever happened."""

    def fresh(self, kind: str) -> str:
        name = f"hm_t_{uuid.uuid4().hex[:12]}"
        self.append((kind, name))
        return name


@pytest.fixture
def made(server: DatabaseServer) -> Iterator[Made]:
    names = Made()
    yield names
    drv = driver_for(server)
    for kind, name in names:
        (drv.drop_database if kind == "db" else drv.drop_user)(name)


@pytest.fixture
def driver(server: DatabaseServer, made: Made) -> MySQLDriver:
    drv = driver_for(server)
    assert isinstance(drv, MySQLDriver)
    return drv


def as_user(server: DatabaseServer, user: str, password: str, db: str) -> pymysql.Connection:
    return pymysql.connect(host=server.host, port=server.port, user=user, password=password,
                           database=db, autocommit=True, charset="utf8mb4")


def rows_of(conn: pymysql.Connection) -> list[tuple[object, ...]]:
    with conn.cursor() as cursor:
        cursor.execute("SELECT id, label, data FROM items ORDER BY id")
        return [tuple(r) for r in cursor.fetchall()]


def test_it_creates_dumps_drops_and_loads_a_database(driver: MySQLDriver, made: Made,
                                                     server: DatabaseServer, tmp_path: Path) -> None:
    need_program("mariadb-dump", "mysqldump")
    db, user, password = made.fresh("db"), made.fresh("user"), "pw-" + uuid.uuid4().hex
    driver.create_database(db)
    driver.create_user(user, password)
    driver.grant(db, user)
    assert driver.database_exists(db) and driver.user_exists(user)
    with as_user(server, user, password, db) as conn, conn.cursor() as cursor:
        cursor.execute("CREATE TABLE items (id INT PRIMARY KEY, label TEXT, data LONGBLOB) "
                       "CHARACTER SET utf8mb4")
        cursor.executemany("INSERT INTO items VALUES (%s, %s, %s)", ROWS)

    lines: list[str] = []
    runner = Runner(lambda level, line: lines.append(line))
    dump = tmp_path / "dump.sql"
    with dump.open("wb") as out:
        driver.dump(db, out, runner)
    assert b"CREATE TABLE `items`" in dump.read_bytes()
    assert b"CREATE DATABASE" not in dump.read_bytes()  # loads into any name

    driver.drop_database(db)
    assert not driver.database_exists(db)
    driver.drop_database(db)  # idempotent
    driver.create_database(db)
    with dump.open("rb") as src:
        driver.load(db, src, runner)
    # The grant survived the drop: the site user reads its rows back.
    with as_user(server, user, password, db) as conn:
        assert rows_of(conn) == ROWS


def test_it_grants_exactly_one_database_although_underscore_is_a_wildcard(
        driver: MySQLDriver, made: Made, server: DatabaseServer) -> None:
    db, user = made.fresh("db"), made.fresh("user")
    lookalike = db[:4] + "x" + db[5:]  # hm_t_... -> hm_tx...: matched by an unescaped `hm_t_`
    made.append(("db", lookalike))
    driver.create_database(db)
    driver.create_database(lookalike)
    driver.create_user(user, "pw")
    driver.grant(db, user)
    as_user(server, user, "pw", db).close()
    with pytest.raises(pymysql.err.OperationalError):
        as_user(server, user, "pw", lookalike)


def test_it_refuses_to_create_what_exists(driver: MySQLDriver, made: Made) -> None:
    db, user = made.fresh("db"), made.fresh("user")
    driver.create_database(db)
    driver.create_user(user, "secret-one")
    with pytest.raises(ProvisionError, match="already exists"):
        driver.create_database(db)
    with pytest.raises(ProvisionError, match="already exists") as caught:
        driver.create_user(user, "secret-two")
    assert "secret" not in str(caught.value)


@pytest.mark.parametrize("name", ["", "Upper", "semi;colon", "back`tick", "a-b", "a%", "a b",
                                  "1starts_with_digit", "x" * 65, "../etc", "é"])
def test_it_refuses_bad_identifiers(name: str) -> None:
    # Port 1: nothing listens there, so only the name check can produce the expected message.
    drv = driver_for(DatabaseServer("mysql", host="127.0.0.1", port=1, admin_user="root"))
    refused = r"empty|characters long|may hold only"
    with pytest.raises(ProvisionError, match=refused):
        drv.create_database(name)
    with pytest.raises(ProvisionError, match=refused):
        drv.create_user(name, "pw")
    with pytest.raises(ProvisionError, match=refused):
        drv.drop_database(name)
    with pytest.raises(ProvisionError, match=refused):
        drv.db_url(name, "user", "pw")


def test_it_refuses_system_databases_and_accounts(driver: MySQLDriver) -> None:
    with pytest.raises(ProvisionError, match="system database"):
        driver.drop_database("mysql")
    with pytest.raises(ProvisionError, match="administrative account"):
        driver.drop_user("root")


def test_it_keeps_the_password_out_of_logs_argv_and_errors(driver: MySQLDriver, made: Made,
                                                           server: DatabaseServer,
                                                           tmp_path: Path) -> None:
    need_program("mariadb-dump", "mysqldump")
    db, admin = made.fresh("db"), made.fresh("user")
    secret = "Adm1n-" + uuid.uuid4().hex + "'\"%;"
    driver.create_database(db)
    driver.create_user(admin, secret)
    driver.grant(db, admin)
    # The new account acts as the admin of a server, so its password goes through every path.
    other = driver_for(DatabaseServer("mysql", host=server.host, port=server.port,
                                      admin_user=admin, admin_password=secret))
    assert secret not in repr(other.server)
    lines: list[str] = []
    runner = Runner(lambda level, line: lines.append(line))
    with (tmp_path / "d.sql").open("wb") as out:
        other.dump(db, out, runner)
    assert lines and any("--single-transaction" in line for line in lines)  # argv was logged
    assert not any(secret in line for line in lines)
    url = other.db_url(db, admin, secret)
    assert url.startswith(f"mysql://{admin}:") and secret not in url  # quoted, not raw

    wrong = driver_for(DatabaseServer("mysql", host=server.host, port=server.port,
                                      admin_user=admin, admin_password=secret + "x"))
    with pytest.raises(ProvisionError) as caught:
        wrong.database_exists(db)
    assert secret not in str(caught.value)


def test_it_pings_and_reports_an_unreachable_server_clearly(server: DatabaseServer) -> None:
    latency = driver_for(server).ping()
    assert 0 < latency < 5
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    gone = driver_for(DatabaseServer("mysql", host="127.0.0.1", port=closed_port,
                                     admin_user="root", admin_password="hunter2-secret"))
    with pytest.raises(ProvisionError) as caught:
        gone.ping()
    assert caught.value.permanent is False
    assert f"127.0.0.1:{closed_port}" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_it_gives_settings_and_a_quoted_db_url(server: DatabaseServer) -> None:
    drv = driver_for(server)
    settings = drv.settings_for("site_db", "site_user", "p@ss/word")
    assert (settings.driver, settings.database, settings.username) == ("mysql", "site_db", "site_user")
    assert settings.host == server.host and settings.port == server.port
    assert drv.db_url("site_db", "site_user", "p@ss/word") == \
        f"mysql://site_user:p%40ss%2Fword@{server.host}:{server.port}/site_db"
