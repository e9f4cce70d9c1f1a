"""MariaDB / MySQL site databases: admin work through PyMySQL, dumps and loads streamed through
mariadb-dump / mariadb (or mysqldump / mysql) with the password in MYSQL_PWD, never in argv."""
from __future__ import annotations

import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, BinaryIO

import pymysql

from provision.db.base import CONNECT_TIMEOUT, DatabaseDriver, DatabaseServer
from provision.errors import ProvisionError

if TYPE_CHECKING:
    from provision.runner import Runner
    from provision.settings_php import DatabaseSettings

# Client error codes that mean "no server there", as opposed to "the server said no".
_UNREACHABLE = {2003, 2005, 2006, 2013}
_DEFAULT_PORT = 3306


class MySQLDriver(DatabaseDriver):
    max_database = 64
    # MariaDB takes 80 characters, MySQL 5.7+ 32: one limit that is safe on both.
    max_user = 32
    drupal_driver = "mysql"
    _system_databases = frozenset({"mysql", "information_schema", "performance_schema", "sys"})
    _system_users = frozenset({"root", "mysql", "mariadb.sys", "mysql.sys", "mysql.session",
                               "mysql.infoschema", "debian-sys-maint"})

    def __init__(self, server: DatabaseServer) -> None:
        super().__init__(server)
        self.port = server.port or _DEFAULT_PORT

    @contextmanager
    def _connect(self) -> Iterator[Any]:
        try:
            conn = pymysql.connect(
                host=self.server.host, port=self.port, user=self.server.admin_user,
                password=self.server.admin_password, connect_timeout=CONNECT_TIMEOUT,
                read_timeout=60, write_timeout=60, autocommit=True, charset="utf8mb4",
            )
        except pymysql.err.OperationalError as exc:
            code = exc.args[0] if exc.args else None
            if code in _UNREACHABLE:
                raise self._unreachable(exc) from None
            raise self._failed("log in", exc) from None
        except (OSError, pymysql.err.MySQLError) as exc:
            raise self._unreachable(exc) from None
        try:
            yield conn
        finally:
            conn.close()

    def _execute(self, doing: str, sql: str, args: Sequence[object] = (), *,
                 secrets: Sequence[str] = ()) -> list[tuple[Any, ...]]:
        """Run one statement. Values travel as PyMySQL-escaped parameters; identifiers were
        checked by the caller and are backquoted. Errors are redacted: MariaDB quotes the
        statement near a syntax error, and the statement may hold a password."""
        with self._connect() as conn:
            try:
                with conn.cursor() as cursor:
                    cursor.execute(sql, args)
                    return list(cursor.fetchall())
            except (pymysql.err.MySQLError, OSError) as exc:
                raise self._failed(doing, exc, *secrets) from None

    # -- admin ---------------------------------------------------------------------------

    def create_database(self, name: str) -> None:
        self.check_database(name)
        self._refuse_system_database(name)
        if self.database_exists(name):
            raise ProvisionError(f"The database {name!r} already exists on {self.server.label}.")
        # utf8mb4: Drupal 8+ requires it for full Unicode (emoji) support.
        self._execute(f"create the database {name!r}",
                      f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci")

    def create_user(self, user: str, password: str) -> None:
        self.check_user(user)
        self._refuse_system_user(user)
        if self.user_exists(user):
            raise ProvisionError(f"The database user {user!r} already exists on {self.server.label}.")
        self._execute(f"create the database user {user!r}", "CREATE USER %s@%s IDENTIFIED BY %s",
                      (user, self.server.user_host, password), secrets=(password,))

    def grant(self, name: str, user: str) -> None:
        self.check_database(name)
        self.check_user(user)
        # In GRANT ... ON `db`.* an underscore is a wildcard: `site_a` would also cover
        # `siteXa`. Escaped, the grant covers exactly this database.
        pattern = name.replace("_", r"\_")
        self._execute(f"grant {user!r} access to {name!r}",
                      f"GRANT ALL PRIVILEGES ON `{pattern}`.* TO %s@%s",
                      (user, self.server.user_host))

    def drop_database(self, name: str) -> None:
        self.check_database(name)
        self._refuse_system_database(name)
        self._execute(f"drop the database {name!r}", f"DROP DATABASE IF EXISTS `{name}`")

    def drop_user(self, user: str) -> None:
        self.check_user(user)
        self._refuse_system_user(user)
        self._execute(f"drop the database user {user!r}", "DROP USER IF EXISTS %s@%s",
                      (user, self.server.user_host))

    def database_exists(self, name: str) -> bool:
        self.check_database(name)
        rows = self._execute("look up a database",
                             "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s",
                             (name,))
        return bool(rows)

    def user_exists(self, user: str) -> bool:
        self.check_user(user)
        rows = self._execute("look up a user", "SELECT 1 FROM mysql.user WHERE User = %s AND Host = %s",
                             (user, self.server.user_host))
        return bool(rows)

    def set_password(self, user: str, password: str) -> None:
        self.check_user(user)
        self._refuse_system_user(user)
        self._execute(f"set the password of {user!r}", "ALTER USER %s@%s IDENTIFIED BY %s",
                      (user, self.server.user_host, password), secrets=(password,))

    def database_size(self, name: str) -> int:
        self.check_database(name)
        # What the tables and their indexes hold on disk (InnoDB's estimate, good for figures).
        rows = self._execute("measure a database",
                             "SELECT COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0) FROM information_schema.TABLES "
                             "WHERE TABLE_SCHEMA = %s", (name,))
        return int(rows[0][0] or 0) if rows else 0

    def ping(self) -> float:
        started = time.monotonic()
        with self._connect() as conn:
            try:
                with conn.cursor() as cursor:
                    cursor.execute("SELECT 1")
                    cursor.fetchall()
            except (pymysql.err.MySQLError, OSError) as exc:
                raise self._unreachable(exc) from None
        return time.monotonic() - started

    # -- data ----------------------------------------------------------------------------

    def _client(self, *names: str) -> str:
        for program in names:
            path = shutil.which(program)
            if path:
                return path
        raise ProvisionError(f"None of {', '.join(names)} is installed on this host; the "
                             "MariaDB/MySQL client programs are needed to dump and load databases.")

    def _connection_args(self) -> list[str]:
        # TCP always, like PyMySQL: "localhost" would otherwise mean the local socket, a
        # different server for a client than for the admin connection.
        return ["--protocol=TCP", f"--host={self.server.host}", f"--port={self.port}",
                f"--user={self.server.admin_user}"]

    def _env(self, runner: Runner) -> dict[str, str]:
        if not self.server.admin_password:
            return {}
        runner.add_secret(self.server.admin_password)
        return {"MYSQL_PWD": self.server.admin_password}

    def dump(self, name: str, out: BinaryIO, runner: Runner) -> None:
        self.check_database(name)
        argv = [self._client("mariadb-dump", "mysqldump"), *self._connection_args(),
                # One consistent snapshot of InnoDB tables without locking the site out.
                "--single-transaction", "--quick",
                "--hex-blob", "--default-character-set=utf8mb4",
                # Needs no PROCESS privilege on MySQL 8, and tablespaces are not site data.
                "--no-tablespaces", "--skip-dump-date", "--routines", "--triggers",
                # No CREATE DATABASE / USE: the dump must load into any database name (clone).
                name]
        runner.run(argv, env=self._env(runner), stdout=out)

    def load(self, name: str, src: BinaryIO, runner: Runner, *, owner: str | None = None) -> None:
        self.check_database(name)
        self._refuse_system_database(name)
        argv = [self._client("mariadb", "mysql"), *self._connection_args(),
                "--default-character-set=utf8mb4", "--batch", "--max-allowed-packet=1G",
                f"--database={name}"]
        runner.run(argv, env=self._env(runner), stdin=src)

    # -- what a site is given ------------------------------------------------------------

    def settings_for(self, name: str, user: str, password: str) -> DatabaseSettings:
        from provision.settings_php import DatabaseSettings

        return DatabaseSettings(driver=self.drupal_driver, database=self.check_database(name),
                                username=self.check_user(user), password=password,
                                host=self.server.host, port=self.port, prefix="")

    def db_url(self, name: str, user: str, password: str) -> str:
        return self.settings_for(name, user, password).url()
