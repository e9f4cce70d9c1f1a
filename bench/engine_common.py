"""Shared set-up of the engine benchmarks: a fresh database (SQLite file or PostgreSQL), the
scripted test operations, real qcluster processes. Not a test: scripts that print figures."""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BASE = Path(__file__).resolve().parents[1]
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/hm_bench"


def arguments(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--database", default="sqlite",
                        help=f"sqlite (a fresh file), or a PostgreSQL URL (recreated!), e.g. {DEFAULT_PG}")
    parser.add_argument("--heartbeat", type=float, default=5.0, help="HARBORMASTER_HEARTBEAT of the cluster")
    parser.add_argument("--workers", type=int, default=2)
    return parser


def _recreate_postgres(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def setup(database: str, heartbeat: float) -> Path:
    """Point Django at a fresh database, migrate it, return a scratch directory."""
    scratch = Path(tempfile.mkdtemp(prefix="hm-bench-"))
    if database == "sqlite":
        url = f"sqlite:///{scratch / 'bench.sqlite3'}"
    else:
        url = DEFAULT_PG if database in ("postgresql", "pg") else database
        _recreate_postgres(url)
    os.environ.update({
        "DATABASE_URL": url, "HARBORMASTER_DATA_DIR": str(scratch),
        "DJANGO_SETTINGS_MODULE": "tests.engine.cluster_settings",
        "HARBORMASTER_HEARTBEAT": str(heartbeat), "HARBORMASTER_LOG_LEVEL": "WARNING",
    })
    sys.path.insert(0, str(BASE))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    return scratch


def nodes(count: int):
    """A server `local`, a platform, and COUNT sites without a client (no client cap)."""
    from hosting.models import Platform, Server, Site

    server = Server.objects.create(name="local", queue="local")
    platform = Platform.objects.create(name="bench", server=server, path="/srv/bench", status="enabled")
    sites = [Site(domain=f"s{i}.bench.test", platform=platform, status="enabled") for i in range(count)]
    return server, Site.objects.bulk_create(sites)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p / 100
    low, high = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def summary(values: list[float]) -> str:
    return (f"n={len(values)} p50={percentile(values, 50):.3f} s p99={percentile(values, 99):.3f} s "
            f"max={max(values):.3f} s mean={statistics.fmean(values):.3f} s")


def vendor() -> str:
    from django.db import connection

    return connection.vendor
