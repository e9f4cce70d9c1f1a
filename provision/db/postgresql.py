"""PostgreSQL site databases: admin work through psycopg 3, dumps and loads streamed through
pg_dump / psql with the password in PGPASSWORD, never in argv.

Each site's database is owned by its user: since PostgreSQL 15 only the database owner may
create tables in the `public` schema, and a Drupal install creates its tables there."""
from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, BinaryIO

import psycopg
from psycopg import sql

from provision.db.base import CONNECT_TIMEOUT, DatabaseDriver, DatabaseServer
from provision.errors import ProvisionError

if TYPE_CHECKING:
    from provision.runner import Runner
    from provision.settings_php import DatabaseSettings

_DEFAULT_PORT = 5432


class PostgreSQLDriver(DatabaseDriver):
    max_database = 63  # NAMEDATALEN - 1
    max_user = 63
    drupal_driver = "pgsql"
    _system_databases = frozenset({"postgres", "template0", "template1"})
    _system_users = frozenset({"postgres"})

    def __init__(self, server: DatabaseServer) -> None:
        super().__init__(server)
        self.port = server.port or _DEFAULT_PORT

    @contextmanager
    def _connect(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            # autocommit: CREATE/DROP DATABASE cannot run inside a transaction block.
            conn = psycopg.connect(host=self.server.host, port=self.port,
                                   user=self.server.admin_user or None,
                                   password=self.server.admin_password or None,
                                   dbname="postgres", connect_timeout=CONNECT_TIMEOUT,
                                   autocommit=True)
        except psycopg.OperationalError as exc:
            raise self._unreachable(exc) from None
        try:
            yield conn
        finally:
            conn.close()

    def _execute(self, doing: str, query: sql.Composable | str, args: tuple[object, ...] = (),
                 *, secrets: tuple[str, ...] = ()) -> list[tuple[Any, ...]]:
        with self._connect() as conn:
            try:
                cursor = conn.execute(query, args or None)  # type: ignore[arg-type]
                return list(cursor.fetchall()) if cursor.description else []
            except psycopg.Error as exc:
                raise self._failed(doing, exc, *secrets) from None

    def _check_user(self, user: str) -> str:
        self.check_user(user)
        if user.startswith("pg_"):
            raise ProvisionError(f"The database user name {user!r} is reserved by PostgreSQL "
                                 "(names starting with pg_ are).")
        return user

    # -- admin ---------------------------------------------------------------------------

    def create_database(self, name: str) -> None:
        self.check_database(name)
        self._refuse_system_database(name)
        if self.database_exists(name):
            raise ProvisionError(f"The database {name!r} already exists on {self.server.label}.")
        # template0 with UTF8: independent of whatever was added to template1 or its encoding.
        self._execute(f"create the database {name!r}",
                      sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'")
                      .format(sql.Identifier(name)))

    def create_user(self, user: str, password: str) -> None:
        self._check_user(user)
        self._refuse_system_user(user)
        if self.user_exists(user):
            raise ProvisionError(f"The database user {user!r} already exists on {self.server.label}.")
        self._with_password(f"create the database user {user!r}", "CREATE ROLE {} LOGIN PASSWORD {}", user, password)

    def grant(self, name: str, user: str) -> None:
        self.check_database(name)
        self._check_user(user)
        self._refuse_system_user(user)
        with self._connect() as conn:
            try:
                conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}")
                             .format(sql.Identifier(name), sql.Identifier(user)))
                conn.execute(sql.SQL("GRANT ALL PRIVILEGES ON DATABASE {} TO {}")
                             .format(sql.Identifier(name), sql.Identifier(user)))
            except psycopg.Error as exc:
                raise self._failed(f"grant {user!r} access to {name!r}", exc) from None

    def drop_database(self, name: str) -> None:
        self.check_database(name)
        self._refuse_system_database(name)
        # FORCE (PostgreSQL 13+): php-fpm workers still connected must not block a delete.
        self._execute(f"drop the database {name!r}",
                      sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def drop_user(self, user: str) -> None:
        self._check_user(user)
        self._refuse_system_user(user)
        self._execute(f"drop the database user {user!r}",
                      sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(user)))

    def database_exists(self, name: str) -> bool:
        self.check_database(name)
        return bool(self._execute("look up a database",
                                  "SELECT 1 FROM pg_database WHERE datname = %s", (name,)))

    def user_exists(self, user: str) -> bool:
        self._check_user(user)
        return bool(self._execute("look up a user", "SELECT 1 FROM pg_roles WHERE rolname = %s",
                                  (user,)))

    def set_password(self, user: str, password: str) -> None:
        self._check_user(user)
        self._refuse_system_user(user)
        self._with_password(f"set the password of {user!r}", "ALTER ROLE {} PASSWORD {}", user, password)

    def _with_password(self, action: str, statement: str, user: str, password: str) -> None:
        """Run STATEMENT ("... ROLE {} ... PASSWORD {}") for USER with PASSWORD hashed here, as
        psql's \\password does: role statements take no bound parameters, and a plain password
        in the statement would land in the server's log whenever log_statement covers DDL."""
        with self._connect() as conn:
            try:
                verifier = conn.pgconn.encrypt_password(password.encode(), user.encode()).decode()
                conn.execute(sql.SQL(statement).format(sql.Identifier(user), sql.Literal(verifier)))
            except psycopg.Error as exc:
                raise self._failed(action, exc, password) from None

    def database_size(self, name: str) -> int:
        self.check_database(name)
        rows = self._execute("measure a database",
                             "SELECT pg_database_size(datname) FROM pg_database WHERE datname = %s", (name,))
        return int(rows[0][0] or 0) if rows else 0

    def ping(self) -> float:
        started = time.monotonic()
        with self._connect() as conn:
            try:
                conn.execute("SELECT 1").fetchall()
            except psycopg.Error as exc:
                raise self._unreachable(exc) from None
        return time.monotonic() - started

    # -- data ----------------------------------------------------------------------------

    def _client(self, program: str) -> str:
        path = shutil.which(program)
        if not path:
            raise ProvisionError(f"{program} is not installed on this host; the PostgreSQL "
                                 "client programs are needed to dump and load databases.")
        return path

    def _connection_args(self) -> list[str]:
        # --no-password: fail at once instead of waiting on a prompt no one will answer.
        return [f"--host={self.server.host}", f"--port={self.port}", "--no-password",
                *([f"--username={self.server.admin_user}"] if self.server.admin_user else [])]

    def _env(self, runner: Runner) -> dict[str, str]:
        # A PGOPTIONS in the worker's environment must not change how the load runs.
        env = {"PGOPTIONS": ""}
        if self.server.admin_password:
            runner.add_secret(self.server.admin_password)
            env["PGPASSWORD"] = self.server.admin_password
        return env

    def dump(self, name: str, out: BinaryIO, runner: Runner) -> None:
        self.check_database(name)
        argv = [self._client("pg_dump"), *self._connection_args(), "--format=plain",
                # Ownership and grants belong to the source server's roles; a load (restore,
                # clone) gives everything to the target site's user instead.
                "--no-owner", "--no-privileges", "--encoding=UTF8", f"--dbname={name}"]
        runner.run(argv, env=self._env(runner), stdout=out)

    def load(self, name: str, src: BinaryIO, runner: Runner, *, owner: str | None = None) -> None:
        self.check_database(name)
        self._refuse_system_database(name)
        env = self._env(runner)
        if owner is not None:
            # The admin connection acts as the site user, so every table, sequence and index
            # the dump creates belongs to that user and Drupal can alter it later.
            env["PGOPTIONS"] = f"-c role={self._check_user(owner)}"
        argv = [self._client("psql"), *self._connection_args(), "--no-psqlrc", "--quiet",
                "--set=ON_ERROR_STOP=1", "--single-transaction", f"--dbname={name}", "--file=-"]
        runner.run(argv, env=env, stdin=src)

    # -- what a site is given ------------------------------------------------------------

    def settings_for(self, name: str, user: str, password: str) -> DatabaseSettings:
        from provision.settings_php import DatabaseSettings

        return DatabaseSettings(driver=self.drupal_driver, database=self.check_database(name),
                                username=self._check_user(user), password=password,
                                host=self.server.host, port=self.port, prefix="")

    def db_url(self, name: str, user: str, password: str) -> str:
        return self.settings_for(name, user, password).url()
