"""platform.migrate-sites: every site of a platform moved by its own migrate, through start_task;
failures stay where they were, working; pause, resume and the failure limit."""
from __future__ import annotations

import time

from hosting.actor import Operator
from hosting.models import BatchItem, MigrationBatch, Site, Task
from hosting.starting import start_task
from tests.batches.conftest import bootstraps, drive, fail_for

CLI = Operator("cli:test")


def start_batch(platform, target, max_failures=None) -> MigrationBatch:
    data = {"target": target.pk, **({"max_failures": max_failures} if max_failures else {})}
    task = start_task(CLI, platform, "migrate-sites", data)
    from hosting.engine.worker import execute

    execute(task.pk)
    task.refresh_from_db()
    assert task.state == Task.SUCCEEDED, task.summary
    return MigrationBatch.objects.get(task=task)


def test_it_moves_fifty_sites_and_leaves_the_failed_ones_working(quick_site, platform, target, settings):
    settings.HARBORMASTER_BATCH_WINDOW = 4
    began = time.monotonic()
    sites = [quick_site() for _ in range(50)]
    failing = {sites[i].domain for i in (3, 17, 18, 40)}
    for domain in failing:
        fail_for(target, domain)
    installed_in = time.monotonic() - began
    batch = start_batch(platform, target, max_failures=10)
    drive()
    batch.refresh_from_db()
    assert batch.state == MigrationBatch.DONE, batch.summary
    assert batch.summary == "46 moved, 4 failed."
    for site in sites:
        site.refresh_from_db()
        item = BatchItem.objects.get(batch=batch, site=site)
        if site.domain in failing:
            assert site.platform_id == platform.pk and item.state == BatchItem.FAILED
            assert "updatedb" in item.reason, item.reason
        else:
            assert site.platform_id == target.pk and item.state == BatchItem.MOVED, item.reason
    # Failed ones work where they were; a moved one works on the target.
    assert all(bootstraps(s) for s in sites if s.domain in failing)
    assert bootstraps(next(s for s in sites if s.domain not in failing))
    # Every child went through start_task: one migrate per site, never two.
    assert Task.objects.filter(kind="migrate").count() == 50
    assert {t.state for t in Task.objects.filter(kind="migrate")} == {Task.SUCCEEDED, Task.FAILED}
    print(f"installs {installed_in:.1f} s, batch {time.monotonic() - began - installed_in:.1f} s")


def test_it_stops_after_the_failure_limit_and_resumes_with_a_higher_one(quick_site, platform, target):
    from hosting import batches

    sites = [quick_site() for _ in range(5)]
    for site in sites[:2]:
        fail_for(target, site.domain)
    batch = start_batch(platform, target, max_failures=2)
    drive()
    batch.refresh_from_db()
    assert batch.state == MigrationBatch.STOPPED
    assert "stopped after 2 failure(s)" in batch.summary
    states = [BatchItem.objects.get(batch=batch, site=s).state for s in sites]
    assert states[:2] == [BatchItem.FAILED] * 2 and BatchItem.SKIPPED in states
    assert all(Site.objects.get(pk=s.pk).platform_id == platform.pk for s in sites[:2])
    batches.resume(batch, by=CLI, max_failures=5)
    drive()
    batch.refresh_from_db()
    assert batch.state == MigrationBatch.DONE and batch.summary == "3 moved, 2 failed."


def test_it_pauses_and_resumes(quick_site, platform, target, settings):
    from hosting import batches

    settings.HARBORMASTER_BATCH_WINDOW = 1
    sites = [quick_site() for _ in range(3)]
    batch = start_batch(platform, target)
    batches.pause(batch, by=CLI)
    drive()  # the one migrate started before the pause finishes; no other starts
    batch.refresh_from_db()
    assert batch.state == MigrationBatch.PAUSED
    assert batches.counts(batch)[BatchItem.MOVED] == 1 and batches.counts(batch)[BatchItem.WAITING] == 2
    batches.resume(batch, by=CLI)
    drive()
    batch.refresh_from_db()
    assert batch.state == MigrationBatch.DONE
    assert all(Site.objects.get(pk=s.pk).platform_id == target.pk for s in sites)


def test_a_missed_advance_is_made_up_by_the_reconciler(quick_site, platform, target, settings):
    """A worker that dies between a child's end and the batch's advance: the housekeeping's
    reconcile goes on from the records."""
    from hosting import batches
    from hosting.engine import ending

    quick_site(), quick_site()
    settings.HARBORMASTER_BATCH_WINDOW = 1
    ending.ENDED.remove(batches.child_ended)
    try:
        batch = start_batch(platform, target)
        drive()
        assert batches.counts(batch)[BatchItem.WAITING] == 1  # nobody advanced it
        batches.reconcile()
        drive()
        batches.reconcile()
    finally:
        ending.ENDED.append(batches.child_ended)
    batch.refresh_from_db()
    assert batch.state == MigrationBatch.DONE and batch.summary == "2 moved, 0 failed."

