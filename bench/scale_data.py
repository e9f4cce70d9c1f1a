"""The data of issue 8's scale, shared by bench/panel_pages.py and bench/prune.py: 10,000 sites,
200,000 finished tasks over 90 days with their steps, 2,000,000 log lines in all, 20,000 backups
made by backup tasks, retry chains, one audit event per task, and the live end of the queue
(running tasks holding locks, queued and paused ones).

Rows go in with executemany in one transaction (Django's bulk_create builds a model object per
row, and 2,000,000 of them take minutes); SQLite runs without a journal while it fills a scratch
file. Nothing here is used by the panel itself."""
from __future__ import annotations

import os
import random
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

STATES = ["succeeded"] * 90 + ["warning"] * 3 + ["failed"] * 5 + ["cancelled"] * 2
KINDS = ["verify"] * 6 + ["backup"] * 3 + ["install", "restore", "clone", "migrate", "disable", "enable", "login-reset"]
SPAN = timedelta(days=90)
# Most tasks write a few lines, some dozens, a few (backups of big sites, rsync -v) hundreds.
LOG_WEIGHTS = [1] * 80 + [3] * 15 + [20] * 4 + [200]
DETAIL_LINES = 2000


def setup_django(directory: Path, database_url: str | None = None) -> None:
    """Django on a scratch SQLite file in DIRECTORY (or the PostgreSQL DATABASE_URL given), migrated."""
    os.environ["HARBORMASTER_DATA_DIR"] = str(directory)
    if database_url:
        ensure_database(database_url)
        os.environ["DATABASE_URL"] = database_url
    else:
        os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hosting.settings")
    os.environ.setdefault("HARBORMASTER_ALLOWED_HOSTS", "testserver")
    os.environ.setdefault("HARBORMASTER_LOG_LEVEL", "WARNING")
    # The bench asks the API thousands of times a minute with one token.
    os.environ.setdefault("HARBORMASTER_API_RATE", "1000000/min")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database of URL if it does not exist (a scratch one for the bench)."""
    import psycopg

    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')


def is_empty() -> bool:
    from hosting.models import Task

    return not Task.objects.exists()


class Inserter:
    """executemany INSERTs of plain tuples into a model's table, values prepared as the ORM would.
    Every column is written (the table has no database defaults), those not given take the
    field's default; COLUMNS instead fixes the tuple's columns for rows added ready-made."""

    def __init__(self, model: Any, *, with_id: bool = False, columns: list[str] | None = None) -> None:
        from django.db import connection

        self.connection = connection
        if columns is not None:
            self.fields = [model._meta.get_field(name) for name in columns]
        else:
            self.fields = [f for f in model._meta.concrete_fields if with_id or not f.primary_key]
        names = ", ".join(connection.ops.quote_name(f.column) for f in self.fields)
        marks = ", ".join(["%s"] * len(self.fields))
        self.sql = f"INSERT INTO {connection.ops.quote_name(model._meta.db_table)} ({names}) VALUES ({marks})"
        self.copy_sql = f"COPY {connection.ops.quote_name(model._meta.db_table)} ({names}) FROM STDIN"
        self.rows: list[tuple] = []
        self.count = 0
        self.defaults = [f.get_db_prep_save(f.get_default(), connection) for f in self.fields]

    def prep(self, values: dict[str, Any]) -> tuple:
        # Only the values given are prepared: the defaults were, once.
        return tuple(f.get_db_prep_save(values[f.attname], self.connection) if f.attname in values else default
                     for f, default in zip(self.fields, self.defaults, strict=True))

    def add(self, row: tuple) -> None:
        self.rows.append(row)
        if len(self.rows) >= 50_000:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            with self.connection.cursor() as cursor:
                if self.connection.vendor == "postgresql":
                    # COPY streams the rows in one statement: several times faster than INSERTs.
                    with cursor.cursor.copy(self.copy_sql) as copy:
                        for row in self.rows:
                            copy.write_row(row)
                else:
                    cursor.executemany(self.sql, self.rows)
            self.count += len(self.rows)
            self.rows = []


def _fast_sqlite(on: bool) -> None:
    from django.db import connection

    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        if on:  # a scratch file being filled: no journal, no fsync, a big page cache
            cursor.execute("PRAGMA journal_mode=OFF")
            cursor.execute("PRAGMA synchronous=OFF")
            cursor.execute("PRAGMA cache_size=-400000")
        else:  # back to what the panel runs with
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")


def _reset_sequences(models: list[Any]) -> None:
    from django.core.management.color import no_style
    from django.db import connection

    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), models):
            cursor.execute(sql)


def generate(n_sites: int = 10_000, n_tasks: int = 200_000, n_lines: int = 2_000_000, seed: int = 7) -> dict[str, int]:
    """Fill the empty database. Returns the row counts written."""
    from hosting.models import AuditEvent, Backup, Site, Task

    # Timestamps are part of the data: let created_at take the values given, for the time of it.
    stamped = [model._meta.get_field("at" if model is AuditEvent else "created_at")
               for model in (Task, Backup, Site, AuditEvent)]
    for field in stamped:
        field.auto_now_add = False
    try:
        return _generate(n_sites, n_tasks, n_lines, seed)
    finally:
        for field in stamped:
            field.auto_now_add = True


def _generate(n_sites: int, n_tasks: int, n_lines: int, seed: int) -> dict[str, int]:
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.utils import timezone

    from hosting.models import (
        AuditEvent,
        Backup,
        Client,
        Lock,
        Membership,
        Platform,
        Server,
        Site,
        Task,
        TaskLog,
        TaskStep,
    )

    rng = random.Random(seed)
    now = timezone.now()
    users = get_user_model()
    _fast_sqlite(True)
    with transaction.atomic():
        admin = users.objects.create_superuser("admin", "a@example.test", "bench-pass-1")
        member = users.objects.create_user("member", "m@example.test", "bench-pass-1")
        clients = Client.objects.bulk_create([Client(name=f"client{i:03d}") for i in range(200)])
        Membership.objects.create(client=clients[0], user=member, role=Membership.MANAGER)
        servers = Server.objects.bulk_create([Server(name=f"web{i}", queue=f"web{i}", hostname=f"web{i}.example.test")
                                              for i in range(3)])
        platforms = Platform.objects.bulk_create([
            Platform(name=f"d{10 + i % 2}-{i:02d}", server=servers[i % 3], path=f"/srv/platforms/p{i:02d}",
                     drupal_version="10.3.1", status="locked" if i % 13 == 5 else "enabled", verified_at=now)
            for i in range(40)])
        sites = Site.objects.bulk_create([
            Site(domain=f"site{i:05d}.example.test", platform=platforms[i % 40], client=clients[i % 200],
                 status="disabled" if i % 50 == 7 else "enabled", db_name=f"site{i:05d}",
                 disk_files_bytes=rng.randint(1, 900) << 20, disk_db_bytes=rng.randint(1, 300) << 20,
                 created_at=now - timedelta(days=rng.randint(1, 400)), verified_at=now)
            for i in range(n_sites)], batch_size=2000)
        server_of = {p.pk: p.server_id for p in platforms}

        tasks, steps, audit = Inserter(Task, with_id=True), Inserter(TaskStep), Inserter(AuditEvent)
        lines_sql = Inserter(TaskLog, columns=["task", "position", "at", "level", "line"])
        weights = [rng.choice(LOG_WEIGHTS) for _ in range(n_tasks)]
        per_weight = max(0, n_lines - DETAIL_LINES) / max(1, sum(weights))
        ops = connection.ops
        last_failed: dict[int, int] = {}
        backup_tasks: list[tuple[int, Any, datetime]] = []
        written_lines = 0
        for i in range(n_tasks):
            pk = i + 1
            site = sites[rng.randrange(len(sites))]
            kind = rng.choice(KINDS)
            state = rng.choice(STATES)
            created = now - SPAN * (1 - i / n_tasks) - timedelta(seconds=rng.random() * 60)
            started = created + timedelta(seconds=1)
            finished = started + timedelta(seconds=rng.uniform(0.5, 120))
            retry_of = last_failed.pop(site.pk, None) if rng.random() < 0.3 else None
            if state == "failed":
                last_failed[site.pk] = pk
            by = member if site.client_id == clients[0].pk else admin
            args = {"kind": "scheduled"} if kind == "backup" and rng.random() < 0.7 else {}
            tasks.add(tasks.prep({
                "id": pk, "kind": kind, "target_type": "site", "site_id": site.pk, "platform_id": site.platform_id,
                "server_id": server_of[site.platform_id], "client_id": site.client_id, "target_label": site.domain,
                "created_by_id": by.pk, "args": args, "state": state, "created_at": created, "dispatched_at": created,
                "started_at": started, "finished_at": finished, "attempt": 1, "summary": "Done.",
                "retry_of_id": retry_of}))
            for position, name in enumerate(("prepare", kind, "record")):
                steps.add(steps.prep({"task_id": pk, "position": position, "name": name, "label": name.capitalize(),
                                      "state": "done", "started_at": started, "finished_at": finished, "error": ""}))
            audit.add(audit.prep({"actor_id": by.pk, "actor_label": by.username, "action": "task.queued",
                                  "object_type": "task", "object_id": str(pk),
                                  "object_label": f"#{pk} {kind} {site.domain}", "client_id": site.client_id,
                                  "at": created, "after": {"kind": kind}, "detail": ""}))
            at = ops.adapt_datetimefield_value(finished)
            count = int(weights[i] * per_weight)
            for position in range(count):
                lines_sql.add((pk, position, at, "info", f"{kind}: sites/{site.domain}/files/{position:05d}.jpg ok"))
            written_lines += count
            if kind == "backup" and state == "succeeded":
                backup_tasks.append((pk, site, finished))
        for inserter in (tasks, steps, audit):
            inserter.flush()
        # The live end of the queue: running (with locks), queued behind them, paused.
        live = []
        for i in range(20):
            site = sites[i * 37 % len(sites)]
            live.append(Task(kind="backup", target_type="site", site=site, platform_id=site.platform_id,
                             server_id=servers[0].pk, client_id=site.client_id, target_label=site.domain,
                             created_by=admin, state="running", created_at=now - timedelta(minutes=3),
                             started_at=now - timedelta(minutes=2), heartbeat_at=now, owner_host="web0",
                             owner_pid=1000 + i, attempt=1))
        for i in range(60):
            site = sites[i * 37 % len(sites)]
            live.append(Task(kind="verify", target_type="site", site=site, platform_id=site.platform_id,
                             server_id=servers[0].pk, client_id=site.client_id, target_label=site.domain,
                             created_by=admin, state="queued" if i % 12 else "paused",
                             created_at=now - timedelta(minutes=1), waiting_reason="waiting for a worker"))
        for index, task in enumerate(live):
            task.pk = n_tasks + index + 1  # ids after the history's
        live = Task.objects.bulk_create(live)
        Lock.objects.bulk_create([Lock(key=f"site:{t.site_id}", task=t) for t in live if t.state == "running"])
        detail = live[0]
        TaskStep.objects.bulk_create([TaskStep(task=detail, position=i, name=f"step{i}", state="done",
                                               started_at=now, finished_at=now) for i in range(8)])
        at = ops.adapt_datetimefield_value(now)
        remaining = max(0, n_lines - written_lines)
        for position in range(remaining):
            lines_sql.add((detail.pk, position, at, "info", f"rsync: file {position} of {remaining}"))
        lines_sql.flush()
        # Backups point at the task that made them, as site.backup records them.
        made = rng.sample(backup_tasks, min(20_000, len(backup_tasks)))
        backups = Inserter(Backup)
        for pk, site, finished in made:
            backups.add(backups.prep({"site_id": site.pk, "domain": site.domain, "client_id": site.client_id,
                                      "path": f"/srv/backups/{site.domain}/{pk}.tar.zst",
                                      "size": rng.randint(1, 500) << 20,
                                      "sha256": "", "kind": "scheduled", "manifest": {}, "task_id": pk,
                                      "created_at": finished}))
        backups.flush()
        _reset_sequences([Task, TaskStep, TaskLog, AuditEvent, Backup])
    _fast_sqlite(False)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {"sites": n_sites, "tasks": n_tasks + len(live), "steps": steps.count + 8,
            "log lines": lines_sql.count, "backups": backups.count, "audit events": audit.count}


def token_for(username: str) -> str:
    """A fresh read token of USERNAME (secrets are not stored, so each run issues its own)."""
    from django.contrib.auth import get_user_model

    from hosting.models import ApiToken

    user = get_user_model().objects.get(username=username)
    ApiToken.objects.filter(user=user, name="bench-run").delete()
    return ApiToken.issue(user, "bench-run", ApiToken.READ)[1]


def fill(n_sites: int, n_tasks: int, n_lines: int) -> None:
    started = time.monotonic()
    counts = generate(n_sites, n_tasks, n_lines)
    print("generated " + ", ".join(f"{v:,} {k}" for k, v in counts.items())
          + f" in {time.monotonic() - started:.0f} s")
