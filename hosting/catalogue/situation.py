"""What the refusal rules (hosting.catalogue.refusals) ask about one target, as one viewer sees
it: read on first use and kept, so that a page showing every button of a site, or one start,
reads each fact at most once and only the facts its rules ask for."""
from __future__ import annotations

from functools import cached_property
from typing import Any

from django.db.models import Count, F, Q, QuerySet, Sum

from hosting import access
from hosting.catalogue import TYPES, target_type_of
from hosting.models import Platform, Server, Site, Task

Node = Site | Platform | Server


def active_task(viewer: Any, target: Node) -> Task | None:
    """The oldest unfinished task on TARGET itself (one query). The target is compared as
    `<field>_id + 0` so that the database takes the (state, created_at) index (unfinished tasks
    are few) rather than reading every task a platform's sites ever had (10 ms at 200,000)."""
    field = target_type_of(target)
    return (access.tasks(viewer).annotate(target_pk=F(f"{field}_id") + 0)
            .filter(target_pk=target.pk, target_type=field, state__in=Task.ACTIVE)
            .order_by("created_at", "id").first())


def conflict(task: Task | None, noun: str) -> str:
    """Why nothing else may start on a target while TASK is unfinished there ("" for none)."""
    if task is None:
        return ""
    known = TYPES.get(f"{task.target_type}.{task.kind}")
    name = known.label if known else task.kind
    if task.state == Task.PAUSED:
        return f"{name} #{task.pk} is paused on this {noun}: resume, skip or abort it first."
    return f"{name} #{task.pk} is {task.state} on this {noun}; wait for it to finish."


def new_site_platforms(viewer: Any, client: Any, exclude: Platform | None = None) -> QuerySet[Platform]:
    """Platforms VIEWER can see on which CLIENT may get a new site (clone, migrate): the same rule
    as inventory.platform_refusal, as one query."""
    qs = access.platforms(viewer).filter(status=Platform.ENABLED)
    qs = qs.filter(Q(clients__isnull=True) | Q(clients=client)) if client else qs.filter(clients__isnull=True)
    if exclude is not None:
        qs = qs.exclude(pk=exclude.pk)
    return qs.order_by("name").distinct()


class Situation:
    """TARGET as VIEWER sees it now, for the refusal rules and the node's page."""

    def __init__(self, viewer: Any, target: Node) -> None:
        self.viewer = viewer
        self.target = target
        self.target_type = target_type_of(target)

    @cached_property
    def active(self) -> Task | None:
        return active_task(self.viewer, self.target)

    @property
    def conflict(self) -> str:
        return conflict(self.active, self.target_type)

    @cached_property
    def backups(self) -> dict[str, int]:
        """{"n": count, "bytes": total size} of the site's backups VIEWER can see."""
        found = access.backups(self.viewer).filter(site_id=self.target.pk).aggregate(n=Count("id"), bytes=Sum("size"))
        return {"n": found["n"] or 0, "bytes": found["bytes"] or 0}

    @cached_property
    def clone_targets(self) -> int:
        assert isinstance(self.target, Site)
        return new_site_platforms(self.viewer, self.target.client).count()

    @cached_property
    def migrate_targets(self) -> int:
        assert isinstance(self.target, Site)
        return new_site_platforms(self.viewer, self.target.client, exclude=self.target.platform).count()

    @cached_property
    def live_sites(self) -> int:
        """Sites on the platform VIEWER sees: a member counts only their own on a shared platform.
        Only administrators start platform tasks, and they see every site."""
        return access.sites(self.viewer).filter(platform_id=self.target.pk).count()
