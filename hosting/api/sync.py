"""Sync between sites (hosting.operations.site_sync): POST /sites/{id}/sync {"source": <site id>,
"what": "both" | "database" | "files"} queues a sync task on the site (the target) through
hosting.starting, as the panel's Sync form does: 202 with the task, 409 when it cannot run now,
400 when the source is not one it may copy from. A site the caller cannot see, as the target or
as the source, is 404, the same answer as a site that does not exist."""
from __future__ import annotations

from typing import Literal

from django.http import HttpRequest
from ninja import Router, Schema, Status

from hosting import access
from hosting.api.common import Id, responses
from hosting.api.tasks import TaskOut, start_site_task, task_out

router = Router()


class SyncIn(Schema):
    source: int
    what: Literal["both", "database", "files"] = "both"


@router.post("/sites/{site_id}/sync", response=responses(TaskOut, 202), tags=["sites"])
def sync_site(request: HttpRequest, site_id: Id, payload: SyncIn):
    """Queue a sync onto the site: another site's database and/or files (same client, same server)
    replace its own; the site is backed up first and put back if anything fails."""
    access.access_site(request.user, site_id)
    access.access_site(request.user, payload.source)
    task = start_site_task(request, site_id, "sync", {"source": payload.source, "what": payload.what})
    return Status(202, task_out(task, request.user))
