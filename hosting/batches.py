"""Batch migrates: every installed site of a platform moved to another platform of its server,
each by its own site.migrate task (backup, move, updatedb, verify, rollback on failure) started
through hosting.starting.start_task, so the per-server and per-client caps, the refusals and the
audit apply to every child as to a migrate started by hand.

The batch is a record (hosting.models.MigrationBatch), not a task that waits: `advance` moves it
on, under a row lock, whenever one of its children ends (hosting.engine.ending tells us, after
commit) and once a beat from the engine's housekeeping (a worker SIGKILLed between a child's end
and our advance, a restart). `advance` settles the items whose task has ended, then starts the
next ones while fewer than HARBORMASTER_BATCH_WINDOW are unfinished, each child's task recorded
on its item in the transaction that creates the task: a child is never started twice, never
lost. See docs/decisions.md (2026-12-08: batch migrates)."""
from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from hosting import audit
from hosting.actor import Actor, Operator
from hosting.models import BatchItem, MigrationBatch, Platform, Site, Task
from hosting.refused import TaskRefused

_logger = logging.getLogger("hosting.batches")
INSTALLED = (Site.ENABLED, Site.DISABLED)


def sites_to_move(source: Platform) -> list[Site]:
    return list(Site.objects.filter(platform=source, status__in=INSTALLED).order_by("domain"))


def create(task: Task, target: Platform, max_failures: int | None) -> MigrationBatch:
    """The batch planned by TASK (a platform.migrate-sites task), or the one it planned already
    (a second run of that task after its worker was lost plans nothing new)."""
    with transaction.atomic():
        batch = MigrationBatch.objects.filter(task=task).first()
        if batch is not None:
            return batch
        source = Platform.objects.get(pk=int(task.platform_id or 0))
        batch = MigrationBatch.objects.create(
            source=source, target=target, task=task, max_failures=max_failures,
            created_by=task.created_by, created_by_label=task.created_by_label)
        BatchItem.objects.bulk_create([BatchItem(batch=batch, site=site, domain=site.domain, position=n)
                                       for n, site in enumerate(sites_to_move(source))])
    return batch


def _actor(batch: MigrationBatch) -> Actor:
    """Who starts the children: whoever started the batch (their rights now, not then)."""
    if batch.created_by is not None:
        return batch.created_by
    return Operator(batch.created_by_label or "system:batch")


def _settle(batch: MigrationBatch) -> None:
    """Items whose migrate has ended: moved (the record is on the target) or failed, with why."""
    started = list(batch.items.filter(state=BatchItem.STARTED).select_related("task", "site"))
    for item in started:
        task = item.task
        if task is None:  # its task record was deleted: nothing runs for it any more
            item.state, item.reason = BatchItem.FAILED, "Its migrate task was deleted."
        elif task.state not in Task.FINAL:
            continue
        elif task.state in (Task.SUCCEEDED, Task.WARNING) and item.site is not None and \
                item.site.platform_id == batch.target_id:
            item.state, item.reason = BatchItem.MOVED, ""
        else:
            item.state, item.reason = BatchItem.FAILED, task.summary or task.state
        item.finished_at = timezone.now()
        item.save(update_fields=["state", "reason", "finished_at"])


def counts(batch: MigrationBatch) -> dict[str, int]:
    """{item state: how many} plus "running", "queued" and "paused" among the started ones."""
    found = {state: 0 for state, _ in BatchItem.STATES}
    for row in batch.items.values("state").annotate(n=Count("id")).order_by():
        found[row["state"]] = row["n"]
    for state in (Task.QUEUED, Task.RUNNING, Task.PAUSED):
        found[state] = 0
    for task_state, n in (batch.items.filter(state=BatchItem.STARTED).values_list("task__state")
                          .annotate(n=Count("id")).order_by()):
        if task_state in found:
            found[task_state] += n
    found["total"] = sum(found[s] for s, _ in BatchItem.STATES)
    return found


def _start(batch: MigrationBatch, item: BatchItem, by: Actor) -> None:
    from hosting.starting import ArgumentsInvalid, start_task

    site = Site.objects.filter(pk=int(item.site_id)).select_related("platform").first() if item.site_id else None
    if site is None or site.status not in INSTALLED or site.platform_id != batch.source_id:
        where = "gone" if site is None else (f"{site.status}" if site.status not in INSTALLED
                                             else f"on platform {site.platform.name} now")
        item.state, item.reason = BatchItem.SKIPPED, f"Not started: the site is {where}."
        item.finished_at = timezone.now()
        item.save(update_fields=["state", "reason", "finished_at"])
        return
    try:
        with transaction.atomic():  # a savepoint: a refusal writes nothing
            task = start_task(by, site, "migrate", {"platform": batch.target_id})
    except (TaskRefused, PermissionDenied, ArgumentsInvalid, ValueError) as exc:
        item.state, item.reason = BatchItem.FAILED, f"Not started: {exc}"
        item.finished_at = timezone.now()
        item.save(update_fields=["state", "reason", "finished_at"])
        return
    item.state, item.task = BatchItem.STARTED, task
    item.save(update_fields=["state", "task"])


def advance(batch_id: int) -> list[int]:
    """Move BATCH_ID on (see the module doc). Returns the ids of the migrates it started."""
    started: list[int] = []
    with transaction.atomic():
        batch = (MigrationBatch.objects.select_for_update().filter(pk=batch_id)
                 .exclude(state__in=MigrationBatch.FINAL).first())
        if batch is None:
            return []
        _settle(batch)
        found = counts(batch)
        stopping = found[BatchItem.FAILED] >= batch.failure_limit
        if stopping:
            why = f"Not started: the batch stopped after {found[BatchItem.FAILED]} failure(s)."
            batch.items.filter(state=BatchItem.WAITING).update(state=BatchItem.SKIPPED, reason=why)
        elif batch.state == MigrationBatch.RUNNING:
            room = settings.HARBORMASTER_BATCH_WINDOW - found[BatchItem.STARTED]
            if room > 0:
                by = _actor(batch)
                for item in list(batch.items.filter(state=BatchItem.WAITING).order_by("position")[:room]):
                    _start(batch, item, by)
                    if item.task_id:
                        started.append(item.task_id)
        found = counts(batch)
        if not found[BatchItem.STARTED] and not found[BatchItem.WAITING]:
            _finish(batch, found, stopped=stopping)
    return started


def _finish(batch: MigrationBatch, found: dict[str, int], *, stopped: bool) -> None:
    batch.state = MigrationBatch.STOPPED if stopped else MigrationBatch.DONE
    batch.finished_at = timezone.now()
    batch.summary = (f"{found[BatchItem.MOVED]} moved, {found[BatchItem.FAILED]} failed"
                     + (f", {found[BatchItem.SKIPPED]} not started" if found[BatchItem.SKIPPED] else "")
                     + (f": stopped after {found[BatchItem.FAILED]} failure(s)." if stopped else "."))
    batch.save(update_fields=["state", "finished_at", "summary"])
    audit.record(None, "batch.finished", batch, after={"state": batch.state, "summary": batch.summary})


def child_ended(task_id: int) -> None:
    """hosting.engine.ending's listener: a task ended; if it is a batch's child, advance that batch."""
    batch_id = BatchItem.objects.filter(task_id=task_id, state=BatchItem.STARTED).values_list(
        "batch_id", flat=True).first()
    if batch_id is not None:
        advance(batch_id)


def reconcile(queue: str | None = None) -> int:
    """Advance every unfinished batch (of QUEUE's servers): the engine's housekeeping calls it
    once a beat, so a batch whose advance was missed (its worker died just after a child ended)
    goes on. Returns how many were looked at."""
    batches = MigrationBatch.objects.exclude(state__in=MigrationBatch.FINAL)
    if queue is not None:
        batches = batches.filter(source__server__queue=queue)
    ids = list(batches.values_list("pk", flat=True))
    for batch_id in ids:
        try:
            advance(batch_id)
        except Exception:  # one batch's trouble must not stop the others
            _logger.exception("could not advance batch %s", batch_id)
    return len(ids)


# --- Controls: pause, resume (audited; callers check that the actor is an administrator) -----

def pause(batch: MigrationBatch, *, by: Actor, address: str | None = None) -> MigrationBatch:
    """No new site starts; those running finish (a migrate is not cut in the middle)."""
    with transaction.atomic():
        changed = MigrationBatch.objects.filter(pk=batch.pk, state=MigrationBatch.RUNNING).update(
            state=MigrationBatch.PAUSED)
        if not changed:
            raise TaskRefused(f"Batch #{batch.pk} is {batch.state}: only a running batch can be paused.")
        audit.record(by, "batch.paused", batch, address=address)
    batch.refresh_from_db()
    return batch


def resume(batch: MigrationBatch, *, by: Actor, max_failures: int | None = None,
           address: str | None = None) -> MigrationBatch:
    """Go on with a paused batch, or with a stopped one whose sites were not all started (with a
    limit above its failures: MAX_FAILURES, or the setting)."""
    if max_failures is not None and not 1 <= max_failures <= 100000:
        raise TaskRefused("The failure limit is a number from 1 to 100000.")
    with transaction.atomic():
        batch = MigrationBatch.objects.select_for_update().get(pk=batch.pk)
        if max_failures is not None:
            batch.max_failures = max_failures
        failed = batch.items.filter(state=BatchItem.FAILED).count()
        if batch.state == MigrationBatch.STOPPED:
            if failed >= batch.failure_limit:
                raise TaskRefused(f"Batch #{batch.pk} has {failed} failure(s), its limit is {batch.failure_limit}: "
                                  "resume it with a higher limit.")
            skipped = batch.items.filter(state=BatchItem.SKIPPED, reason__contains="the batch stopped")
            if not skipped.exists():
                raise TaskRefused(f"Batch #{batch.pk} has no site left to start.")
            skipped.update(state=BatchItem.WAITING, reason="", finished_at=None)
            batch.finished_at = None
        elif batch.state != MigrationBatch.PAUSED:
            raise TaskRefused(f"Batch #{batch.pk} is {batch.state}: only a paused or stopped batch can be resumed.")
        batch.state = MigrationBatch.RUNNING
        batch.save(update_fields=["state", "max_failures", "finished_at"])
        audit.record(by, "batch.resumed", batch, address=address, after={"max_failures": batch.max_failures})
        transaction.on_commit(lambda: advance(batch.pk))
    batch.refresh_from_db()
    return batch


def report(batch: MigrationBatch) -> dict[str, Any]:
    """The batch as the panel, the API and the command line show it: progress and, per site,
    where it ended and why."""
    found = counts(batch)
    items = [{"site": i.site_id, "domain": i.domain, "state": i.state, "task": i.task_id,
              "task_state": i.task.state if i.task else None, "reason": i.reason}
             for i in batch.items.select_related("task").order_by("position")]
    return {
        "id": batch.pk, "state": batch.state, "source": {"id": batch.source_id, "name": batch.source.name},
        "target": {"id": batch.target_id, "name": batch.target.name}, "task": batch.task_id,
        "max_failures": batch.failure_limit, "created_at": batch.created_at.isoformat(),
        "finished_at": batch.finished_at.isoformat() if batch.finished_at else None,
        "summary": batch.summary,
        "progress": {"total": found["total"], "moved": found[BatchItem.MOVED], "failed": found[BatchItem.FAILED],
                     "waiting": found[BatchItem.WAITING], "not_started": found[BatchItem.SKIPPED],
                     "queued": found[Task.QUEUED], "running": found[Task.RUNNING], "paused": found[Task.PAUSED]},
        "sites": items,
    }
