"""What an idle queue's housekeeping sends (issue 20: an idle cluster costs under 1 % of a core):
one statement to find that nothing runs, one to find that nothing is queued; and the work is
still done as soon as there is some."""
from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from hosting.actions import queue_task
from hosting.engine import reconcile
from hosting.engine.claim import claim
from hosting.engine.owner import Owner
from hosting.engine.reaper import Reaper
from hosting.models import Task

pytestmark = pytest.mark.django_db


def test_an_idle_queue_costs_one_statement_to_reap_and_one_to_reconcile(site):
    reaper = Reaper("local", background=False)
    with CaptureQueriesContext(connection) as reaping:
        assert reaper.reap_all() == 0
    with CaptureQueriesContext(connection) as reconciling:
        assert reconcile.reconcile("local") == []
    assert len(reaping) == 1 and len(reconciling) == 1, [q["sql"] for q in [*reaping, *reconciling]]


def test_the_shortcut_still_finds_a_queued_task_without_a_message_and_a_lost_one(site, make_site):
    from django_q.models import OrmQ

    queued = queue_task(site, "verify")
    OrmQ.objects.all().delete()  # its message is gone
    Task.objects.filter(pk=queued.pk).update(created_at=queued.created_at.replace(year=2000))
    assert reconcile.reconcile("local") == [queued.pk]

    other = queue_task(make_site("lost.example.test"), "verify")
    gone = Owner(Owner.current().host, 999_999, 1.0)  # a worker of this host that is not alive
    assert claim(other.pk, gone) is not None
    assert Reaper("local", background=False).reap_all() == 1
    assert Task.objects.get(pk=other.pk).state != Task.RUNNING


def test_after_an_outage_the_reaper_still_dates_the_database_s_return(site):
    reaper = Reaper("local", background=False)
    reaper.lost_database()
    reaper.reap_all()
    assert reaper.answering_since is not None  # taken although nothing runs
