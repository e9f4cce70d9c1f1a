"""Real worker clusters for the engine's tests: `python manage.py qcluster` processes on the test
database, each in its own process group, killed by pid (group) in teardown."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import psutil
from django.db import connection

from hosting.engine.processes import marked_processes

BASE = Path(__file__).resolve().parents[2]


def database_url() -> str:
    """The URL of the database the tests run on (the test database, not the configured one)."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    auth = quote(db.get("USER") or "", safe="")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"], safe="")
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or "5432"
    return f"postgresql://{auth}@{host}:{port}/{db['NAME']}"


def cluster_env(queue: str = "local", *, workers: int = 2, heartbeat: float = 0.5,
                env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a `manage.py` process of the tests that runs workers on the test database."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.engine.cluster_settings",
        "DATABASE_URL": database_url(),
        "Q_CLUSTER_NAME": queue,
        "HARBORMASTER_WORKERS": str(workers),
        "HARBORMASTER_HEARTBEAT": str(heartbeat),
        "HARBORMASTER_BROKER_POLL": "0.05",
        "HARBORMASTER_LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }


class Cluster:
    def __init__(self, queue: str, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.queue = queue
        self.proc = proc
        self.log = log

    @property
    def pid(self) -> int:
        return self.proc.pid

    def processes(self) -> list[psutil.Process]:
        try:
            main = psutil.Process(self.pid)
            return [main, *main.children(recursive=True)]
        except psutil.Error:
            return []

    def workers(self) -> list[psutil.Process]:
        """The live worker processes (django-q2 logs "ready for work at PID" for each)."""
        pids = [int(m) for m in re.findall(r"ready for work at (\d+)", self.log.read_text())]
        found = []
        for pid in pids:
            try:
                proc = psutil.Process(pid)
                if proc.status() != psutil.STATUS_ZOMBIE and proc.ppid() != 1:
                    found.append(proc)
            except psutil.Error:
                continue
        return found

    def worker_running(self, task_id: int) -> psutil.Process | None:
        """The worker process that runs TASK_ID (its pid is the task's owner)."""
        from hosting.models import Task

        pid = Task.objects.filter(pk=task_id).values_list("owner_pid", flat=True).first()
        return psutil.Process(pid) if pid and psutil.pid_exists(pid) else None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            pass

    def wait_ready(self, timeout: float = 30) -> None:
        give_up = time.monotonic() + timeout
        while time.monotonic() < give_up:
            if self.proc.poll() is not None:
                raise RuntimeError(f"qcluster {self.queue} exited:\n{self.log.read_text()[-3000:]}")
            if len(self.workers()) >= 1 and "running" in self.log.read_text():
                return
            time.sleep(0.1)
        raise TimeoutError(f"qcluster {self.queue} did not start:\n{self.log.read_text()[-3000:]}")


class ClusterFactory:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.started: list[Cluster] = []

    def start(self, queue: str = "local", *, workers: int = 2, heartbeat: float = 0.5,
              env: dict[str, str] | None = None, wait: bool = True) -> Cluster:
        log = self.tmp_path / f"qcluster-{queue}-{len(self.started)}.log"
        child_env = cluster_env(queue, workers=workers, heartbeat=heartbeat, env=env)
        with open(log, "wb") as out:
            # Its own session: the whole cluster (main, sentinel, workers, pusher, monitor) is
            # one process group the test can SIGKILL at once; tasks' programs have their own.
            proc = subprocess.Popen([sys.executable, str(BASE / "manage.py"), "qcluster", "--skip-checks"], cwd=BASE,
                                    env=child_env, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        cluster = Cluster(queue, proc, log)
        self.started.append(cluster)
        if wait:
            cluster.wait_ready()
        return cluster

    def kill_all(self) -> None:
        for cluster in self.started:
            cluster.kill(signal.SIGKILL)
            try:
                cluster.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        # The programs of tasks run in their own sessions: a SIGKILLed cluster leaves them.
        for proc, _task, _owner in marked_processes():
            try:
                proc.kill()
            except psutil.Error:
                pass
