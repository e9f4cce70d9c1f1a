"""Actions that change more than one record.

`queue_task` records a task and hands it to the workers on commit: what hosting.starting.start_task
does once it has checked who asks and what; tasks that queue their follow-ups (a platform
verify's imported sites) and new records' first tasks call it directly. The changes to people
(memberships) and API tokens live here too, so that views only parse, call and render."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from hosting import audit, quotas
from hosting.actor import Actor
from hosting.catalogue import task_type
from hosting.models import ApiToken, Membership, Platform, Server, Site, Task
from hosting.refused import TaskRefused


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


def queue_task(target: Site | Platform | Server, kind: str, *, by: Actor | None = None,
               args: dict[str, Any] | None = None, address: str | None = None,
               retry_of: Task | None = None, audited: bool = True) -> Task:
    """Record a task on TARGET and hand it to the target server's workers once committed.
    AUDITED False leaves out its `task.queued` event: only for the cron scheduler's runs, which
    hosting.cron audits once a tick instead of 240,000 times a day."""
    from hosting.engine.dispatch import dispatch_on_commit

    fields = _target_fields(target)
    known = task_type(fields["target_type"], kind)  # raises ValueError for an unknown type
    if isinstance(target, Site) and target.attention_refusal(kind):
        raise TaskRefused(target.attention_refusal(kind))
    user: Any = by if getattr(by, "pk", None) else None
    with transaction.atomic():
        quotas.check(fields.get("client"), known.quota)  # raises QuotaExceeded, nothing written
        task = Task.objects.create(kind=kind, args=args or {}, created_by=user, created_by_label=audit.label(by)[:200],
                                   retry_of=retry_of, **fields)
        if audited:
            audit.record(by, "task.queued", task, client=fields.get("client"), address=address,
                         after={"kind": kind, "target": fields["target_label"], "args": args or {}})
        dispatch_on_commit(task)
    return task


def resolve_duplicate(site: Site, platform: Platform, *, by: Actor | None = None, address: str | None = None) -> Task:
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
        _refuse_while_active(site)
        before = site.platform
        aside = other if platform.pk == site.platform_id else site.platform_id
        Site.objects.filter(pk=site.pk).update(platform=platform, attention_platform_id=aside)
        site.refresh_from_db()
        audit.record(by, "site.duplicate_resolved", site, address=address, before={"platform": before.name},
                     after={"platform": platform.name, "set_aside": Platform.objects.get(pk=aside).name})
        return queue_task(site, "verify", by=by, args={"set_aside": aside}, address=address)


def _refuse_while_active(site: Site) -> None:
    active = Task.objects.filter(site=site, state__in=Task.ACTIVE).order_by("created_at").first()
    if active is not None:
        raise TaskRefused(f"Task #{active.pk} ({active.kind}) is {active.state} on this site: wait for it first.")


def adopt_database(site: Site, name: str, *, by: Any = None, address: str | None = None) -> Task:
    """An administrator confirms (callers check) that the database NAME, which SITE's settings.php
    names and no record does, is the site's: audited, and a verify records it if settings.php
    still names it and it is still nobody else's (not another site's, not Harbormaster's own).
    Refused while a task is active on the site, or when NAME is not the one waiting."""
    with transaction.atomic():
        site = Site.objects.select_for_update().get(pk=site.pk)
        if site.status == Site.DELETED:
            raise TaskRefused("The site's record is deleted.")
        if site.db_name or site.db_file:
            raise TaskRefused(f"{site.domain} has a database recorded already: {site.db_name or site.db_file}.")
        if not site.attention_database:
            raise TaskRefused(f"No database that the settings.php of {site.domain} names is waiting to be adopted.")
        if name != site.attention_database:
            raise TaskRefused(f"The settings.php of {site.domain} named {site.attention_database!r}, not {name!r}.")
        _refuse_while_active(site)
        audit.record(by, "site.database_adopted", site, address=address, after={"db_name": name},
                     detail="An administrator confirmed that the database is the site's; a verify records it.")
        return queue_task(site, "verify", by=by, args={"adopt_database": name}, address=address)


# --- People and tokens ----------------------------------------------------------------------

def remove_member(membership: Membership, *, by: Actor, address: str | None = None) -> None:
    """Take MEMBERSHIP's user out of its client, audited. A manager cannot lock themselves out
    by accident (PermissionDenied); another manager or an administrator can."""
    from hosting import access

    if membership.user_id == getattr(by, "pk", None) and not access.is_admin(by):
        raise PermissionDenied("You cannot remove yourself; ask another manager or an administrator.")
    with transaction.atomic():
        audit.record(by, "member.removed", membership.client, address=address,
                     before={"user": membership.user.username, "role": membership.role})
        membership.delete()


def issue_token(user: Any, name: str, scope: str, expires: datetime | None, *,
                address: str | None = None) -> tuple[ApiToken, str]:
    """A new API token of USER, audited; returns it with its secret (shown once, never stored)."""
    with transaction.atomic():
        token, secret = ApiToken.issue(user, name, scope, expires)
        audit.record(user, "token.created", token, address=address,
                     after={"name": token.name, "scope": token.scope, "prefix": token.prefix,
                            "expires_at": expires.isoformat() if expires else None})
    return token, secret


def revoke_token(token: ApiToken, *, by: Any, address: str | None = None) -> None:
    with transaction.atomic():
        ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
        audit.record(by, "token.revoked", token, address=address, before={"name": token.name, "prefix": token.prefix})
