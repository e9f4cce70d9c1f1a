"""Actions that change more than one record. `queue_task` is the only way work starts: views,
API endpoints and commands call it; it records the task and hands it to the workers on commit."""
from __future__ import annotations

from typing import Any

from django.db import transaction

from hosting import audit
from hosting.models import Platform, Server, Site, Task
from hosting.tasktypes import task_type


class TaskRefused(Exception):
    """The task cannot be queued now; the message says why (shown to the user as it is)."""


def _target_fields(target: Site | Platform | Server) -> dict[str, Any]:
    if isinstance(target, Site):
        platform = target.platform
        return {"target_type": "site", "site": target, "platform": platform, "server": platform.server,
                "client": target.client, "target_label": target.domain}
    if isinstance(target, Platform):
        return {"target_type": "platform", "platform": target, "server": target.server,
                "target_label": target.name}
    if isinstance(target, Server):
        return {"target_type": "server", "server": target, "target_label": target.name}
    raise TypeError(f"cannot run a task on {target!r}")


def queue_task(target: Site | Platform | Server, kind: str, *, by: Any = None,
               args: dict[str, Any] | None = None, address: str | None = None,
               retry_of: Task | None = None) -> Task:
    """Record a task on TARGET and hand it to the target server's workers once committed."""
    from hosting import quotas  # imports TaskRefused from here
    from hosting.engine.dispatch import dispatch_on_commit

    fields = _target_fields(target)
    task_type(fields["target_type"], kind)  # raises ValueError for an unknown type
    user = by if getattr(by, "pk", None) else None
    with transaction.atomic():
        quotas.check(fields.get("client"), kind)  # raises QuotaExceeded, nothing written
        task = Task.objects.create(kind=kind, args=args or {}, created_by=user, retry_of=retry_of, **fields)
        audit.record(by, "task.queued", task, client=fields.get("client"), address=address,
                     after={"kind": kind, "target": fields["target_label"], "args": args or {}})
        dispatch_on_commit(task)
    return task
