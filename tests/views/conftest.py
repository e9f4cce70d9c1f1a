"""The panel's cast: a platform with a site of acme's and one of globex's, tasks, steps, log
lines and backups on them, and clients logged in as each of the three users."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client as HttpClient
from django.utils import timezone


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    """The cast's passwords are hashed with a fast hasher: PBKDF2 would take most of the time."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def quiet_dispatch(monkeypatch):
    """No broker in view tests: queued tasks stay rows (the engine's own tests cover hand-over)."""
    from hosting.engine import dispatch

    monkeypatch.setattr(dispatch, "dispatch", lambda task_id, queue: True)


@pytest.fixture
def platform(server, tmp_path):
    from hosting.models import Platform

    return Platform.objects.create(name="d10", server=server, path=str(tmp_path / "d10"), status="enabled",
                                   drupal_version="10.3.1", verified_at=timezone.now())


@pytest.fixture
def other_platform(server, tmp_path):
    from hosting.models import Platform

    return Platform.objects.create(name="d11", server=server, path=str(tmp_path / "d11"), status="enabled",
                                   drupal_version="11.0.5", verified_at=timezone.now())


@pytest.fixture
def site(platform, acme):
    from hosting.models import Site

    return Site.objects.create(domain="www.acme.test", platform=platform, client=acme, status="enabled",
                               disk_files_bytes=30 << 20, disk_db_bytes=12 << 20, db_name="acme_db")


@pytest.fixture
def globex_site(platform, globex):
    from hosting.models import Site

    return Site.objects.create(domain="shop.globex.test", platform=platform, client=globex, status="enabled")


def make_task(target, kind="verify", state="succeeded", by=None, **fields):
    from hosting.actions import _target_fields
    from hosting.models import Task

    now = timezone.now()
    defaults = {"created_by": by, "state": state}
    if state in Task.FINAL:
        defaults.update(started_at=now - timedelta(seconds=30), finished_at=now - timedelta(seconds=5))
    if state == Task.RUNNING:
        defaults.update(started_at=now - timedelta(seconds=10), heartbeat_at=now, owner_host="web1", owner_pid=4242)
    defaults.update(fields)
    return Task.objects.create(kind=kind, **_target_fields(target), **defaults)


@pytest.fixture
def task_factory():
    return make_task


@pytest.fixture
def site_task(site, member):
    from hosting.models import TaskLog, TaskStep

    task = make_task(site, "backup", "succeeded", by=member)
    TaskStep.objects.create(task=task, position=0, name="dump", label="Dump the database", state="done",
                            started_at=task.started_at, finished_at=task.started_at + timedelta(seconds=3))
    for i in range(3):
        TaskLog.objects.create(task=task, position=i, at=timezone.now(), line=f"line {i} of acme")
    return task


@pytest.fixture
def globex_task(globex_site, outsider):
    return make_task(globex_site, "verify", "failed", by=outsider, summary="globex secret failure")


@pytest.fixture
def backup(site, site_task):
    from hosting.models import Backup

    return Backup.objects.create(site=site, domain=site.domain, client=site.client, path="/var/backups/acme.tar.zst",
                                 size=5 << 20, task=site_task)


def _logged_in(user) -> HttpClient:
    client = HttpClient()
    client.force_login(user)
    return client


@pytest.fixture
def as_admin(admin_user) -> HttpClient:
    return _logged_in(admin_user)


@pytest.fixture
def as_member(member) -> HttpClient:
    return _logged_in(member)


@pytest.fixture
def as_outsider(outsider) -> HttpClient:
    return _logged_in(outsider)
