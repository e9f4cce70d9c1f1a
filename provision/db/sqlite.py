"""SQLite site databases: one file `<sqlite_dir>/<name>.sqlite` per site, no users. Dumps and
loads go through Python's sqlite3 statement by statement, so neither is ever held in memory and
no sqlite3 program has to be installed."""
from __future__ import annotations

import os
import sqlite3
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from provision.db.base import DatabaseDriver, DatabaseServer
from provision.errors import ProvisionError

if TYPE_CHECKING:
    from provision.runner import Runner
    from provision.settings_php import DatabaseSettings

_SIDE_FILES = ("-wal", "-shm", "-journal")
_WRITE_BATCH = 1 << 20  # bytes of dump text gathered before one write
_CHECK_EVERY = 2000  # statements between two runner.check_stop() calls


class SQLiteDriver(DatabaseDriver):
    max_database = 64
    max_user = 32
    drupal_driver = "sqlite"

    def __init__(self, server: DatabaseServer) -> None:
        super().__init__(server)
        assert server.sqlite_dir is not None  # DatabaseServer checks it
        self.directory = Path(server.sqlite_dir)

    def path_of(self, name: str) -> Path:
        return self.directory / f"{self.check_database(name)}.sqlite"

    # -- admin ---------------------------------------------------------------------------

    def create_database(self, name: str) -> None:
        path = self.path_of(name)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            # O_EXCL: an existing file is another site's data and is never reused.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o660)
        except FileExistsError:
            raise ProvisionError(f"The database {name!r} already exists ({path}).") from None
        except OSError as exc:
            raise ProvisionError(f"Could not create the SQLite database {path}: {exc.strerror}.") from None
        os.close(fd)

    def create_user(self, user: str, password: str) -> None:
        self.check_user(user)  # SQLite has no accounts: the file's permissions are the access.

    def grant(self, name: str, user: str) -> None:
        self.check_database(name)
        self.check_user(user)

    def drop_database(self, name: str) -> None:
        path = self.path_of(name)
        for candidate in [path, *(Path(f"{path}{suffix}") for suffix in _SIDE_FILES)]:
            try:
                candidate.unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise ProvisionError(f"Could not remove {candidate}: {exc.strerror}.") from None

    def drop_user(self, user: str) -> None:
        self.check_user(user)

    def database_exists(self, name: str) -> bool:
        return self.path_of(name).is_file()

    def user_exists(self, user: str) -> bool:
        self.check_user(user)
        return True

    def set_password(self, user: str, password: str) -> None:
        self.check_user(user)  # no accounts: the file's permissions are the access

    def database_size(self, name: str) -> int:
        path = self.path_of(name)
        total = 0
        for candidate in [path, *(Path(f"{path}{suffix}") for suffix in _SIDE_FILES)]:
            try:
                total += candidate.stat().st_size
            except FileNotFoundError:
                continue
        return total

    def ping(self) -> float:
        started = time.monotonic()
        # The first database creates the directory (create_database): on a fresh instance it
        # does not exist yet, which is no outage as long as it can be created.
        existing = self.directory
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            raise ProvisionError(f"The SQLite directory {self.directory} is missing or not "
                                 "writable.", permanent=False)
        return time.monotonic() - started

    # -- data ----------------------------------------------------------------------------

    def _open(self, name: str, *, read_only: bool) -> sqlite3.Connection:
        path = self.path_of(name)
        if not path.is_file():
            raise ProvisionError(f"The SQLite database {name!r} does not exist ({path}).")
        mode = "ro" if read_only else "rw"
        uri = f"file:{urllib.request.pathname2url(str(path))}?mode={mode}"
        try:
            # isolation_level=None: the transactions are ours (the dump's BEGIN/COMMIT), not
            # the sqlite3 module's implicit ones.
            return sqlite3.connect(uri, uri=True, isolation_level=None, timeout=30)
        except sqlite3.Error as exc:
            raise ProvisionError(f"Could not open the SQLite database {path}: {exc}") from None

    def dump(self, name: str, out: BinaryIO, runner: Runner) -> None:
        conn = self._open(name, read_only=True)
        try:
            # One read transaction around the whole dump: every table from the same moment
            # even while the site keeps writing.
            conn.execute("BEGIN")
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            batch: list[bytes] = []
            size = 0
            for count, statement in enumerate(conn.iterdump()):
                line = statement.encode("utf-8", "surrogateescape") + b"\n"
                batch.append(line)
                size += len(line)
                if size >= _WRITE_BATCH:
                    out.write(b"".join(batch))
                    batch, size = [], 0
                if count % _CHECK_EVERY == 0:
                    runner.check_stop()
            out.write(b"".join(batch))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise ProvisionError(f"Could not dump the SQLite database {name!r}: {exc}") from None
        finally:
            conn.close()

    def load(self, name: str, src: BinaryIO, runner: Runner, *, owner: str | None = None) -> None:
        conn = self._open(name, read_only=False)
        pending: list[str] = []
        count = 0
        try:
            # Binary lines decoded one by one: a TextIOWrapper would close SRC when it goes.
            for line in src:
                raw = line.decode("utf-8", "surrogateescape")
                pending.append(raw)
                # A statement may span lines (a string with newlines in it): gather lines
                # until SQLite's own parser says the statement is complete.
                if not raw.rstrip().endswith(";"):
                    continue
                statement = "".join(pending)
                if not sqlite3.complete_statement(statement):
                    continue
                pending = []
                conn.execute(statement)
                count += 1
                if count % _CHECK_EVERY == 0:
                    runner.check_stop()
            if "".join(pending).strip():
                raise ProvisionError(f"The dump loaded into {name!r} ends in an incomplete statement.")
        except sqlite3.Error as exc:
            raise ProvisionError(f"Could not load into the SQLite database {name!r}: {exc}") from None
        finally:
            try:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")  # a failed or cancelled load leaves nothing half done
            finally:
                conn.close()

    # -- what a site is given ------------------------------------------------------------

    def settings_for(self, name: str, user: str, password: str) -> DatabaseSettings:
        from provision.settings_php import DatabaseSettings

        # Absolute: the site's settings.php must not depend on the PHP process's directory.
        return DatabaseSettings(driver=self.drupal_driver, database=str(self.path_of(name).absolute()))

    def db_url(self, name: str, user: str, password: str) -> str:
        # Drupal strips one leading slash from the path and reads the rest as absolute only
        # if another one follows: sqlite://localhost//abs/path.sqlite.
        return self.settings_for(name, user, password).url()
