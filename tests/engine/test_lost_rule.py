"""One lost-task rule (heartbeat.lost_before, 3 beats): the reaper acts on it, and the dashboard,
the live task view and the health checks show the same tasks as lost."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from hosting import health
from hosting.actions import queue_task
from hosting.engine.claim import claim
from hosting.engine.heartbeat import lost_before
from hosting.engine.owner import Owner
from hosting.engine.reaper import Reaper
from hosting.models import Task
from hosting.views.dashboard import queue_health
from hosting.views.tasklive import heartbeat_stale
from tests.engine.helpers import steps

pytestmark = pytest.mark.django_db(transaction=True)


def _beating(site, seconds_ago: float) -> Task:
    task = claim(queue_task(site, "backup", args=steps({"name": "a", "sh": "true"})).pk, Owner.current())
    assert task is not None
    Task.objects.filter(pk=task.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=seconds_ago))
    return Task.objects.get(pk=task.pk)


def test_it_is_three_beats_of_the_configured_heartbeat(settings):
    settings.HARBORMASTER_HEARTBEAT = 2
    now = timezone.now()
    assert lost_before(now) == now - timedelta(seconds=6)
    assert lost_before(now, beat=0.5) == now - timedelta(seconds=1.5)


@pytest.mark.parametrize(("silent", "lost"), [(10, True), (2, False)])
def test_the_reaper_dashboard_live_view_and_health_agree(site, settings, silent, lost):
    settings.HARBORMASTER_HEARTBEAT = 2  # lost after 6 s of silence
    task = _beating(site, silent)
    assert heartbeat_stale(task) is lost
    figures = queue_health(Task.objects.all(), timezone.now())
    assert figures["lost"] == int(lost) and (task in figures["attention"]) is lost
    assert health._tasks_beat(task.server.queue) is not lost
    assert [seen.pk for seen in Reaper(task.server.queue).find_lost()] == ([task.pk] if lost else [])
