"""Real services the tests talk to. A test that needs one skips when it is absent, unless
HARBORMASTER_REQUIRE_SERVICES=1 (CI sets it): then an absent service is a failure."""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
from pathlib import Path

import pytest

ADDRESSES = {
    "postgresql": ("127.0.0.1", 5432),
    "mariadb": ("127.0.0.1", 3306),
    "redis": ("127.0.0.1", 6379),
}


def services_required() -> bool:
    return os.environ.get("HARBORMASTER_REQUIRE_SERVICES", "") == "1"


def _missing(reason: str) -> None:
    if services_required():
        pytest.fail(f"{reason} (HARBORMASTER_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def need_service(name: str) -> tuple[str, int]:
    """Return (host, port) of a running service, or skip/fail the calling test."""
    host, port = ADDRESSES[name]
    try:
        with socket.create_connection((host, port), timeout=1):
            pass
    except OSError as exc:
        _missing(f"{name} is not reachable on {host}:{port}: {exc}")
    return host, port


def need_program(*names: str) -> str:
    """Return the path of the first program found on PATH, or skip/fail the calling test."""
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    _missing(f"none of {', '.join(names)} is installed")
    raise AssertionError("unreachable")


def need_postgresql_server() -> tuple[Path, str | None]:
    """Return the directory of PostgreSQL's server programs (initdb, pg_ctl, postgres) and the OS
    user to run them as (None: the current one), or skip/fail the calling test. PostgreSQL
    refuses to run as root, so root runs them as `postgres` through runuser."""
    # Debian keeps each major version apart: the newest one.
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                   key=lambda p: int(Path(p).parts[4]) if Path(p).parts[4].isdigit() else 0)
    bindir = Path(found[-1]).parent if found else None
    if bindir is None:
        program = shutil.which("pg_ctl")
        bindir = Path(program).parent if program else None
    if bindir is None or not all((bindir / name).exists() for name in ("initdb", "pg_ctl", "postgres")):
        _missing("PostgreSQL's server programs (initdb, pg_ctl, postgres) are not installed")
    if os.geteuid() != 0:
        return bindir, None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        _missing("running as root and there is no `postgres` user to run a PostgreSQL server as")
    if not shutil.which("runuser"):
        _missing("running as root and runuser is not installed to run PostgreSQL as `postgres`")
    return bindir, "postgres"
