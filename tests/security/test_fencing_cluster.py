"""Fencing in real `qcluster` processes (issue 13, item 2): a worker SIGSTOPped in the middle
of a restore loses its task to the reaper, which kills it before rolling back, so that nothing
more is written once it is continued."""
from __future__ import annotations

import os
import signal
import time

import pytest

from hosting.actions import queue_task
from hosting.models import Task
from tests.engine.helpers import alive, wait_for
from tests.operations.conftest import log_of, query, rows, site_db, snapshot, write_rows
from tests.security.fencing_helpers import clusters, instance, resume, task_row, worker_env, writes  # noqa: F401

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("instance")]


def _fill(site, count: int) -> None:
    """A table of COUNT rows, so that dumping and loading the site's database take a while."""
    db, docroot = site_db(site)
    if db.driver == "sqlite":
        sql = ("CREATE TABLE hm_bulk AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
               f"WHERE x < {count}) SELECT x AS id, hex(randomblob(24)) AS body FROM c")
    else:
        sql = f"CREATE TABLE hm_bulk AS SELECT g AS id, md5(g::text) AS body FROM generate_series(1, {count}) g"
    query(db, docroot, sql)


def _bulk(site) -> list[tuple]:
    db, docroot = site_db(site)
    return query(db, docroot, "SELECT COUNT(*) FROM hm_bulk")


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_a_worker_stopped_mid_restore_writes_nothing_after_the_reaper_rolled_back(installed, run, clusters,
                                                                                 worker_env):
    site = installed()
    _fill(site, 300_000)
    write_rows(site, ["in the backup"])
    backup = run(site, "backup")
    assert backup.state == Task.SUCCEEDED, log_of(backup)
    write_rows(site, ["after the backup"])  # the site as the restore finds it
    clusters.start("local", workers=1, env=worker_env)
    task = queue_task(site, "restore", args={"backup": backup.result["backup"]})
    wait_for(lambda: task_row(task).current_step == "restore", timeout=60, every=0.01, what="the restore step")
    worker = task_row(task).owner_pid
    os.kill(worker, signal.SIGSTOP)
    # The stop must land inside the step, or the test proves nothing: a restore of this size
    # takes over a second, and the step was seen starting a poll (10 ms) ago.
    stopped_in = task_row(task)
    assert (stopped_in.state, stopped_in.current_step) == (Task.RUNNING, "restore")
    try:
        wait_for(lambda: task_row(task).state not in (Task.QUEUED, Task.RUNNING), timeout=90,
                 what="the reaper to settle the task")
        settled, site_then, bulk = writes(task), snapshot(site), _bulk(site)
    finally:
        resume(worker)
    time.sleep(3)  # six beats: a worker still alive would have written by now
    assert writes(task) == settled
    assert snapshot(site) == site_then and _bulk(site) == bulk
    assert not alive(worker)
    done = task_row(task)
    assert done.state == Task.FAILED and done.summary.endswith("rolled back."), (done.summary, log_of(done))
    assert rows(site, "hm_drill") == [("0", "after the backup")]
