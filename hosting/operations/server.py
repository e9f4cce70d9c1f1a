"""server.verify: database (the database server answers, with its latency) -> web (the vhost
directory exists and the web server accepts its whole configuration: `nginx -t`) -> disk (free
space where platforms, databases, vhosts and backups live; a warning when it runs low) ->
record. Idempotent: nothing to undo."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from hosting.engine.steps import Context, Plan
from hosting.models import Platform, Server, Task
from hosting.operations import resources
from hosting.operations.common import step, target_rows
from provision.errors import ProvisionError

LOW_FRACTION = 0.05
LOW_BYTES = 1 << 30


def _server(ctx: Context) -> Server:
    return target_rows(Server, ctx.task.server_id).get()


def database(ctx: Context) -> None:
    server = _server(ctx)
    db = resources.db_server(server)
    if db.engine == "sqlite" and db.sqlite_dir is not None and not db.sqlite_dir.exists():
        db.sqlite_dir.mkdir(mode=0o750, parents=True)
        ctx.info(f"Repaired: created the SQLite directory {db.sqlite_dir}.")
    seconds = resources.db_driver(server).ping()
    ctx.info(f"Database server {db.label} answers in {seconds * 1000:.1f} ms.")
    ctx.state["db_ms"] = round(seconds * 1000, 1)


def web(ctx: Context) -> None:
    server = _server(ctx)
    config = resources.web_config(server)
    config.vhost_dir.mkdir(parents=True, exist_ok=True)
    if not os.access(config.vhost_dir, os.W_OK | os.X_OK):
        raise ProvisionError(f"The vhost directory {config.vhost_dir} is not writable by the worker.")
    server_web = resources.web_server(server, ctx.runner)
    server_web.test()
    if config.kind == "none":
        ctx.info(f"No web server on {server.name}: vhosts are written to {config.vhost_dir}, not loaded.")
    else:
        ctx.info(f"{config.kind} accepts its configuration (vhosts in {config.vhost_dir}).")


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def disk(ctx: Context) -> None:
    server = _server(ctx)
    places = {"backups": Path(settings.HARBORMASTER_BACKUP_DIR), "vhosts": resources.web_config(server).vhost_dir}
    db = resources.db_server(server)
    if db.sqlite_dir is not None:
        places["SQLite databases"] = db.sqlite_dir
    for platform in Platform.objects.filter(server=server).exclude(status=Platform.DELETED):
        places[f"platform {platform.name}"] = Path(platform.path)
    seen: dict[int, list[str]] = {}
    paths: dict[int, Path] = {}
    for what, path in places.items():
        existing = _nearest_existing(path)
        device = existing.stat().st_dev
        seen.setdefault(device, []).append(what)
        paths.setdefault(device, existing)
    report = []
    for device, whats in seen.items():
        usage = shutil.disk_usage(paths[device])
        free_gib = usage.free / (1 << 30)
        line = f"{', '.join(whats)}: {free_gib:.1f} GiB free of {usage.total / (1 << 30):.1f} GiB"
        if usage.free < LOW_BYTES or usage.free < usage.total * LOW_FRACTION:
            ctx.warning(f"Low disk space: {line}.")
        else:
            ctx.info(line + ".")
        report.append({"places": whats, "free": usage.free, "total": usage.total})
    ctx.state["disk"] = report


def record(ctx: Context) -> None:
    with ctx.recording():
        target_rows(Server, ctx.task.server_id).update(verified_at=timezone.now())


def verify_plan(task: Task) -> Plan:
    return Plan([
        step("database", database, label="Reach the database server"),
        step("web", web, label="Test the web server configuration"),
        step("disk", disk, label="Check free disk space"),
        step("record", record, label="Record the result"),
    ])
