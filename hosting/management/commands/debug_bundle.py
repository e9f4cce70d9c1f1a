"""`manage.py debug_bundle [-o FILE]`, like foreman-debug: one tar.gz to attach to a bug report.

It holds versions, the settings and environment, task and lock states, queue figures, status
checks, servers and schedules, and the last log lines of recently failed and paused tasks, every
file passed through hosting.redact (secret keys, URL passwords, every known secret value). JSON
files have the times of hosting.machine and each task in the API's shape."""
from __future__ import annotations

import io
import json
import os
import platform as host_platform
import shutil
import subprocess
import sys
import tarfile
import time
from datetime import timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db.models import Count, Min
from django.utils import timezone

from hosting import health, redact
from hosting.api.tasks import task_json
from hosting.machine import dumps
from hosting.models import BackupSchedule, Lock, Server, Task, TaskLog, Webhook

FAILED_TASKS = 20
LOG_LINES = 200
RECENT = timedelta(days=7)
PROGRAMS = [("nginx", ["nginx", "-v"]), ("apache2", ["apache2", "-v"]), ("mariadb", ["mariadb", "--version"]),
            ("mysql", ["mysql", "--version"]), ("psql", ["psql", "--version"]), ("pg_dump", ["pg_dump", "--version"]),
            ("redis-server", ["redis-server", "--version"]), ("zstd", ["zstd", "--version"]),
            ("drush", ["drush", "--version"]), ("php", ["php", "--version"])]
ACTOR = "cli:debug_bundle"  # an administrator's view of each task (hosting.engine.controls)
ENV_PREFIXES = ("HARBORMASTER_", "DATABASE_URL", "REDIS_URL", "EMAIL_URL", "Q_CLUSTER", "DJANGO_")


def versions() -> dict[str, Any]:
    found: dict[str, Any] = {"python": sys.version, "os": host_platform.platform(),
                             "hostname": host_platform.node()}
    for dist in ("Django", "django-q2", "psutil", "gunicorn", "redis", "psycopg", "django-ninja"):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[dist] = None
    for name, argv in PROGRAMS:
        if shutil.which(argv[0]):
            try:
                done = subprocess.run(argv, capture_output=True, text=True, timeout=5)
                found[name] = (done.stdout or done.stderr).strip().splitlines()[0] if (done.stdout or done.stderr) else ""
            except (OSError, subprocess.SubprocessError, IndexError) as exc:
                found[name] = f"error: {exc}"
    return found


def settings_dump() -> dict[str, Any]:
    names = [n for n in dir(settings) if n.isupper()]
    values = {}
    for name in names:
        value = getattr(settings, name)
        try:
            json.dumps(value, default=str)
        except (TypeError, ValueError):
            value = repr(value)
        values[name] = value
    env = {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIXES)}
    return {"settings": values, "environment": env}


def tasks_dump(now) -> dict[str, Any]:
    by_state = dict(Task.objects.values_list("state").annotate(n=Count("id")).order_by())
    # Each task as the API shows it to an administrator, beside what only the engine knows.
    active = [{"task": task_json(ACTOR, t), "engine": {"queue": t.server.queue if t.server_id else None,
                                                       "owner_pid": t.owner_pid, "dispatched_at": t.dispatched_at}}
              for t in Task.objects.filter(state__in=Task.ACTIVE).select_related("server", "created_by")
              .order_by("pk")[:500]]
    locks = [{"resource": key, "task": task, "acquired_at": at}
             for key, task, at in Lock.objects.values_list("key", "task_id", "acquired_at")[:500]]
    return {"by_state": by_state, "active": active, "locks": locks}


def queue_dump() -> dict[str, Any]:
    per_queue = list(Task.objects.filter(state=Task.QUEUED).values("server__queue")
                     .annotate(n=Count("id"), oldest=Min("created_at")).order_by("server__queue"))
    broker: dict[str, Any] = {"kind": "redis" if settings.Q_CLUSTER.get("redis") else "orm"}
    if not settings.Q_CLUSTER.get("redis"):
        from django_q.models import OrmQ

        broker["messages"] = list(OrmQ.objects.values("key").annotate(n=Count("id"), oldest=Min("lock")).order_by("key"))
    return {"queued_per_queue": per_queue, "broker": broker}


def failed_logs(now) -> str:
    tasks = (Task.objects.filter(state__in=(Task.FAILED, Task.PAUSED), created_at__gte=now - RECENT)
             .order_by("-created_at")[:FAILED_TASKS])
    out = []
    for task in tasks:
        out.append(f"=== #{task.pk} {task.target_type}.{task.kind} {task.target_label}: {task.state}: {task.summary}")
        lines = list(TaskLog.objects.filter(task=task).order_by("-position")[:LOG_LINES])
        out += [f"{row.at:%Y-%m-%d %H:%M:%S} {row.level:7} {row.line}" for row in reversed(lines)]
    return "\n".join(out) + "\n"


def nodes_dump() -> dict[str, Any]:
    return {
        "servers": list(Server.objects.values()),
        "backup_schedules": list(BackupSchedule.objects.values()),
        "webhooks": list(Webhook.objects.values("pk", "name", "url", "secret", "events", "client_id", "active")),
    }


def collect() -> dict[str, str | bytes]:
    now = timezone.now()
    started = time.monotonic()
    parts: dict[str, Any] = {
        "versions.json": versions(),
        "settings.json": settings_dump(),
        "tasks.json": tasks_dump(now),
        "queues.json": queue_dump(),
        "nodes.json": nodes_dump(),
        "status.json": [c.as_dict() for c in health.run_all()],
        "failed-task-logs.txt": failed_logs(now),
    }
    secrets = redact.known_secrets()
    files: dict[str, str | bytes] = {}
    for name, value in parts.items():
        if isinstance(value, str):
            files[name] = redact.text(value, secrets)
        else:
            files[name] = dumps(redact.data(value, secrets), indent=2, sort_keys=True, lenient=True)
    files["README.txt"] = (f"Harbormaster debug bundle made {now.isoformat()} in {time.monotonic() - started:.1f} s.\n"
                           "Secrets are replaced by [redacted]; look before you share it anyway.\n")
    return files


class Command(BaseCommand):
    help = "Write a tar.gz of versions, redacted settings, task states and recent failure logs."

    def add_arguments(self, parser) -> None:
        parser.add_argument("-o", "--output", help="The archive to write (default: harbormaster-debug-<time>.tar.gz).")

    def handle(self, *args: Any, **options: Any) -> None:
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        out = Path(options["output"] or f"harbormaster-debug-{stamp}.tar.gz")
        top = f"harbormaster-debug-{stamp}"
        files = collect()
        # The bundle holds operational detail: readable by its owner only.
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
            for name, content in files.items():
                data = content.encode() if isinstance(content, str) else content
                info = tarfile.TarInfo(f"{top}/{name}")
                info.size, info.mtime, info.mode = len(data), int(time.time()), 0o600
                tar.addfile(info, io.BytesIO(data))
        self.stdout.write(str(out))
