"""Batch migrates (hosting.batches), administrators only:

- POST /platforms/{id}/migrate-sites {"target": <platform id>, "max_failures": n | null}: 202 with
  the planning task (the batch exists once it ran: GET /batches?task=<id>); 409 when it cannot
  run now (no sites, another batch, no target), 400 for a bad target;
- GET /batches[?platform=<id>][&task=<id>], GET /batches/{id}: progress and, per site, where it
  ended and why;
- POST /batches/{id}/pause, POST /batches/{id}/resume {"max_failures": n | null}.

Anyone else gets 403, or 404 for a batch of a platform they cannot see (as for one that does not
exist)."""
from __future__ import annotations

from typing import Annotated, Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from ninja import Router, Schema, Status
from pydantic import Field

from hosting import access, batches
from hosting.api.common import Id, address, responses
from hosting.api.tasks import TaskOut, task_out
from hosting.models import MigrationBatch
from hosting.starting import start_task

router = Router()


class MigrateSitesIn(Schema):
    target: Id
    max_failures: Annotated[int, Field(ge=1, le=100000)] | None = None


class ResumeIn(Schema):
    max_failures: Annotated[int, Field(ge=1, le=100000)] | None = None


class BatchOut(Schema):
    id: int
    state: str
    source: dict[str, Any]
    target: dict[str, Any]
    task: int | None
    max_failures: int
    created_at: str
    finished_at: str | None
    summary: str
    progress: dict[str, int]
    sites: list[dict[str, Any]]


def _admin(request: HttpRequest) -> None:
    if not access.is_admin(request.user):
        raise PermissionDenied("Batch migrates are for administrators.")


def _batch(request: HttpRequest, batch_id: int) -> MigrationBatch:
    found = MigrationBatch.objects.select_related("source", "target").filter(pk=batch_id).first()
    if found is None or not access.platforms(request.user).filter(pk=found.source_id).exists():
        raise Http404
    _admin(request)
    return found


@router.post("/platforms/{platform_id}/migrate-sites", response=responses(TaskOut, 202), tags=["batches"])
def migrate_sites(request: HttpRequest, platform_id: Id, payload: MigrateSitesIn):
    """Queue the migrate of every installed site of the platform to TARGET (same server)."""
    platform = access.platform_for_action(request.user, platform_id, "migrate-sites")
    task = start_task(request.user, platform, "migrate-sites",
                      {"target": payload.target, "max_failures": payload.max_failures}, address=address(request))
    return Status(202, task_out(task, request.user))


@router.get("/batches", response=responses(list[BatchOut]), tags=["batches"])
def list_batches(request: HttpRequest, platform: Id | None = None, task: Id | None = None):
    """The newest batches first (at most 100)."""
    _admin(request)
    found = MigrationBatch.objects.select_related("source", "target")
    if platform is not None:
        found = found.filter(source_id=platform)
    if task is not None:
        found = found.filter(task_id=task)
    return [batches.report(b) for b in found[:100]]


@router.get("/batches/{batch_id}", response=responses(BatchOut), tags=["batches"])
def batch_detail(request: HttpRequest, batch_id: Id):
    return batches.report(_batch(request, batch_id))


@router.post("/batches/{batch_id}/pause", response=responses(BatchOut), tags=["batches"])
def pause_batch(request: HttpRequest, batch_id: Id):
    """Start no more sites; those running finish. 409 unless the batch is running."""
    batch = batches.pause(_batch(request, batch_id), by=request.user, address=address(request))
    return batches.report(batch)


@router.post("/batches/{batch_id}/resume", response=responses(BatchOut), tags=["batches"])
def resume_batch(request: HttpRequest, batch_id: Id, payload: ResumeIn):
    """Go on with a paused batch, or a stopped one with a higher failure limit."""
    batch = batches.resume(_batch(request, batch_id), by=request.user, max_failures=payload.max_failures,
                           address=address(request))
    return batches.report(batch)
