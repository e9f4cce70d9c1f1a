"""The ORM broker's wake-up (hosting.engine.doorbell, issue 20): an idle pusher sends no query
between two reads of its queue, a queued message still reaches it within a poll or two, and a
message that came without a wake-up, or a wake-up that fails, costs at most BACKSTOP."""
from __future__ import annotations

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_q.models import OrmQ
from django_q.signing import SignedPackage

from hosting.engine import doorbell
from hosting.engine.broker import ORM

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def broker(monkeypatch):
    monkeypatch.setattr(ORM, "_bell", None)
    monkeypatch.setattr(ORM, "_bell_made", False)
    monkeypatch.setattr(ORM, "_more", False)
    made = ORM(list_key="bell-test")
    yield made
    if ORM._bell is not None:
        ORM._bell.close()


def _package(n: int) -> str:
    return SignedPackage.dumps({"id": f"bell-{n}", "name": f"bell-{n}", "func": "math.floor", "args": (1,)})


def _first_delivery(broker: ORM, give_up: float) -> tuple[float, list]:
    started = time.monotonic()
    while time.monotonic() - started < give_up:
        found = broker.dequeue()
        if found:
            return time.monotonic() - started, found
    raise AssertionError(f"nothing delivered in {give_up} s")


def test_an_idle_pusher_sends_no_query_and_a_queued_message_wakes_it(broker):
    assert broker.dequeue() is None  # the first call reads (and, on PostgreSQL, starts listening)
    assert ORM._bell is not None, f"no wake-up on {connection.vendor}"
    with CaptureQueriesContext(connection) as idle:
        for _ in range(5):
            assert broker.dequeue() is None
    assert len(idle) == 0, [q["sql"] for q in idle]

    broker.enqueue(_package(1))
    took, found = _first_delivery(broker, 1.5)
    assert took < 0.5 and len(found) == 1
    assert SignedPackage.loads(found[0][1])["id"] == "bell-1"
    # A burst is read without a wait between messages.
    for n in range(2, 5):
        broker.enqueue(_package(n))
    got, started = [], time.monotonic()
    while len(got) < 3 and time.monotonic() - started < 2:
        got += broker.dequeue() or []
    assert len(got) == 3


def test_a_message_without_a_wake_up_is_read_within_the_backstop(broker, monkeypatch):
    monkeypatch.setattr(doorbell, "BACKSTOP", 0.4)
    broker.dequeue()
    # Written behind the broker's back: no NOTIFY (on SQLite the commit still wakes it).
    OrmQ.objects.create(key="bell-test", payload=_package(9), lock=timezone.now())
    took, found = _first_delivery(broker, 2.0)
    assert took < 1.0 and len(found) == 1


def test_a_failing_wake_up_means_reading_the_queue(broker, monkeypatch):
    broker.dequeue()

    def broken(_timeout: float) -> bool:
        raise OSError("wake-up gone")

    monkeypatch.setattr(ORM._bell, "_wait", broken)
    broker.enqueue(_package(7))
    found = broker.dequeue()
    assert found and len(found) == 1


def test_the_channel_is_a_short_identifier_whatever_the_queue_is_called():
    names = {doorbell.channel(q) for q in ("local", "web-1", 'we"ird; DROP', "x" * 500)}
    assert len(names) == 4
    assert all(len(name) <= 63 and name.isidentifier() for name in names)
