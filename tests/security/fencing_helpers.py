"""Fixtures and helpers of the fencing tests that run real `qcluster` processes."""
from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from hosting.models import Platform, Site, Task, TaskLog, TaskStep
from hosting.operations import resources
from tests.engine.clusters import ClusterFactory


@pytest.fixture
def instance(hm_dirs, transactional_db, settings):
    settings.HARBORMASTER_HEARTBEAT = 1.0
    settings.HARBORMASTER_FAULTS = {}


@pytest.fixture
def worker_env(hm_dirs: Path, settings) -> dict[str, str]:
    """Clusters running the instance's own task types on the test's directories."""
    return {
        "DJANGO_SETTINGS_MODULE": "hosting.settings",
        "HARBORMASTER_DATA_DIR": str(settings.HARBORMASTER_DATA_DIR),
        "HARBORMASTER_ROOTS": str(hm_dirs.resolve()),
        "HARBORMASTER_BACKUP_DIR": str(settings.HARBORMASTER_BACKUP_DIR),
        "HARBORMASTER_SECRET_KEY": settings.SECRET_KEY,
    }


@pytest.fixture
def clusters(transactional_db, tmp_path: Path):
    factory = ClusterFactory(tmp_path)
    try:
        yield factory
    finally:
        factory.kill_all()


@pytest.fixture
def scripted_site(server, acme, tmp_path: Path, settings) -> Site:
    """A site record whose tasks run the engine tests' scripted steps (tests.engine.ops)."""
    settings.HARBORMASTER_EXTRA_OPERATIONS = ["tests.engine.ops"]
    root = tmp_path / "platform"
    root.mkdir()
    platform = Platform.objects.create(name="p1", server=server, path=str(root), status="enabled")
    return Site.objects.create(domain="www.acme.test", platform=platform, client=acme, status="enabled")


def task_row(task: Task) -> Task:
    return Task.objects.get(pk=task.pk)


def writes(task: Task) -> tuple:
    """Everything a worker writes about its task."""
    row = task_row(task)
    return (row.state, row.summary, row.result, row.current_step, row.owner_pid,
            list(TaskStep.objects.filter(task=task).order_by("position").values_list("state", "error")),
            list(TaskLog.objects.filter(task=task).order_by("position").values_list("position", "line")))


def resume(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGCONT)
    except ProcessLookupError:
        pass


def flock_holder(path: Path) -> int | None:
    """The pid holding an flock on PATH (from /proc/locks)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    wanted = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == wanted:
            return int(fields[4])
    return None


def store_lock(site) -> Path:
    return resources.backup_dir(site.domain) / "objects" / ".lock"
