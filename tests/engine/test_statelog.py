"""The engine's own state-change lines (hosting.engine.statelog): one JSON line on the
"harbormaster.tasks" logger at each transition, written when it commits."""
from __future__ import annotations

import json
import logging
from datetime import datetime

import pytest
from django.db import transaction

from hosting import controls
from hosting.actions import queue_task
from hosting.engine import ending, worker
from hosting.engine.claim import claim
from hosting.engine.owner import Owner
from hosting.models import Task
from tests.engine.helpers import steps

pytestmark = pytest.mark.django_db(transaction=True)


class Lines(logging.Handler):
    """The logger does not propagate (its own stdout handler): listen on it directly."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.items: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.items.append(json.loads(record.getMessage()))

    def of(self, task: Task) -> list[tuple[str, str | None]]:
        return [(x["state"], x["previous"]) for x in self.items if x["task"] == task.pk]


@pytest.fixture
def lines():
    logger = logging.getLogger("harbormaster.tasks")
    handler = Lines()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_it_logs_queued_running_succeeded_of_a_real_run(site, lines):
    task = queue_task(site, "backup", args=steps({"name": "copy", "sh": "echo copying"}))
    assert lines.of(task) == [("queued", None)]
    assert worker.execute(task.pk) == Task.SUCCEEDED
    assert lines.of(task) == [("queued", None), ("running", "queued"), ("succeeded", "running")]
    queued, running, done = [x for x in lines.items if x["task"] == task.pk]
    task.refresh_from_db()
    assert done | {"at": None} == {
        "event": "task.state", "task": task.pk, "type": "site.backup", "target": "www.acme.test",
        "state": "succeeded", "previous": "running", "attempt": 1, "queue": "local",
        "server": site.platform.server_id, "client": "acme", "summary": "Done: 1 step.", "at": None,
        "duration": round((task.finished_at - task.started_at).total_seconds(), 3)}
    assert running["owner"] == f"{task.owner_host}:{task.owner_pid}" and running["duration"] is None
    assert queued["attempt"] == 0 and datetime.fromisoformat(queued["at"]) == task.created_at


def test_it_logs_a_failure_and_a_cancel_while_queued(site, make_site, admin_user, lines):
    bad = queue_task(site, "verify", args=steps({"name": "check", "sh": "exit 3"}))
    worker.execute(bad.pk)
    assert lines.of(bad)[-1] == ("failed", "running")
    waiting = queue_task(make_site("other.test"), "backup")
    controls.cancel(waiting, by=admin_user)
    assert lines.of(waiting) == [("queued", None), ("cancelled", "queued")]


def test_it_logs_a_requeue_and_a_pause_with_their_reasons(site, make_site, lines):
    me = Owner.current()
    lost = queue_task(site, "backup")
    claim(lost.pk, me)
    ending.requeue(lost.pk, "Worker lost during step Copy; re-queued (attempt 2 of 3 next).", owner=me)
    assert lines.of(lost) == [("queued", None), ("running", "queued"), ("queued", "running")]
    assert lines.items[-1]["reason"].startswith("Worker lost during step Copy")
    stuck = queue_task(make_site("stuck.test"), "install")
    claim(stuck.pk, me)
    ending.pause(stuck.pk, "Worker lost during step Files", owner=me)
    assert lines.of(stuck)[-1] == ("paused", "running")
    assert lines.items[-1]["summary"] == "Worker lost during step Files"


def test_it_logs_nothing_for_a_change_that_was_rolled_back(site, lines):
    task = queue_task(site, "backup")
    claim(task.pk, Owner.current())
    with pytest.raises(RuntimeError), transaction.atomic():
        ending.end(task.pk, Task.FAILED, "never happened", owner=Owner.current())
        raise RuntimeError("roll back")
    assert lines.of(task) == [("queued", None), ("running", "queued")]
    assert Task.objects.get(pk=task.pk).state == Task.RUNNING
