"""What one site.verify costs the control database and the host (issue 8: a bulk verify of 1,000
sites): the number of statements and programs, so that a change that adds some per task shows
up here rather than only in bench/bulk_verify.py."""
from __future__ import annotations

import os
import re
import threading

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from hosting.actions import queue_task
from hosting.engine.worker import execute
from hosting.models import Task
from tests.operations.conftest import log_of

pytestmark = pytest.mark.parametrize("engine", ["sqlite"])

# Statements of one verify from its delivery to its end, wake-up of waiters included: 74 on
# both before issue 8; PostgreSQL also locks the server and client rows and reads its clock. The
# record step's write reads the task's ownership in its transaction (ctx.recording: one SELECT, with
# its BEGIN and COMMIT): a worker that lost the task records nothing. The "Started" line is
# written at once (BEGIN, the log budget's SELECT, INSERT, COMMIT), so that the live log shows it
# first and a cancel's line cannot come before it. After the end, one indexed SELECT asks whether
# the task is a batch migrate's child (hosting.batches.child_ended).
MOST_STATEMENTS = {"sqlite": 62, "postgresql": 65}


def _verify(site) -> tuple[Task, list[str]]:
    task = queue_task(site, "verify")
    with CaptureQueriesContext(connection) as queries:
        assert execute(task.pk) == Task.SUCCEEDED, log_of(task)
    task.refresh_from_db()
    return task, [q["sql"] for q in queries]


def test_it_runs_one_program_for_a_verify(installed):
    site = installed()
    task, _sql = _verify(site)
    # The Runner logs every program it starts as "$ <command line>".
    programs = [line for line in log_of(task).splitlines() if line.startswith("$ ")]
    assert len(programs) == 1 and re.search(r"/drush .*status --field=bootstrap$", programs[0]), programs


def test_it_verifies_a_site_in_a_bounded_number_of_statements(installed):
    site = installed()
    _verify(site)  # the first run of the process pays for imports and caches
    _task, sql = _verify(site)
    assert len(sql) <= MOST_STATEMENTS[connection.vendor], "\n".join(sql)


def test_it_reads_the_site_record_once_and_saves_only_changed_state(installed):
    site = installed()
    _task, sql = _verify(site)
    reads = [q for q in sql if q.startswith("SELECT") and 'FROM "hosting_site"' in q]
    assert len(reads) == 1, reads
    # The state changes in two steps (check: the site directory; database: its name and user).
    saves = [q for q in sql if q.startswith('UPDATE "hosting_task" SET "result"')]
    assert len(saves) == 2, saves


def test_it_leaves_no_thread_or_open_file_behind(installed):
    # A worker runs thousands of tasks without being restarted when recycling is off: each run's
    # heartbeat thread, reader threads, pipes and site database connection must go with it.
    site = installed()
    _verify(site)
    threads, files = threading.active_count(), len(os.listdir("/proc/self/fd"))
    for _ in range(3):
        _verify(site)
    assert threading.active_count() == threads
    assert len(os.listdir("/proc/self/fd")) == files
