"""The backup store's lock and a stalled worker (issue 13, item 2): a backup whose worker
stalled holding the lock is re-queued and finishes (the worker is killed first, which releases
it), and a backup waiting for the lock says so in its log and can be cancelled meanwhile."""
from __future__ import annotations

import fcntl
import os
import signal
import threading

import pytest

from hosting import controls
from hosting.actions import queue_task
from hosting.models import Task, TaskLog
from hosting.operations import resources
from tests.engine.helpers import alive, wait_for
from tests.operations.conftest import log_of
from tests.security.fencing_helpers import (  # noqa: F401
    clusters,
    flock_holder,
    instance,
    resume,
    store_lock,
    task_row,
    worker_env,
)

pytestmark = [pytest.mark.usefixtures("instance"), pytest.mark.parametrize("engine", ["sqlite"])]


@pytest.mark.slow
def test_a_backup_requeued_after_its_worker_stalled_holding_the_store_lock_finishes(installed, clusters, worker_env):
    site = installed()
    files = resources.site_dir(site) / "files"
    for i in range(4):
        (files / f"big-{i}.bin").write_bytes(os.urandom(24 << 20))
    clusters.start("local", workers=2, env=worker_env)
    task = queue_task(site, "backup")
    worker = wait_for(lambda: (pid := task_row(task).owner_pid) and flock_holder(store_lock(site)) == pid and pid,
                      timeout=60, every=0.005, what="the backup to hold the store's lock")
    os.kill(worker, signal.SIGSTOP)
    try:
        # Re-queued once the worker is found silent; the second attempt must get the lock.
        wait_for(lambda: task_row(task).state in Task.FINAL, timeout=60, what="the re-queued backup to finish")
    finally:
        resume(worker)
    done = task_row(task)
    assert done.state == Task.SUCCEEDED and done.attempt == 2, (done.summary, log_of(done))
    assert not alive(worker)


def test_a_backup_waiting_for_the_store_lock_says_so_and_can_be_cancelled(installed, admin_user):
    from hosting.engine.worker import execute

    site = installed()
    lock = store_lock(site)
    lock.parent.mkdir(parents=True, exist_ok=True)
    held = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(held, fcntl.LOCK_EX)  # as a stalled backup or a garbage collection would
    task = queue_task(site, "backup")
    worker = threading.Thread(target=execute, args=(task.pk,))
    worker.start()
    try:
        wait_for(lambda: TaskLog.objects.filter(task=task, line__startswith="Waiting for the lock of the backup store",
                                                line__contains=f"(pid {os.getpid()})").exists(),
                 timeout=20, what="the backup to say what it waits for")
        assert task_row(task).state == Task.RUNNING
        controls.cancel(task, by=admin_user)
        wait_for(lambda: task_row(task).state in Task.FINAL, timeout=15, what="the cancelled backup to end")
    finally:
        os.close(held)
        worker.join(timeout=60)
    assert task_row(task).state == Task.CANCELLED, log_of(task)
