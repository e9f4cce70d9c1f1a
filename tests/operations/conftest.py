"""Fixtures of the task type tests: a server whose site databases are SQLite, MariaDB or
PostgreSQL, Drupal-shaped demo platforms under tmp_path, and `run()`, which queues a task and
runs it through the engine in this process (claim, steps, undo, locks), as a worker would."""
from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from tests.services import ADDRESSES, need_program, need_service

ENGINES = ["sqlite", "mysql", "postgresql"]


@pytest.fixture(autouse=True)
def _ops(hm_dirs, transactional_db, settings):
    settings.HARBORMASTER_HEARTBEAT = 1.0
    settings.HARBORMASTER_FAULTS = {}
    return hm_dirs


class Domains:
    """Unique domains for one test; their databases and users are dropped afterwards."""

    def __init__(self) -> None:
        self.token = secrets.token_hex(4)
        self.count = 0

    def new(self, label: str = "site") -> str:
        self.count += 1
        return f"hmt{self.token}-{label}{self.count}.example.test"

    @property
    def prefix(self) -> str:
        return f"hmt{self.token}_"


@pytest.fixture
def domains() -> Domains:
    return Domains()


def _engine_server_fields(engine: str, tmp_path: Path) -> dict[str, Any]:
    if engine == "sqlite":
        return {"db_engine": "sqlite", "sqlite_dir": str(tmp_path / "data" / "databases")}
    if engine == "mysql":
        host, port = need_service("mariadb")
        need_program("mariadb-dump", "mysqldump")
        return {"db_engine": "mysql", "db_host": host, "db_port": port, "db_admin_user": "root"}
    host, port = need_service("postgresql")
    need_program("pg_dump")
    return {"db_engine": "postgresql", "db_host": host, "db_port": port, "db_admin_user": "postgres"}


def _drop_test_databases(server, prefix: str) -> None:
    if server.db_engine == "mysql":
        import pymysql

        host, port = ADDRESSES["mariadb"]
        conn = pymysql.connect(host=host, port=port, user="root", autocommit=True)
        with conn.cursor() as cur:
            cur.execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE %s",
                        (prefix.replace("_", r"\_") + "%",))
            for (name,) in cur.fetchall():
                cur.execute(f"DROP DATABASE `{name}`")
            cur.execute("SELECT User, Host FROM mysql.user WHERE User LIKE %s", (prefix.replace("_", r"\_") + "%",))
            for user, host in cur.fetchall():
                cur.execute("DROP USER %s@%s", (user, host))
        conn.close()
    elif server.db_engine == "postgresql":
        import psycopg

        host, port = ADDRESSES["postgresql"]
        with psycopg.connect(host=host, port=port, user="postgres", dbname="postgres", autocommit=True) as conn:
            like = prefix.replace("_", r"\_") + "%"
            for (name,) in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (like,)).fetchall():
                conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            for (name,) in conn.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE %s", (like,)).fetchall():
                conn.execute(f'DROP ROLE "{name}"')


@pytest.fixture
def make_server(tmp_path: Path, domains: Domains) -> Iterator[Callable[..., Any]]:
    from hosting.models import Server

    made: list[Server] = []

    def make(engine: str = "sqlite", *, name: str = "local", **fields: Any) -> Server:
        values = {"queue": name, "hostname": "localhost", "http": "none",
                  "web_conf_dir": str(tmp_path / "data" / "vhosts"), **_engine_server_fields(engine, tmp_path)}
        values.update(fields)
        server = Server.objects.create(name=name, **values)
        made.append(server)
        return server

    yield make
    for server in made:
        _drop_test_databases(server, domains.prefix)


@pytest.fixture(params=ENGINES)
def engine(request) -> str:
    return request.param


@pytest.fixture
def local(make_server, engine: str):
    """The server of the test, with site databases on ENGINE."""
    return make_server(engine)


@pytest.fixture
def make_platform(tmp_path: Path) -> Callable[..., Any]:
    from hosting.models import Platform
    from provision.demo import make_platform as build
    from provision.platform import find_docroot

    def make(server, name: str = "p1", *, drupal: int = 10, composer: bool = False, sites: int = 0,
             verified: bool = True, status: str = "enabled") -> Platform:
        root = build(tmp_path / "platforms" / name, drupal=drupal, composer=composer, sites=sites)
        fields: dict[str, Any] = {}
        if verified:
            from provision.demo import VERSIONS

            fields = {"docroot": str(find_docroot(root)), "drupal_version": VERSIONS[drupal],
                      "verified_at": timezone.now()}
        return Platform.objects.create(name=name, server=server, path=str(root), status=status, **fields)

    return make


@pytest.fixture
def platform(local, make_platform):
    return make_platform(local)


def run_task(target, kind: str, args: dict[str, Any] | None = None, by: Any = None):
    """Queue a task and run it through the engine, as a worker would; returns it refreshed."""
    from hosting.actions import queue_task
    from hosting.engine.worker import execute

    task = queue_task(target, kind, args=args, by=by)
    execute(task.pk)
    task.refresh_from_db()
    return task


@pytest.fixture
def run() -> Callable[..., Any]:
    return run_task


def log_of(task) -> str:
    return "\n".join(line.line for line in task.log.order_by("position"))


def steps_of(task) -> dict[str, str]:
    return {s.name: s.state for s in task.steps.order_by("position")}


@pytest.fixture
def installed(run, platform, domains):
    """A site installed through site.install on PLATFORM."""
    from hosting.inventory import add_site
    from hosting.models import Site

    def make(domain: str | None = None, on=None, **kwargs: Any) -> Site:
        site, task = add_site(domain or domains.new(), on or platform, **kwargs)
        from hosting.engine.worker import execute

        execute(task.pk)
        task.refresh_from_db()
        assert task.state == "succeeded", (task.summary, log_of(task))
        site.refresh_from_db()
        return site

    return make


def tree_checksums(path: Path) -> dict[str, str]:
    """sha256 of every file below PATH (links as their target), by relative path."""
    found: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames.sort()
        for name in sorted(filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]):
            full = Path(dirpath) / name
            rel = str(full.relative_to(path))
            if full.is_symlink():
                found[rel] = "link:" + os.readlink(full)
            elif full.is_file():
                found[rel] = hashlib.sha256(full.read_bytes()).hexdigest()
    return found


# -- looking at a site from outside ---------------------------------------------------------

def site_paths(site) -> tuple[Path, Path]:
    """(docroot, site directory) of SITE as its record says."""
    from hosting.operations import resources

    site.refresh_from_db()
    return resources.docroot(site.platform), resources.site_dir(site)


def query(db, docroot: Path, sql: str) -> list[tuple]:
    """Rows of SQL run with the site's own credentials (DB: its DatabaseSettings)."""
    if db.driver == "sqlite":
        import sqlite3

        path = Path(db.database) if Path(db.database).is_absolute() else docroot / db.database
        conn = sqlite3.connect(path, isolation_level=None)  # autocommit, like the others
        try:
            return [tuple(map(str, row)) for row in conn.execute(sql).fetchall()]
        finally:
            conn.close()
    if db.driver == "mysql":
        import pymysql

        conn = pymysql.connect(host=db.host, port=db.port or 3306, user=db.username, password=db.password,
                               database=db.database, autocommit=True)
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
                return [tuple(map(str, row)) for row in cur.fetchall()]
        finally:
            conn.close()
    import psycopg

    with psycopg.connect(host=db.host, port=db.port or 5432, user=db.username, password=db.password,
                         dbname=db.database, autocommit=True) as conn:
        cur = conn.execute(sql)
        return [tuple(map(str, row)) for row in cur.fetchall()] if cur.description else []


def site_db(site):
    from provision.settings_php import read_database_settings

    docroot, directory = site_paths(site)
    return read_database_settings(directory / "settings.php"), docroot


def rows(site, table: str) -> list[tuple]:
    db, docroot = site_db(site)
    return sorted(query(db, docroot, f"SELECT * FROM {table}"))


def write_rows(site, values: list[str]) -> None:
    """A table of the test's own with VALUES in it (created if missing)."""
    db, docroot = site_db(site)
    query(db, docroot, "CREATE TABLE IF NOT EXISTS hm_drill (id INTEGER PRIMARY KEY, body VARCHAR(200))")
    query(db, docroot, "DELETE FROM hm_drill")
    for i, value in enumerate(values):
        query(db, docroot, f"INSERT INTO hm_drill (id, body) VALUES ({i}, '{value}')")


def snapshot(site) -> dict[str, Any]:
    """Everything that says a site works where it is: its record, its directory (every file's
    checksum), settings.php, its database rows, its vhost."""
    from hosting.models import Site
    from hosting.operations import resources

    site = Site.objects.select_related("platform__server").get(pk=site.pk)
    docroot, directory = site_paths(site)
    vhosts = resources.web_config(site.platform.server).vhost_dir
    return {
        "record": {k: getattr(site, k) for k in ("platform_id", "status", "db_name", "db_user", "domain")},
        "dir": str(directory),
        "files": tree_checksums(directory),
        "settings": (directory / "settings.php").read_text(),
        "settings_mode": oct((directory / "settings.php").stat().st_mode & 0o777),
        "rows": {t: rows(site, t) for t in ("users", "config", "key_value", "hm_drill")},
        "vhost": (vhosts / f"{site.domain}.conf").read_text() if (vhosts / f"{site.domain}.conf").exists() else None,
        "vhost_saved": (vhosts / f"{site.domain}.conf.site").exists(),
    }
