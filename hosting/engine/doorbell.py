"""Waking the ORM broker's pusher when a message is queued (issue 20: an idle cluster costs
almost nothing).

django-q2's pusher asks the broker for messages in a loop, and its ORM broker runs a SELECT
every `poll` seconds (0.1 s) while the queue is empty: about half of an idle cluster's CPU. Here
the pusher still looks every `poll` seconds, but at something that costs no query, and reads
the queue only when that says something may have been queued:
- PostgreSQL: the broker's enqueue sends NOTIFY on the queue's channel (delivered at commit, so
  never before the row is visible); the pusher LISTENs on a connection of its own and waits on
  its socket. Enqueues from any host of the fleet wake it.
- SQLite: `PRAGMA data_version` on a connection of the pusher's own changes whenever another
  connection commits (SQLite's own change counter, read from shared memory: no table is read).
  Every enqueue commits, and all of them are on this host.
- Anything else (another database, a listener that could not connect): the broker's own SELECT
  every poll, as django-q2 does.
Whatever happens to a wake-up (a listener connection lost and re-opened, a notification the
server dropped), the queue is read at least every BACKSTOP seconds, and at once after an error."""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import select
import time
from typing import Any

_logger = logging.getLogger("hosting.engine")

# An idle pusher reads its queue at least this often, whatever the wake-ups say.
BACKSTOP = 2.0
# After a listener failed, it is opened again no sooner than this.
RETRY_LISTEN = 5.0


def channel(queue: str) -> str:
    """The PostgreSQL channel of QUEUE: hashed, so any queue name fits an identifier (63 bytes)."""
    return "hm_queue_" + hashlib.sha256(queue.encode()).hexdigest()[:24]


def ring(alias: str, queue: str) -> None:
    """Wake QUEUE's pusher (PostgreSQL: NOTIFY, sent when the enqueuing transaction commits).
    A failure is not raised: the message is queued, the pusher reads it by BACKSTOP anyway."""
    from django.db import connections, transaction

    conn = connections[alias]
    if conn.vendor != "postgresql":
        return  # SQLite: the commit itself is the wake-up
    try:
        # Inside a transaction, a savepoint: a failed NOTIFY must not abort the caller's work.
        inside = transaction.atomic(using=alias) if conn.in_atomic_block else contextlib.nullcontext()
        with inside, conn.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, '')", [channel(queue)])
    except Exception:  # noqa: BLE001 - see the docstring
        _logger.debug("could not notify queue %s", queue, exc_info=True)


class Bell:
    """A pusher's wake-up. `wait(timeout)` returns True when the queue should be read now: something
    may have been queued, BACKSTOP passed since the last read, or the wake-up itself failed."""

    def __init__(self) -> None:
        self.read_at = 0.0

    def wait(self, timeout: float) -> bool:
        try:
            if self.open() or time.monotonic() - self.read_at >= BACKSTOP:
                return True
            return self._wait(timeout)
        except Exception:  # noqa: BLE001 - read the queue; the next wait opens it again
            _logger.debug("broker wake-up failed", exc_info=True)
            self.close()
            return True

    def reading(self) -> None:
        """The queue is being read now."""
        self.read_at = time.monotonic()

    def open(self) -> bool:
        """Make the wake-up ready if it is not; True when it was just made (read the queue: a
        message may have come before)."""
        return False

    def _wait(self, timeout: float) -> bool:
        raise NotImplementedError

    def close(self) -> None:
        pass


class SQLiteBell(Bell):
    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self.conn: Any = None
        self.version: int | None = None

    def _version(self) -> int:
        import sqlite3

        if self.conn is None:
            self.conn = sqlite3.connect(self.path, check_same_thread=False)
        return int(self.conn.execute("PRAGMA data_version").fetchone()[0])

    def _wait(self, timeout: float) -> bool:
        before = self._version() if self.version is None else self.version
        time.sleep(timeout)
        self.version = self._version()
        return self.version != before

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # noqa: BLE001
                pass
        self.conn = None
        self.version = None


class PostgresBell(Bell):
    def __init__(self, alias: str, queue: str) -> None:
        super().__init__()
        self.alias = alias
        self.channel = channel(queue)
        self.conn: Any = None
        self.failed_at = 0.0

    def _listen(self):  # noqa: ANN202
        from django.db import connections
        from psycopg import sql

        # A connection of its own (not the thread's): it only ever waits for notifications.
        wrapper = connections.create_connection(self.alias)
        wrapper.ensure_connection()
        conn = wrapper.connection
        conn.autocommit = True
        conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
        return conn

    def open(self) -> bool:
        if self.conn is not None or time.monotonic() - self.failed_at < RETRY_LISTEN:
            return False
        try:
            self.conn = self._listen()
        except Exception:
            self.failed_at = time.monotonic()
            raise
        return True

    def _wait(self, timeout: float) -> bool:
        if self.conn is None:
            time.sleep(timeout)
            return True  # no wake-up: poll as django-q2 does
        # A plain select on the socket: psycopg's notifies(timeout=) polls in a busy loop (about
        # 0.6 ms of CPU per 0.1 s wait, more than the SELECT it replaces).
        readable, _, _ = select.select([self.conn.fileno()], [], [], timeout)
        if not readable:
            return False
        pgconn = self.conn.pgconn
        pgconn.consume_input()  # raises on a lost connection: wait() then reads and re-listens
        rung = False
        while pgconn.notifies() is not None:
            rung = True
        return rung

    def close(self) -> None:
        if self.conn is not None:
            self.failed_at = time.monotonic()
            try:
                self.conn.close()
            except Exception:  # noqa: BLE001
                pass
        self.conn = None


def bell(alias: str, queue: str) -> Bell | None:
    """QUEUE's wake-up for a pusher in this process, or None where there is none (poll)."""
    from django.db import connections

    conn = connections[alias]
    if conn.vendor == "postgresql":
        return PostgresBell(alias, queue)
    if conn.vendor == "sqlite":
        name = str(conn.settings_dict["NAME"])
        if name and name != ":memory:" and not name.startswith("file:") and os.path.exists(name):
            return SQLiteBell(name)
    return None
