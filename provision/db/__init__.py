"""Site database servers behind one interface: `driver_for(server)` gives the driver of a
`DatabaseServer` (MariaDB/MySQL, PostgreSQL or SQLite)."""
from __future__ import annotations

from provision.db.base import (
    ENGINES,
    DatabaseDriver,
    DatabaseServer,
    check_identifier,
)
from provision.errors import ProvisionError

__all__ = ["ENGINES", "DatabaseDriver", "DatabaseServer", "check_identifier", "driver_for"]


def driver_for(server: DatabaseServer) -> DatabaseDriver:
    """The driver for SERVER's engine. Imported on use, so a host without PyMySQL or psycopg
    can still work with the engines it has."""
    if server.engine == "mysql":
        from provision.db.mysql import MySQLDriver

        return MySQLDriver(server)
    if server.engine == "postgresql":
        from provision.db.postgresql import PostgreSQLDriver

        return PostgreSQLDriver(server)
    if server.engine == "sqlite":
        from provision.db.sqlite import SQLiteDriver

        return SQLiteDriver(server)
    raise ProvisionError(f"Unknown database engine {server.engine!r}.")
