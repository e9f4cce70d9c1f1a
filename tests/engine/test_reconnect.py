"""The engine outlives a restart of its control database (hosting.engine.reconnect): which errors
mean a lost session, how work waits for the database, and how a reaper that lost the database
too gives the workers time to beat again. The restart itself, with a real PostgreSQL server and
a real cluster, is tests/reliability/test_database_restart.py."""
from __future__ import annotations

import sqlite3
import time

import psycopg
import pytest
from django.db import IntegrityError, OperationalError, transaction

from hosting.actions import queue_task
from hosting.engine import reconnect
from hosting.engine.claim import claim
from hosting.engine.owner import Owner
from hosting.engine.reaper import Reaper
from tests.engine.helpers import steps

ELSEWHERE = Owner("another-host", 777, 5.0)


def _django_error(cause: BaseException, kind: type[Exception] = OperationalError) -> Exception:
    """CAUSE as Django raises it: its own class, the driver's error as __cause__."""
    try:
        raise kind(str(cause)) from cause
    except kind as exc:
        return exc


@pytest.mark.parametrize("cause, lost", [
    (psycopg.OperationalError("consuming input failed: server closed the connection unexpectedly"), True),
    (psycopg.OperationalError("connection failed: Connection refused"), True),
    (psycopg.errors.AdminShutdown("terminating connection due to administrator command"), True),
    (psycopg.errors.CannotConnectNow("the database system is starting up"), True),
    (psycopg.errors.DeadlockDetected("deadlock detected"), False),
    (psycopg.errors.QueryCanceled("canceling statement due to statement timeout"), False),
    (sqlite3.OperationalError("database is locked"), False),
])
def test_it_tells_a_lost_session_from_a_failed_statement(cause, lost) -> None:
    assert reconnect.connection_lost(_django_error(cause)) is lost


def test_it_takes_no_other_error_for_a_lost_session() -> None:
    assert not reconnect.connection_lost(_django_error(psycopg.errors.UniqueViolation("dup"), IntegrityError))
    assert not reconnect.connection_lost(ValueError("connection failed"))


class Flaky:
    """A job that fails with LOST the first FAILURES times, then answers."""

    def __init__(self, failures: int, lost: Exception) -> None:
        self.failures = failures
        self.lost = lost
        self.calls = 0

    def __call__(self, value: str) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.lost
        return value


LOST = _django_error(psycopg.OperationalError("server closed the connection unexpectedly"))


@pytest.mark.django_db(transaction=True)  # retry waits only outside a transaction
def test_it_runs_a_job_again_until_the_database_answers() -> None:
    job = Flaky(3, LOST)
    began = time.monotonic()
    assert reconnect.retry(job, "done") == "done"
    assert job.calls == 4
    assert 0.6 < time.monotonic() - began < 3  # waited 0.1 + 0.2 + 0.4 s


@pytest.mark.django_db(transaction=True)
def test_it_gives_up_after_its_patience_and_on_other_errors() -> None:
    with pytest.raises(OperationalError):
        reconnect.retry(Flaky(100, LOST), "x", patience=0.5)
    statement = Flaky(1, _django_error(psycopg.errors.DeadlockDetected("deadlock detected")))
    with pytest.raises(OperationalError):
        reconnect.retry(statement, "x")
    assert statement.calls == 1


@pytest.mark.django_db(transaction=True)
def test_it_leaves_a_transaction_to_its_owner() -> None:
    """Inside atomic() the failed statement poisoned the transaction: only its owner can start
    it again, from the top."""
    job = Flaky(1, LOST)
    with pytest.raises(OperationalError), transaction.atomic():
        reconnect.retry(job, "x")
    assert job.calls == 1


@pytest.mark.django_db(transaction=True)
def test_it_counts_silence_from_when_the_database_answers_again(site, clock) -> None:
    task = claim(queue_task(site, "backup", args=steps({"name": "a", "sh": "true"})).pk, ELSEWHERE)
    reaper = Reaper("local", beat=0.5, report=lambda line: None)
    clock.advance(4.0)  # the database was away for 8 beats: nobody could beat
    reaper.lost_database()
    assert reaper.find_lost() == []  # the first answer starts the count
    clock.advance(1.4)
    assert reaper.find_lost() == []
    clock.advance(0.2)  # 3 beats since the database answered, and still silent: lost
    assert [seen.pk for seen in reaper.find_lost()] == [task.pk]
    assert not reaper.outage


@pytest.mark.django_db(transaction=True)
def test_it_settles_again_a_task_it_took_over_and_dropped(site, clock) -> None:
    """A reaper's rollback thread that died (say on a database error) leaves the task running
    under the reaper's own pid: once its heartbeat is silent, it is taken over again."""
    me = Owner.current()
    task = claim(queue_task(site, "install", args=steps({"name": "a", "sh": "true"})).pk, me)
    reaper = Reaper("local", beat=0.5, report=lambda line: None)
    clock.advance(1.6)
    reaper.settling.add(task.pk)
    assert reaper.find_lost() == []  # settling now: its own heartbeat thread beats for it
    reaper.settling.discard(task.pk)
    assert [seen.pk for seen in reaper.find_lost()] == [task.pk]
