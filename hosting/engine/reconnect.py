"""Outliving a restart of the control database (docs/decisions.md, "The engine waits for the
control database").

A PostgreSQL restart (or a crash, or a network cut) ends every session. Django reopens a
connection only once someone closes the broken one: requests do it between requests, django-q2
between tasks, and nothing does it in the middle of a task or in a long-lived thread, where every
later statement then fails with "the connection is closed" although the server is back. The
engine's long-lived threads close theirs on failure (`reset`); its bookkeeping in a worker (claim,
step rows, state, log, the final UPDATE) goes through `retry`, which waits for the server.

Only whole units that are safe to run twice go through `retry`: a transaction (an atomic block
that failed was rolled back entirely) or a single conditional UPDATE. SQLite has no server to
lose: its errors (a busy file) are never taken for a lost connection."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import DatabaseError, InterfaceError, OperationalError, connection

# How long a worker waits for the control database in the middle of a task before it gives up
# and leaves the task to a reaper (which settles it once the database is back). Long enough for
# a restart or a fail-over; a task's own deadline is measured by its Runner meanwhile.
PATIENCE = 120.0
_FIRST_WAIT = 0.1
_LONGEST_WAIT = 2.0
# SQLSTATE classes and codes of a session that ended: connection exceptions, and the server
# shutting down, crashing or starting up.
_GONE_STATES = ("08", "57P01", "57P02", "57P03")
_logger = logging.getLogger("hosting.engine")
T = TypeVar("T")


def connection_lost(exc: BaseException) -> bool:
    """True when EXC says the session with the database server is gone (or could not be opened),
    not that the statement was wrong or lost a race (deadlock, lock timeout, constraint)."""
    if not isinstance(exc, (OperationalError, InterfaceError)):
        return False
    cause = exc.__cause__
    if not type(cause).__module__.startswith("psycopg"):
        return False
    state = getattr(cause, "sqlstate", None)
    # Client-side errors ("server closed the connection unexpectedly", "the connection is
    # closed", "connection failed: ... Connection refused") carry no SQLSTATE.
    return state is None or state.startswith(_GONE_STATES)


def reset() -> None:
    """Drop this thread's connection, so that its next statement opens a new session."""
    try:
        connection.close()
    except Exception:  # noqa: BLE001 - closing a dead session may complain; it is dropped anyway
        pass


def retry(job: Callable[..., T], *args: object, patience: float = PATIENCE, **kwargs: object) -> T:
    """JOB(*ARGS, **KWARGS); while it fails because the database connection is gone, drop the
    connection, wait (0.1 s doubling up to 2 s) and run it again, for up to PATIENCE seconds.
    Inside a transaction JOB runs once: the transaction's owner must start it again."""
    if connection.in_atomic_block:
        return job(*args, **kwargs)
    give_up = time.monotonic() + patience
    wait = _FIRST_WAIT
    said = False
    while True:
        try:
            result = job(*args, **kwargs)
        except DatabaseError as exc:
            if not connection_lost(exc) or time.monotonic() + wait > give_up:
                raise
            if not said:
                _logger.warning("the control database is unreachable (%s); waiting up to %.0f s for it",
                                str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
                                patience)
                said = True
            reset()
            time.sleep(wait)
            wait = min(wait * 2, _LONGEST_WAIT)
            continue
        if said:
            _logger.warning("the control database answers again")
        return result
