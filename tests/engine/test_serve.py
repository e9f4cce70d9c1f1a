"""`manage.py serve` with real children (gunicorn and qcluster): it restarts a cluster that the
watchdog ended (status 75) after killing what was left of it, and it never waits for ever on a
child that does not stop: past its grace period the child's whole tree is killed and serve exits
non-zero."""
from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time

import psutil
import pytest

from hosting.actions import queue_task
from hosting.models import Task
from tests.engine.clusters import BASE, cluster_env
from tests.engine.helpers import alive, steps, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

GRACE = 3.0  # serve's --grace


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _child(serve: subprocess.Popen, word: str) -> psutil.Process | None:
    try:
        for proc in psutil.Process(serve.pid).children():
            if word in " ".join(proc.cmdline()):
                return proc
    except psutil.Error:
        pass
    return None


def _tree(proc: psutil.Process) -> list[int]:
    try:
        return [proc.pid, *(p.pid for p in proc.children(recursive=True))]
    except psutil.Error:
        return [proc.pid]


@pytest.fixture
def serve(server, tmp_path):
    log = tmp_path / "serve.log"
    env = cluster_env("local", workers=2, env={"HARBORMASTER_STOP_GRACE": "2", "HARBORMASTER_QUEUE": "local"})
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, str(BASE / "manage.py"), "serve", "--skip-checks", "--bind",
             f"127.0.0.1:{_free_port()}", "--web-workers", "1", "--grace", str(GRACE)],
            cwd=BASE, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    proc.log = log  # type: ignore[attr-defined]
    try:
        yield proc
    finally:
        for pid in [proc.pid, *(p.pid for p in psutil.Process(proc.pid).children(recursive=True))] \
                if alive(proc.pid) else []:
            try:
                psutil.Process(pid).kill()
            except psutil.Error:
                pass
        proc.wait(timeout=10)


def _workers(serve, cluster: psutil.Process) -> list[psutil.Process]:
    """The live workers of CLUSTER (django-q2 logs "ready for work at PID" for each)."""
    found = []
    for pid in map(int, re.findall(r"ready for work at (\d+)", serve.log.read_text())):
        try:
            proc = psutil.Process(pid)
            if proc.status() != psutil.STATUS_ZOMBIE and pid in _tree(cluster):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def test_serve_restarts_a_wedged_cluster_and_kills_children_that_do_not_stop(serve, site):
    first = wait_for(lambda: _child(serve, "qcluster"), what="the cluster")
    wait_for(lambda: len(_workers(serve, first)) >= 2 and "running" in serve.log.read_text(), what="its workers")
    # Wedge it (tests/reliability/test_idle_workers.py): every idle worker SIGKILLed at once
    # takes the queue's read lock with it; the watchdog then ends the cluster with status 75.
    idle = _workers(serve, first)
    for worker in idle:
        worker.kill()
    wait_for(lambda: len([w for w in _workers(serve, first) if w not in idle]) >= 2, what="reincarnated workers")
    old_tree = _tree(first)
    task = queue_task(site, "verify", args=steps({"name": "v", "sh": "echo ok"}))
    second = wait_for(lambda: (c := _child(serve, "qcluster")) and c.pid != first.pid and c, timeout=40,
                      what="serve to start the cluster again")
    assert "exited with code 75 (wedged worker queue)" in serve.log.read_text()
    assert not any(alive(pid) for pid in old_tree)  # nothing of the wedged cluster is left
    wait_for(lambda: Task.objects.get(pk=task.pk).state == Task.SUCCEEDED, what="the verify after the restart")

    # Neither child answers SIGTERM any more (stopped, as a hung process would be).
    web = _child(serve, "gunicorn")
    trees = _tree(second) + _tree(web)
    second.suspend()
    web.suspend()
    began = time.monotonic()
    serve.send_signal(signal.SIGTERM)
    code = serve.wait(timeout=GRACE + 10)
    took = time.monotonic() - began
    assert code == 1 and GRACE <= took < GRACE + 4, (code, took)
    assert "did not stop within 3 s; killing its processes" in serve.log.read_text()
    assert not any(alive(pid) for pid in trees)
