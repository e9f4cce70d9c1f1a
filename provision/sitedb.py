"""A site's own database, as its settings.php describes it: reach it with the site's own
credentials (is it really usable by the site?), drive an SQLite file wherever it lives, and put
a database back from the dump inside a backup archive (the undo of a drop or of an updatedb).

The site's password is only ever read from settings.php and handed to the client library or to
the Runner's secrets; it never appears in a message."""
from __future__ import annotations

import os
import tarfile
import tempfile
import urllib.request
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import zstandard

from provision.backup.archive import CHUNK, DATABASE, MANIFEST, MAX_MANIFEST, in_store
from provision.db.base import CONNECT_TIMEOUT, DatabaseServer, redact
from provision.db.sqlite import SQLiteDriver
from provision.errors import ProvisionError

if TYPE_CHECKING:
    from provision.db.base import DatabaseDriver
    from provision.runner import Runner
    from provision.settings_php import DatabaseSettings

# settings.php driver name -> DatabaseServer engine.
ENGINE_OF = {"mysql": "mysql", "pgsql": "postgresql", "sqlite": "sqlite"}


class SQLiteFileDriver(SQLiteDriver):
    """The SQLite driver for one database file at any path: Drupal's default is
    sites/<domain>/files/.ht.sqlite, not <sqlite_dir>/<name>.sqlite."""

    def __init__(self, path: Path) -> None:
        super().__init__(DatabaseServer("sqlite", sqlite_dir=path.parent, name=str(path)))
        self.file = path

    def path_of(self, name: str) -> Path:
        return self.file


def sqlite_file(settings: DatabaseSettings, docroot: Path) -> Path:
    """The absolute path of an SQLite site database (Drupal reads relative ones from its root)."""
    path = Path(settings.database)
    return path if path.is_absolute() else docroot / path


def check_connection(settings: DatabaseSettings, docroot: Path) -> float:
    """Connect as the site does and run SELECT 1; returns seconds taken. Raises a
    ProvisionError saying why not (never with the password)."""
    import time

    started = time.monotonic()
    if settings.driver == "sqlite":
        _check_sqlite(sqlite_file(settings, docroot))
    elif settings.driver == "mysql":
        _check_mysql(settings)
    elif settings.driver == "pgsql":
        _check_pgsql(settings)
    else:
        raise ProvisionError(f"The database driver {settings.driver!r} in settings.php is not supported.")
    return time.monotonic() - started


def _where(settings: DatabaseSettings) -> str:
    host = settings.host or "localhost"
    return f"{settings.database!r} on {host}:{settings.port}" if settings.port else f"{settings.database!r} on {host}"


def _check_sqlite(path: Path) -> None:
    import sqlite3

    if not path.is_file():
        raise ProvisionError(f"The SQLite database {path} does not exist.")
    try:
        conn = sqlite3.connect(f"file:{urllib.request.pathname2url(str(path))}?mode=rw", uri=True, timeout=10)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise ProvisionError(f"The SQLite database {path} cannot be opened: {exc}") from None


def _check_mysql(settings: DatabaseSettings) -> None:
    import pymysql

    try:
        conn = pymysql.connect(host=settings.host or "localhost", port=settings.port or 3306,
                               user=settings.username, password=settings.password,
                               database=settings.database, connect_timeout=CONNECT_TIMEOUT)
        try:
            with conn.cursor() as cursor:
                cursor.execute("SELECT 1")
        finally:
            conn.close()
    except (pymysql.err.MySQLError, OSError) as exc:
        reason = redact(str(exc), settings.password)
        raise ProvisionError(f"The site cannot reach its database {_where(settings)} as "
                             f"{settings.username!r}: {reason}", permanent=False) from None


def _check_pgsql(settings: DatabaseSettings) -> None:
    import psycopg

    try:
        with psycopg.connect(host=settings.host or "localhost", port=settings.port or 5432,
                             user=settings.username or None, password=settings.password or None,
                             dbname=settings.database, connect_timeout=CONNECT_TIMEOUT) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        reason = redact(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
                        settings.password)
        raise ProvisionError(f"The site cannot reach its database {_where(settings)} as "
                             f"{settings.username!r}: {reason}", permanent=False) from None


def reload_from_archive(archive: Path, driver: DatabaseDriver, name: str, runner: Runner, *,
                        owner: str | None = None) -> None:
    """Replace database NAME with the dump of the backup ARCHIVE (dropped, created, loaded). The
    dump is the archive's first member, or an object of the store that its manifest (first)
    names, so only the archive's head is decompressed; it is copied to a private temporary file
    first, so a damaged archive or object is found before the drop."""
    workdir = archive.parent
    fd, tmp_name = tempfile.mkstemp(prefix=".reload-", suffix=".sql", dir=workdir)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            _extract_dump(archive, out, runner)
        runner.log("info", f"Replacing the database {name} from {archive.name}.")
        driver.drop_database(name)
        driver.create_database(name)
        if owner:
            driver.grant(name, owner)
        with open(tmp, "rb") as src:
            driver.load(name, src, runner, owner=owner)
    finally:
        tmp.unlink(missing_ok=True)


def _dump_from_store(archive: Path, manifest: IO[bytes] | None, out: Any, runner: Runner) -> bool:
    """Copy the dump into OUT from the store beside ARCHIVE when its MANIFEST says it is an
    object there (provision.backup.archive.in_store); False when it is in the archive."""
    import json

    from provision.backup.reader import Reader
    from provision.backup.store import store_of

    try:
        parsed = json.loads(manifest.read(MAX_MANIFEST + 1)) if manifest is not None else None
    except ValueError:
        return False
    database = parsed.get("database") if isinstance(parsed, dict) else None
    if not (isinstance(parsed, dict) and in_store(parsed, {"path": DATABASE}) and isinstance(database, dict)):
        return False
    with Reader(store_of(archive.parent)) as reader:
        for chunk in reader.chunks(str(database.get("sha256", "")), int(database.get("size") or 0)):
            out.write(chunk)
            runner.check_stop()
    return True


def _extract_dump(archive: Path, out: object, runner: Runner) -> None:
    try:
        with open(archive, "rb") as raw:
            reader = zstandard.ZstdDecompressor().stream_reader(raw, read_size=CHUNK)
            with tarfile.open(fileobj=reader, mode="r|", bufsize=64 << 10) as tar:
                for info in tar:
                    if info.name == MANIFEST and _dump_from_store(archive, tar.extractfile(info), out, runner):
                        return
                    if info.name != DATABASE:
                        continue
                    source = tar.extractfile(info)
                    if source is None:
                        break
                    while chunk := source.read(CHUNK):
                        out.write(chunk)  # type: ignore[attr-defined]
                        runner.check_stop()
                    return
    except FileNotFoundError:
        raise ProvisionError(f"The backup {archive} does not exist.") from None
    except (zstandard.ZstdError, tarfile.TarError, EOFError) as exc:
        raise ProvisionError(f"The backup {archive} is damaged: {exc}") from None
    raise ProvisionError(f"The backup {archive} holds no database dump.")
