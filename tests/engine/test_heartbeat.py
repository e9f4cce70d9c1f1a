"""The heartbeat stamps the database's clock, reads cancel and deadline, records the task's
process groups, and notices when the task was taken from its worker."""
from __future__ import annotations

import subprocess
from datetime import timedelta

import pytest
from django.utils import timezone

from hosting.actions import queue_task
from hosting.engine import clock as engine_clock
from hosting.engine.claim import claim
from hosting.engine.heartbeat import Heartbeat, Stop
from hosting.engine.owner import Owner
from hosting.engine.processes import mark_env
from hosting.models import Task

pytestmark = pytest.mark.django_db


def test_it_stamps_the_database_clock_not_the_workers(site, monkeypatch):
    task = queue_task(site, "backup")
    me = Owner.current()
    claim(task.pk, me)
    # This worker's clock runs a minute ahead; its beats must not look fresher than they are.
    ahead = timezone.now() + timedelta(minutes=1)
    monkeypatch.setattr(timezone, "now", lambda: ahead)
    Heartbeat(task.pk, me, Stop()).beat()
    stamped = Task.objects.get(pk=task.pk).heartbeat_at
    assert abs((stamped - engine_clock.db_now()).total_seconds()) < 5


def test_it_reads_a_cancel_request_on_the_beat(site, clock):
    task = queue_task(site, "backup")
    claim(task.pk, Owner.current())
    Task.objects.filter(pk=task.pk).update(cancel_requested=True, cancel_reason="Cancelled by admin")
    stop = Stop()
    clock.advance(1)
    assert Heartbeat(task.pk, Owner.current(), stop).beat()
    assert stop() == "Cancelled by admin" and stop.kind == "cancel"
    assert Task.objects.get(pk=task.pk).heartbeat_at == clock.now


def test_it_notices_the_deadline_on_the_database_clock(site, clock, settings):
    settings.HARBORMASTER_DEADLINES = {**settings.HARBORMASTER_DEADLINES, "site.backup": 10}
    task = queue_task(site, "backup")
    claim(task.pk, Owner.current())
    stop = Stop()
    beat = Heartbeat(task.pk, Owner.current(), stop, deadline_seconds=10)
    clock.advance(9)
    beat.beat()
    assert stop.kind is None
    clock.advance(2)
    beat.beat()
    assert stop.kind == "deadline" and stop() == "The task ran past its deadline of 10 s"


def test_it_stops_the_task_when_it_is_no_longer_this_workers(site, clock):
    task = queue_task(site, "backup")
    claim(task.pk, Owner.current())
    Task.objects.filter(pk=task.pk).update(owner_pid=1)  # force-stopped or taken by a reaper
    stop = Stop()
    assert not Heartbeat(task.pk, Owner.current(), stop).beat()
    assert stop.kind == "lost"


def test_it_records_the_process_groups_the_task_started(site, clock):
    task = queue_task(site, "backup")
    me = Owner.current()
    claim(task.pk, me)
    child = subprocess.Popen(["sleep", "30"], env=mark_env(task.pk, me), start_new_session=True)
    try:
        Heartbeat(task.pk, me, Stop()).beat()
        groups = Task.objects.get(pk=task.pk).processes
        assert [(g["pid"], g["pgid"]) for g in groups] == [(child.pid, child.pid)]
    finally:
        child.kill()
        child.wait()


def test_it_ranks_a_cancel_above_a_shutdown():
    stop = Stop()
    stop.request("shutdown", "The worker was stopped (SIGTERM)")
    stop.request("cancel", "Cancelled by admin")
    stop.request("shutdown", "again")
    assert stop.kind == "cancel"
    stop.request("lost", "taken")
    assert stop.kind == "lost"
