"""A batch migrate whose worker cluster is SIGKILLed in the middle (real qcluster processes): once
workers are back, the reaper rolls the interrupted migrate back, the batch's reconciliation goes
on from the records, and every site ends either moved (and working there) or where it was (and
working there); no child is lost or started twice."""
from __future__ import annotations

import signal
from pathlib import Path

import pytest

from hosting.actor import Operator
from hosting.models import BatchItem, MigrationBatch, Site, Task
from hosting.operations import resources
from hosting.starting import start_task
from tests.batches.conftest import bootstraps, quick_site  # noqa: F401  (fixture)
from tests.engine.helpers import wait_for
from tests.operations.conftest import domains, make_platform, make_server  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.slow]
SITES = 6


@pytest.fixture
def local(make_server):
    return make_server("sqlite")


@pytest.fixture
def platform(local, make_platform):
    return make_platform(local)


def test_a_sigkilled_batch_leaves_each_site_moved_or_where_it_was_and_finishes(
        real_clusters, worker_env, quick_site, platform, local, make_platform, settings):
    target = make_platform(local, "p2")
    # Each migrate's updatedb takes a while on the target, so the kill lands inside one.
    (Path(target.path) / ".standin").mkdir()
    (Path(target.path) / ".standin" / "sleep-updatedb").write_text("0.4")
    sites = [quick_site() for _ in range(SITES)]
    env = {**worker_env, "HARBORMASTER_BATCH_WINDOW": "2"}
    cluster = real_clusters.start("local", workers=2, heartbeat=0.5, env=env)
    task = start_task(Operator("cli:test"), platform, "migrate-sites", {"target": target.pk})

    def mid_migrate() -> bool:
        moved = BatchItem.objects.filter(state=BatchItem.MOVED).count()
        running = Task.objects.filter(kind="migrate", state=Task.RUNNING, current_step="updatedb").exists()
        return moved >= 2 and running

    wait_for(mid_migrate, 60, "a batch with sites moved and one migrate inside updatedb")
    cluster.kill(signal.SIGKILL)
    cluster.proc.wait(timeout=10)
    batch = MigrationBatch.objects.get(task=task)
    assert batch.state == MigrationBatch.RUNNING
    real_clusters.start("local", workers=2, heartbeat=0.5, env=env)
    wait_for(lambda: MigrationBatch.objects.get(pk=batch.pk).state in MigrationBatch.FINAL, 120,
             "the batch to finish after the restart")
    batch.refresh_from_db()
    items = {i.site_id: i for i in BatchItem.objects.filter(batch=batch)}
    assert len(items) == SITES
    # No child lost, none started twice: one migrate per site, each final.
    for site in sites:
        migrates = list(Task.objects.filter(kind="migrate", site=site))
        assert len(migrates) == 1 and migrates[0].is_final, [(t.pk, t.state) for t in migrates]
    lost = [i for i in items.values() if i.state == BatchItem.FAILED]
    assert lost and all("lost" in i.reason.lower() for i in lost), [i.reason for i in lost]
    for site in sites:
        site = Site.objects.select_related("platform").get(pk=site.pk)
        item = items[site.pk]
        here, other = (target, platform) if item.state == BatchItem.MOVED else (platform, target)
        assert site.platform_id == here.pk, (site.domain, item.state, item.reason)
        assert resources.site_dir(site).is_dir() and not resources.site_dir(site, other).exists()
        assert bootstraps(site), site.domain
    assert batch.state == MigrationBatch.DONE
    assert batch.summary == f"{SITES - len(lost)} moved, {len(lost)} failed."
