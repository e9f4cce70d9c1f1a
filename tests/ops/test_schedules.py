from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from django_q.models import Schedule

from hosting import events, retention, schedules
from hosting.models import AuditEvent, Backup, BackupSchedule, StaleBackupAlert, Task

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    monkeypatch.setattr("hosting.engine.dispatch.dispatch", lambda task_id, queue: True)


def backup(site, hm_dirs: Path, age: timedelta, kind: str = Backup.SCHEDULED, on_disk: bool = True) -> Backup:
    directory = hm_dirs / "data" / "backups" / site.domain
    directory.mkdir(parents=True, exist_ok=True)
    at = timezone.now() - age
    path = directory / f"{site.domain}-{at:%Y%m%dT%H%M%S%f}.tar.zst"
    if on_disk:
        path.write_bytes(b"archive")
    row = Backup.objects.create(site=site, domain=site.domain, client=site.client, path=str(path), kind=kind)
    Backup.objects.filter(pk=row.pk).update(created_at=at)
    row.refresh_from_db()
    return row


def test_it_installs_the_django_q_schedules_after_migrate(settings):
    rows = {s.name: s for s in Schedule.objects.all()}
    assert rows["harbormaster: scheduled backups"].func == "hosting.schedules.run_due_backups"
    assert rows["harbormaster: task watcher"].func == "hosting.events.poll"
    assert rows["harbormaster: task watcher"].cluster == settings.HARBORMASTER_SCHEDULER_QUEUE
    assert schedules.ensure_schedules() == 0  # idempotent


def test_it_queues_scheduled_backups_of_due_sites_once_per_period(site, make_site, acme, globex):
    BackupSchedule.objects.create(client=acme, frequency="daily")
    other = make_site("g.globex.test", globex)  # no schedule
    opted_out = make_site("b.acme.test", acme)
    BackupSchedule.objects.create(site=opted_out, enabled=False)
    first = schedules.run_due_backups()
    task = Task.objects.get(pk__in=first)
    assert (task.kind, task.site_id, task.args, task.client_id) == ("backup", site.pk, {"kind": "scheduled"}, acme.pk)
    assert task.created_by is None and other.pk != task.site_id
    assert schedules.run_due_backups() == []  # still active
    Task.objects.filter(pk=task.pk).update(state=Task.SUCCEEDED)
    assert schedules.run_due_backups() == []  # not due yet
    assert len(schedules.run_due_backups(now=timezone.now() + timedelta(hours=23, minutes=45))) == 1


def test_it_keeps_count_and_age_but_never_the_newest_good_one(site, hm_dirs):
    BackupSchedule.objects.create(site=site, frequency="daily", keep_count=2, keep_days=10)
    newest_missing = backup(site, hm_dirs, timedelta(hours=1), on_disk=False)
    newest_good = backup(site, hm_dirs, timedelta(days=20))
    older = backup(site, hm_dirs, timedelta(days=30))
    manual = backup(site, hm_dirs, timedelta(days=90), kind=Backup.MANUAL)
    deleted = retention.apply(site)
    assert deleted == [older.pk]
    assert not Path(older.path).exists() and Path(newest_good.path).exists() and Path(manual.path).exists()
    assert set(Backup.objects.values_list("pk", flat=True)) == {newest_missing.pk, newest_good.pk, manual.pk}
    assert AuditEvent.objects.filter(action="backup.deleted", actor_label="system:retention").count() == 1


def test_it_applies_retention_when_the_watcher_sees_a_scheduled_backup_succeed(site, hm_dirs):
    BackupSchedule.objects.create(site=site, keep_count=1, keep_days=None)
    old = backup(site, hm_dirs, timedelta(days=2))
    backup(site, hm_dirs, timedelta(minutes=1))
    Task.objects.create(kind="backup", target_type="site", site=site, target_label=site.domain,
                        args={"kind": "scheduled"}, state=Task.SUCCEEDED, finished_at=timezone.now())
    events.poll()
    assert not Backup.objects.filter(pk=old.pk).exists()


def test_it_flags_and_notifies_stale_sites_once(site, hm_dirs, admin_user, client):
    from django.core import mail

    schedule = BackupSchedule.objects.create(site=site, frequency="daily")
    backup(site, hm_dirs, timedelta(days=3))
    stale = schedules.stale_sites()
    assert [(s.pk, sched.pk) for s, _, sched in stale] == [(site.pk, schedule.pk)]
    assert schedules.notify_stale() == 1 and schedules.notify_stale() == 0
    assert "backup.stale" in mail.outbox[0].subject
    client.force_login(admin_user)
    page = client.get("/").content.decode()
    assert "Stale backups" in page and site.domain in page
    backup(site, hm_dirs, timedelta(hours=1))
    assert schedules.stale_sites() == [] and schedules.notify_stale() == 0
    assert not StaleBackupAlert.objects.exists()


def test_it_hides_other_clients_stale_sites_on_the_dashboard(site, hm_dirs, outsider, client):
    BackupSchedule.objects.create(site=site, frequency="daily")
    backup(site, hm_dirs, timedelta(days=3))
    client.force_login(outsider)
    assert site.domain not in client.get("/").content.decode()


def test_it_writes_the_schedules_after_migrating_this_app_only():
    # Connected in AppConfig.ready for the hosting app, not for every app when the models module
    # is imported.
    from django.apps import apps
    from django.db.models.signals import post_migrate

    def receivers(label: str) -> list[str]:
        sync, _async = post_migrate._live_receivers(apps.get_app_config(label))
        return [f"{r.__module__}.{r.__qualname__}" for r in sync]

    assert "hosting.apps._ensure_schedules" in receivers("hosting")
    assert not [r for r in receivers("auth") if r.endswith("_ensure_schedules")]
