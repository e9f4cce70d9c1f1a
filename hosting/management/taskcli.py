"""Helpers of `manage.py tasks`, `reap` and the other commands: finding targets, parsing --arg,
printing lists (a header row, tab-separated columns) and JSON."""
from __future__ import annotations

import getpass
import json
from collections.abc import Iterable
from typing import Any

from django.core.management.base import CommandError

from hosting import clusters
from hosting.actor import Operator
from hosting.machine import dumps, iso_or_empty, seconds
from hosting.models import Platform, Server, Site, Task, TaskLog, TaskStep


def actor() -> Operator:
    """The command line acts as a trusted operator; the audit trail names the login."""
    try:
        return Operator(f"cli:{getpass.getuser()}")
    except Exception:  # noqa: BLE001 - no login name in some containers
        return Operator("cli")


def get_task(value: str) -> Task:
    try:
        pk = int(value.lstrip("#"))
    except ValueError:
        raise CommandError(f"{value!r} is not a task id (a number).") from None
    task = Task.objects.select_related("client", "created_by", "server").filter(pk=pk).first()
    if task is None:
        raise CommandError(f"There is no task #{pk}.")
    return task


def find_target(site: str | None, platform: str | None, server: str | None) -> Site | Platform | Server:
    given = [x for x in (site, platform, server) if x]
    if len(given) != 1:
        raise CommandError("Give exactly one of --site DOMAIN, --platform NAME or --server NAME.")
    if site:
        found = Site.objects.exclude(status=Site.DELETED).filter(domain=site.strip().lower()).first()
        if found is None:
            raise CommandError(f"No site {site!r}.")
        return found
    if platform:
        found_p = Platform.objects.exclude(status=Platform.DELETED).filter(name=platform).first()
        if found_p is None:
            raise CommandError(f"No platform named {platform!r}.")
        return found_p
    found_s = Server.objects.filter(name=server).first()
    if found_s is None:
        raise CommandError(f"No server named {server!r}.")
    return found_s


def parse_args(pairs: Iterable[str]) -> dict[str, Any]:
    """--arg k=v, repeatable. A value that reads as JSON (numbers, true, lists) is taken as such."""
    args: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise CommandError(f"--arg takes KEY=VALUE, got {pair!r}.")
        try:
            args[key.strip()] = json.loads(value)
        except ValueError:
            args[key.strip()] = value
    return args


def kind_for(target: Site | Platform | Server, value: str) -> str:
    """`backup` or `site.backup` for a site target."""
    from hosting.catalogue import kinds_for

    target_type = {Site: "site", Platform: "platform", Server: "server"}[type(target)]
    prefix, dot, kind = value.partition(".")
    if dot:
        if prefix != target_type:
            raise CommandError(f"{value} is a {prefix} task, but the target is a {target_type}.")
        value = kind
    if value not in kinds_for(target_type):
        known = ", ".join(kinds_for(target_type))
        raise CommandError(f"Unknown task type {value!r} for a {target_type}; known: {known}.")
    return value


def row(task: Task) -> dict[str, Any]:
    """A task's line of `tasks list` (text; --json prints the API's shape)."""
    user = task.created_by_label or (task.created_by.get_username() if task.created_by_id and task.created_by else "")
    return {
        "id": task.pk, "type": f"{task.target_type}.{task.kind}", "target": task.target_label,
        "state": task.state, "user": user, "created": iso_or_empty(task.created_at),
        "started": iso_or_empty(task.started_at), "finished": iso_or_empty(task.finished_at),
        "duration": seconds(task.started_at, task.finished_at),
    }


def as_json(data: Any) -> str:
    return dumps(data, indent=2)


def table(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    """A list as the commands print it: a header row, then one tab-separated line per item."""
    return "\n".join("\t".join(str(cell) for cell in line) for line in [list(header), *map(list, rows)])


def describe(task: Task) -> dict[str, Any]:
    """Everything `tasks show` prints as text (--json prints the API's task instead)."""
    data: dict[str, Any] = row(task)
    data.update({
        "client": task.client.name if task.client_id and task.client else "",
        "args": task.args, "attempt": task.attempt, "summary": task.summary,
        # Also why a queued task waiting for nothing in particular does not start: no cluster
        # serves its queue (hosting.clusters), as the panel's task page says.
        "waiting_reason": clusters.waiting_reason(task), "waiting_on": task.waiting_on_id,
        "owner": f"{task.owner_host} pid {task.owner_pid}" if task.owner_pid else "",
        "heartbeat": iso_or_empty(task.heartbeat_at), "deadline": iso_or_empty(task.deadline_at),
        "cancel_requested": task.cancel_requested, "current_step": task.current_step,
        "retry_of": task.retry_of_id, "locks": list(task.locks.values_list("key", flat=True)),
        "steps": [{"position": s.position + 1, "name": s.name, "state": s.state, "error": s.error,
                   "started": iso_or_empty(s.started_at), "finished": iso_or_empty(s.finished_at)}
                  for s in TaskStep.objects.filter(task=task).order_by("position")],
        "log": [{"at": iso_or_empty(line.at), "level": line.level, "line": line.line}
                for line in TaskLog.objects.filter(task=task).order_by("position")],
    })
    return data


def show_text(data: dict[str, Any]) -> str:
    lines = [f"Task #{data['id']} {data['type']} {data['target']}: {data['state']}"]
    for key in ("summary", "waiting_reason", "client", "user", "created", "started", "finished", "duration",
                "attempt", "owner", "heartbeat", "deadline", "current_step", "retry_of"):
        value = data.get(key)
        if value not in ("", None, 0) or key == "attempt":
            lines.append(f"  {key.replace('_', ' ')}: {value}")
    if data["args"]:
        lines.append(f"  args: {json.dumps(data['args'], sort_keys=True)}")
    if data["locks"]:
        lines.append(f"  locks: {', '.join(data['locks'])}")
    if data["steps"]:
        lines.append("  steps:")
        for step in data["steps"]:
            error = f" - {step['error']}" if step["error"] else ""
            lines.append(f"    {step['position']}. {step['name']}: {step['state']}{error}")
    if data["log"]:
        lines.append("  log:")
        lines += [f"    {line['at']} {line['level']:7} {line['line']}" for line in data["log"]]
    return "\n".join(lines)
