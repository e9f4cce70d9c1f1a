"""The database side of the drush stand-in (provision/drush_standin.py) and of demo platforms:
a handful of Drupal's tables, written through sqlite3 or the real `mariadb`/`mysql` and `psql`
clients, the way a Drupal install leaves them. Passwords reach the clients through MYSQL_PWD
and PGPASSWORD, never on a command line."""
from __future__ import annotations

import json
import os
import re
import sqlite3
import time
import urllib.parse
from pathlib import Path

from provision.errors import ProvisionError
from provision.settings_php import DatabaseSettings

SCHEMA_VERSION = {7: "7080", 10: "10300", 11: "11000"}
TABLES = ("users", "config", "key_value", "cache_bootstrap")
_CLIENT_TIMEOUT = 120
# shutil, subprocess, secrets, hashlib and uuid are imported by the calls that use them: a drush status on
# a SQLite site, what verify runs for every site, needs none of them at start-up.


class Database:
    """One site database, reached the way its driver needs."""

    def __init__(self, settings: DatabaseSettings, docroot: Path) -> None:
        self.settings = settings
        if not re.fullmatch(r"[A-Za-z0-9_]*", settings.prefix):
            raise ProvisionError(f"Invalid table prefix {settings.prefix!r}.")
        self.prefix = settings.prefix
        self.path = None
        if settings.driver == "sqlite":
            path = Path(settings.database)
            self.path = path if path.is_absolute() else docroot / path
        elif settings.driver not in ("mysql", "pgsql"):
            raise ProvisionError(f"The database driver {settings.driver!r} is not supported.")

    def literal(self, value: str) -> str:
        if "\x00" in value:
            raise ProvisionError("A database value cannot contain a NUL byte.")
        if self.settings.driver == "mysql":  # MySQL also treats backslash as an escape
            value = value.replace("\\", "\\\\")
        return "'" + value.replace("'", "''") + "'"

    def _client(self, sql: str | None) -> tuple[list[str], dict[str, str]]:
        import shutil

        s = self.settings
        env = dict(os.environ)
        if s.driver == "mysql":
            client = shutil.which("mariadb") or shutil.which("mysql")
            if client is None:
                raise ProvisionError("Neither the mariadb nor the mysql client is installed.")
            argv = [client, "--no-defaults", "--batch", "--skip-column-names", "--connect-timeout=5",
                    f"--host={s.host or 'localhost'}", f"--user={s.username}", f"--database={s.database}"]
            if s.port:
                argv.append(f"--port={s.port}")
            if sql is not None:
                argv.append(f"--execute={sql}")
            if s.password:
                env["MYSQL_PWD"] = s.password
        else:
            client = shutil.which("psql")
            if client is None:
                raise ProvisionError("The psql client is not installed.")
            argv = [client, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-U", s.username or "postgres",
                    "-d", s.database]
            if s.host:
                argv += ["-h", s.host]
            if s.port:
                argv += ["-p", str(s.port)]
            if sql is not None:
                argv += ["-c", sql]
            env["PGCONNECT_TIMEOUT"] = "5"
            if s.password:
                env["PGPASSWORD"] = s.password
        return argv, env

    def execute(self, statements: list[str]) -> None:
        """Run STATEMENTS in one go (one transaction on SQLite and PostgreSQL)."""
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with sqlite3.connect(self.path, timeout=10) as conn:
                conn.executescript("BEGIN;\n" + ";\n".join(statements) + ";\nCOMMIT;")
            conn.close()
            return
        argv, env = self._client(None)
        script = ";\n".join(statements) + ";\n"
        if self.settings.driver == "pgsql":
            script = "BEGIN;\n" + script + "COMMIT;\n"
        import subprocess

        done = subprocess.run(argv, input=script.encode(), env=env, capture_output=True,
                              timeout=_CLIENT_TIMEOUT, check=False)
        if done.returncode != 0:
            detail = done.stderr.decode("utf-8", "replace").strip()
            raise ProvisionError(f"{os.path.basename(argv[0])} failed: {detail}")

    def scalar(self, sql: str) -> str | None:
        """The first column of the first row, as text; None when the query fails."""
        if self.path is not None:
            if not self.path.is_file():
                return None  # mode=rw: a status check must not create the database
            try:
                uri = f"file:{urllib.parse.quote(str(self.path))}?mode=rw"
                with sqlite3.connect(uri, uri=True, timeout=10) as conn:
                    row = conn.execute(sql).fetchone()
                conn.close()
            except sqlite3.Error:
                return None
            return None if row is None else str(row[0])
        import subprocess

        try:
            argv, env = self._client(sql)
            done = subprocess.run(argv, env=env, capture_output=True, timeout=_CLIENT_TIMEOUT, check=False)
        except (ProvisionError, OSError, subprocess.TimeoutExpired):
            return None
        if done.returncode != 0:
            return None
        lines = done.stdout.decode("utf-8", "replace").splitlines()
        return lines[0].strip() if lines else None

    def column(self, sql: str) -> list[str]:
        """The first column of every row, as text; [] when the query fails."""
        if self.path is not None:
            if not self.path.is_file():
                return []
            try:
                uri = f"file:{urllib.parse.quote(str(self.path))}?mode=rw"
                with sqlite3.connect(uri, uri=True, timeout=10) as conn:
                    rows = conn.execute(sql).fetchall()
                conn.close()
            except sqlite3.Error:
                return []
            return [str(row[0]) for row in rows]
        import subprocess

        try:
            argv, env = self._client(sql)
            done = subprocess.run(argv, env=env, capture_output=True, timeout=_CLIENT_TIMEOUT, check=False)
        except (ProvisionError, OSError, subprocess.TimeoutExpired):
            return []
        if done.returncode != 0:
            return []
        return [line.strip() for line in done.stdout.decode("utf-8", "replace").splitlines() if line.strip()]

    def ping(self) -> bool:
        return self.scalar("SELECT 1") == "1"


def password_hash(password: str) -> str:
    """Never the password itself in the users table, even in a stand-in."""
    import hashlib
    import secrets

    salt = secrets.token_hex(8)
    return f"$stand-in${salt}${hashlib.sha256((salt + password).encode()).hexdigest()}"


def install_schema(db: Database, *, site_name: str, account_name: str, account_pass: str,
                   account_mail: str, profile: str, drupal: int = 10,
                   existing_config: bool = False) -> None:
    """Drop and create the stand-in's tables and fill them as an install would."""
    import uuid

    p, q, now = db.prefix, db.literal, str(int(time.time()))
    site = json.dumps({"uuid": str(uuid.uuid4()), "name": site_name, "mail": account_mail})
    state = {"install_time": now, "install_profile": profile}
    if existing_config:
        state["install_from_existing_config"] = "1"
    statements = [f"DROP TABLE IF EXISTS {p}{table}" for table in TABLES]
    statements += [
        f"CREATE TABLE {p}users (uid INTEGER NOT NULL PRIMARY KEY, name VARCHAR(60) NOT NULL, "
        "pass VARCHAR(255) NOT NULL, mail VARCHAR(254) NOT NULL, status INTEGER NOT NULL, "
        "created INTEGER NOT NULL)",
        f"CREATE TABLE {p}config (collection VARCHAR(255) NOT NULL, name VARCHAR(255) NOT NULL, "
        "data TEXT, PRIMARY KEY (collection, name))",
        f"CREATE TABLE {p}key_value (collection VARCHAR(128) NOT NULL, name VARCHAR(128) NOT NULL, "
        "value TEXT NOT NULL, PRIMARY KEY (collection, name))",
        f"CREATE TABLE {p}cache_bootstrap (cid VARCHAR(255) NOT NULL PRIMARY KEY, data TEXT, "
        "expire INTEGER NOT NULL, created INTEGER NOT NULL)",
        f"INSERT INTO {p}users (uid, name, pass, mail, status, created) VALUES "
        f"(0, '', '', '', 0, {now}), "
        f"(1, {q(account_name)}, {q(password_hash(account_pass))}, {q(account_mail)}, 1, {now})",
        f"INSERT INTO {p}config (collection, name, data) VALUES ('', 'system.site', {q(site)}), "
        f"('', 'core.extension', {q(json.dumps({'profile': profile}))})",
        f"INSERT INTO {p}key_value (collection, name, value) VALUES "
        f"('system.schema', 'system', {q(SCHEMA_VERSION.get(drupal, '10300'))}), "
        + ", ".join(f"('state', {q(k)}, {q(v)})" for k, v in state.items()),
        f"INSERT INTO {p}cache_bootstrap (cid, data, expire, created) VALUES "
        f"('system.site', {q(site)}, -1, {now})",
    ]
    db.execute(statements)
