"""Fair sharing: when slots free, clients take turns, least recently served first."""
from __future__ import annotations

import pytest

from hosting.actions import queue_task
from hosting.engine import fairness
from hosting.engine.claim import claim
from hosting.engine.owner import Owner
from hosting.models import Task

pytestmark = pytest.mark.django_db

ME = Owner("this-host", 4242, 1000.0)


@pytest.fixture
def one_slot(server):
    server.max_running_tasks = 1
    server.save()
    return server


def _queue(site, n: int = 1) -> list[Task]:
    return [queue_task(site, "verify") for _ in range(n)]


def test_it_picks_round_robin_by_client_least_recently_served_first(one_slot, make_site, acme, globex, clock,
                                                                     settings):
    settings.HARBORMASTER_CLIENT_CONCURRENCY = 10
    busy = [make_site(f"a{i}.acme.test", acme) for i in range(4)]
    lone = make_site("www.globex.test", globex)
    first = queue_task(busy[0], "verify")
    claim(first.pk, ME)  # acme was served just now
    acme_waiting = [queue_task(s, "verify") for s in busy[1:]]
    globex_task = queue_task(lone, "backup")
    for t in [*acme_waiting, globex_task]:
        assert claim(t.pk, ME) is None  # the one slot is taken
    assert fairness.fair_picks(one_slot.pk, 3) == [globex_task.pk, acme_waiting[0].pk, acme_waiting[1].pk]


def test_it_gives_a_freed_slot_to_the_other_clients_waiting_task(one_slot, make_site, acme, globex, clock, monkeypatch):
    sent: list[int] = []
    monkeypatch.setattr("hosting.engine.dispatch.dispatch", lambda task_id, queue: sent.append(task_id) or True)
    acme_tasks = [queue_task(make_site(f"a{i}.acme.test", acme), "verify") for i in range(5)]
    claim(acme_tasks[0].pk, ME)
    for t in acme_tasks[1:]:
        claim(t.pk, ME)
    backup = queue_task(make_site("www.globex.test", globex), "backup")
    claim(backup.pk, ME)
    Task.objects.filter(pk=acme_tasks[0].pk).update(state=Task.SUCCEEDED)
    sent.clear()
    fairness.wake_after(acme_tasks[0].pk)
    assert sent == [backup.pk]
    # A new delivery of acme's next task does not steal the slot meant for globex.
    assert claim(acme_tasks[1].pk, ME) is None
    assert Task.objects.get(pk=acme_tasks[1].pk).waiting_reason == \
        f"waiting for its turn: task #{backup.pk} of globex goes first"
    assert claim(backup.pk, ME) is not None


def test_it_skips_a_task_still_blocked_by_its_lock(server, make_site, acme, globex, clock):
    site = make_site("www.acme.test", acme)
    holder = queue_task(site, "backup")
    claim(holder.pk, ME)
    blocked = queue_task(site, "verify")
    claim(blocked.pk, ME)
    assert Task.objects.get(pk=blocked.pk).waiting_on_id == holder.pk
    assert fairness.fair_picks(server.pk, 3) == []


def test_it_skips_a_client_at_its_cap(server, make_site, acme, globex, clock, settings):
    settings.HARBORMASTER_CLIENT_CONCURRENCY = 1
    running = queue_task(make_site("a.acme.test", acme), "verify")
    claim(running.pk, ME)
    waiting = queue_task(make_site("b.acme.test", acme), "verify")
    claim(waiting.pk, ME)
    assert fairness.fair_picks(server.pk, 3) == []
