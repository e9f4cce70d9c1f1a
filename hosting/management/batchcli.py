"""The batch migrate's command line, under `manage.py platform`:

    platform migrate-sites SOURCE TARGET [--max-failures N] [--wait] [--json]
    platform batch-status ID [--json]     (ID: the batch's id, or #TASK: the task that planned it)
    platform batch-pause ID
    platform batch-resume ID [--max-failures N]

migrate-sites starts platform.migrate-sites through start_task (the panel's rules: target open,
no other batch, sites to move) and prints the planning task's id; with --wait, it waits for the
batch to finish, printing its progress, and exits non-zero if a site failed."""
from __future__ import annotations

import time
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError

from hosting import batches
from hosting.management.taskcli import actor, as_json
from hosting.models import MigrationBatch, Platform
from hosting.refused import TaskRefused

ACTIONS = ("migrate-sites", "batch-status", "batch-pause", "batch-resume")


def add_parsers(sub: Any) -> None:
    move = sub.add_parser("migrate-sites", help="Migrate every installed site of SOURCE to TARGET (same server).")
    move.add_argument("source", help="The platform the sites are on.")
    move.add_argument("target", help="The platform they move to.")
    move.add_argument("--max-failures", type=int, help="Stop starting sites after this many failures.")
    move.add_argument("--wait", action="store_true", help="Wait for the batch to finish, printing progress.")
    move.add_argument("--timeout", type=float, default=0, help="With --wait: give up after this many seconds.")
    move.add_argument("--json", action="store_true", help="Print the task (and with --wait the batch) as JSON.")
    status = sub.add_parser("batch-status", help="A batch's progress and, per site, where it ended and why.")
    status.add_argument("batch", help="The batch's id, or #TASK for the task that planned it.")
    status.add_argument("--json", action="store_true", help="The batch as the API gives it.")
    pause = sub.add_parser("batch-pause", help="Start no more sites (those running finish).")
    pause.add_argument("batch", help="The batch's id, or #TASK.")
    resume = sub.add_parser("batch-resume", help="Go on with a paused batch, or a stopped one with a higher limit.")
    resume.add_argument("batch", help="The batch's id, or #TASK.")
    resume.add_argument("--max-failures", type=int, help="The batch's new failure limit.")


def _platform(name: str) -> Platform:
    platform = Platform.objects.exclude(status=Platform.DELETED).filter(name=name).first()
    if platform is None:
        raise CommandError(f"No platform named {name!r}.")
    return platform


def find_batch(value: str) -> MigrationBatch:
    text = value.strip()
    try:
        number = int(text.lstrip("#"))
    except ValueError:
        raise CommandError(f"{value!r} is not a batch id (or #TASK).") from None
    found = (MigrationBatch.objects.filter(task_id=number) if text.startswith("#")
             else MigrationBatch.objects.filter(pk=number)).select_related("source", "target").first()
    if found is None:
        raise CommandError(f"No batch {value}.")
    return found


def progress_line(data: dict[str, Any]) -> str:
    p = data["progress"]
    return (f"batch #{data['id']} {data['state']}: {p['moved']} moved, {p['failed']} failed, "
            f"{p['running']} running, {p['queued'] + p['waiting']} waiting, {p['paused']} paused, "
            f"{p['not_started']} not started (of {p['total']})")


def handle(cmd: BaseCommand, action: str, options: dict[str, Any]) -> None:
    try:
        if action == "migrate-sites":
            _migrate(cmd, options)
            return
        batch = find_batch(options["batch"])
        if action == "batch-pause":
            batches.pause(batch, by=actor())
        elif action == "batch-resume":
            batches.resume(batch, by=actor(), max_failures=options.get("max_failures"))
        _show(cmd, batch, as_data=bool(options.get("json")))
    except (TaskRefused, PermissionDenied) as exc:
        raise CommandError(str(exc)) from None


def _show(cmd: BaseCommand, batch: MigrationBatch, *, as_data: bool) -> dict[str, Any]:
    batch.refresh_from_db()
    data = batches.report(batch)
    if as_data:
        cmd.stdout.write(as_json(data))
        return data
    cmd.stdout.write(progress_line(data))
    for item in data["sites"]:
        if item["state"] in ("failed", "skipped"):
            cmd.stdout.write(f"  {item['domain']}: {item['state']}: {item['reason']}")
    if data["summary"]:
        cmd.stdout.write(data["summary"])
    return data


def _migrate(cmd: BaseCommand, options: dict[str, Any]) -> None:
    from hosting.starting import ArgumentsInvalid, start_task

    source, target = _platform(options["source"]), _platform(options["target"])
    data = {"target": target.pk, "max_failures": options.get("max_failures")}
    try:
        task = start_task(actor(), source, "migrate-sites", data)
    except ArgumentsInvalid as exc:
        raise CommandError(str(exc)) from None
    if not options["wait"]:
        cmd.stdout.write(as_json({"task": task.pk, "batch": None}) if options["json"]
                         else f"Batch migrate of {source.name} to {target.name} queued as task {task.pk}")
        return
    give_up = time.monotonic() + options["timeout"] if options["timeout"] else None
    last = ""
    while True:
        task.refresh_from_db()
        batch = MigrationBatch.objects.filter(task=task).first()
        if batch is None and task.is_final:
            raise CommandError(f"Task {task.pk} {task.state}: {task.summary}")
        if batch is not None:
            data = batches.report(batch)
            line = progress_line(data)
            if line != last and not options["json"]:
                cmd.stdout.write(line)
                last = line
            if batch.state in MigrationBatch.FINAL or batch.state == MigrationBatch.PAUSED and \
                    not data["progress"]["running"] and not data["progress"]["queued"]:
                break
        if give_up is not None and time.monotonic() >= give_up:
            raise CommandError(f"Task {task.pk}: the batch is not finished after {options['timeout']:g} s.")
        time.sleep(0.5)
    data = _show(cmd, batch, as_data=bool(options["json"]))
    if data["progress"]["failed"] or batch.state != MigrationBatch.DONE:
        raise CommandError(data["summary"] or f"batch #{batch.pk} is {batch.state}")


__all__ = ["ACTIONS", "add_parsers", "handle"]
