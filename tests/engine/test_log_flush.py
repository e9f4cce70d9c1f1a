"""How soon a worker's log line reaches the database (the live log shows it within a second of
being logged, with the page's 0.5 s poll): at once when the last write is FLUSH_AFTER old, else
by the heartbeat thread, which looks every LOOK_EVERY seconds; a burst still costs one write."""
from __future__ import annotations

import time

import pytest

from hosting.actions import queue_task
from hosting.engine.claim import claim
from hosting.engine.heartbeat import Heartbeat, Stop
from hosting.engine.owner import Owner
from hosting.engine.tasklog import FLUSH_AFTER, LOOK_EVERY, TaskLogWriter
from hosting.models import TaskLog


def _lines(task) -> list[str]:
    return list(TaskLog.objects.filter(task=task).order_by("position").values_list("line", flat=True))


@pytest.mark.django_db
def test_it_writes_a_line_at_once_when_the_last_write_is_old_and_holds_a_burst(site):
    task = queue_task(site, "backup")
    owner = Owner.current()
    claim(task.pk, owner)
    log = TaskLogWriter(task.pk, owner)
    time.sleep(FLUSH_AFTER)
    log.write("info", "first")
    assert _lines(task) == ["first"]  # no wait for a later line or a beat
    log.write("info", "second")
    log.write("info", "third")
    assert _lines(task) == ["first"] and not log.due()  # a burst waits, to be written together
    time.sleep(FLUSH_AFTER)
    assert log.due()
    log.write("info", "fourth")
    assert _lines(task) == ["first", "second", "third", "fourth"]


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_thread_writes_a_waiting_line_within_a_fraction_of_a_second(site):
    task = queue_task(site, "backup")
    owner = Owner.current()
    claim(task.pk, owner)
    log = TaskLogWriter(task.pk, owner)
    log.write("info", "first")
    log.write("info", "waits")  # within FLUSH_AFTER of the first: buffered
    written = time.monotonic()
    beat = Heartbeat(task.pk, owner, Stop(), log, every=60)  # no beat comes to flush it
    beat.start()
    try:
        while "waits" not in _lines(task) and time.monotonic() - written < 5:
            time.sleep(0.01)
        took = time.monotonic() - written
    finally:
        beat.halt()
    assert _lines(task) == ["first", "waits"]
    # FLUSH_AFTER + LOOK_EVERY (0.3 s), with room for a loaded 2-core machine.
    assert took < FLUSH_AFTER + LOOK_EVERY + 0.4, took
