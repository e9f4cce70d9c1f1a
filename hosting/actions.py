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
    if isinstance(target, Site) and target.attention_refusal(kind):
        raise TaskRefused(target.attention_refusal(kind))
    user = by if getattr(by, "pk", None) else None
    with transaction.atomic():
        quotas.check(fields.get("client"), kind)  # raises QuotaExceeded, nothing written
        task = Task.objects.create(kind=kind, args=args or {}, created_by=user, retry_of=retry_of, **fields)
        audit.record(by, "task.queued", task, client=fields.get("client"), address=address,
                     after={"kind": kind, "target": fields["target_label"], "args": args or {}})
        dispatch_on_commit(task)
    return task


def resolve_duplicate(site: Site, platform: Platform, *, by: Any = None, address: str | None = None) -> Task:
    """Say which copy of a site found on two platforms is the site (administrators: callers
    check): the record follows PLATFORM, and a verify sets the other copy aside (kept, hidden)
    and checks the site there. Audited; refused while a task is active on the site."""
    with transaction.atomic():
        site = Site.objects.select_for_update().select_related("platform").get(pk=site.pk)
        other = site.attention_platform_id
        if other is None:
            raise TaskRefused(f"No other copy of {site.domain} is waiting for a decision.")
        if platform.pk not in (site.platform_id, other):
            raise TaskRefused(f"Platform {platform.name} holds no copy of {site.domain} "
                              "that is waiting for a decision.")
        active = Task.objects.filter(site=site, state__in=Task.ACTIVE).order_by("created_at").first()
        if active is not None:
            raise TaskRefused(f"Task #{active.pk} ({active.kind}) is {active.state} on this site: wait for it first.")
        before = site.platform
        aside = other if platform.pk == site.platform_id else site.platform_id
        Site.objects.filter(pk=site.pk).update(platform=platform, attention_platform_id=aside)
        site.refresh_from_db()
        audit.record(by, "site.duplicate_resolved", site, address=address, before={"platform": before.name},
                     after={"platform": platform.name, "set_aside": Platform.objects.get(pk=aside).name})
        return queue_task(site, "verify", by=by, args={"set_aside": aside}, address=address)
