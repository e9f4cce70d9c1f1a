"""The engine's clock: the database's, never the worker's (DESIGN §4.3).

Heartbeats, deadlines and the reaper's "older than 3 beats" all compare times taken from the
database server, so a worker whose clock runs a minute ahead cannot look alive forever to
reapers on other hosts. Tests replace `db_now` and `now_expr` with a controlled clock."""
from __future__ import annotations

from datetime import UTC, datetime

from django.db import connection
from django.db.models import DateTimeField, Expression, Value
from django.db.models.functions import Now


def db_now() -> datetime:
    """The database server's current time, as an aware UTC datetime."""
    if connection.vendor == "sqlite":
        # SQLite runs in our process: its clock is this host's (one host shares one file), so
        # asking it would be a query per call for the same answer (now_expr says the same).
        return datetime.now(UTC)
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement_timestamp()")
        value = cursor.fetchone()[0]
    return value.astimezone(UTC)


def now_expr() -> Expression:
    """The database's current time inside an UPDATE or a filter (one round trip, not two).

    On SQLite a value computed here: SQLite's own clock is this host's anyway, and its
    STRFTIME text ("...:00.684") would not compare equal to the text Django writes for the
    same instant ("...:00.684000"), which the reaper's conditional takeover relies on."""
    if connection.vendor == "sqlite":
        return Value(datetime.now(UTC), output_field=DateTimeField())
    return Now()

