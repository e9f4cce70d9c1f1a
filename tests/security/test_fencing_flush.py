"""Log lines of a killed worker (issue 13, item 11): lines a worker logged before it was
SIGKILLed are in the database, even when no later line and no beat came to flush them."""
from __future__ import annotations

import os
import signal

import pytest

from hosting.actions import queue_task
from hosting.models import Task
from tests.engine.helpers import steps, wait_for
from tests.operations.conftest import log_of
from tests.security.fencing_helpers import clusters, instance, scripted_site, task_row  # noqa: F401

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("instance")]


def test_the_lines_a_worker_logged_before_it_was_sigkilled_are_kept(clusters, scripted_site, tmp_path):
    record = tmp_path / "record.txt"
    # Beats far apart: lines must not wait for the next beat to be written.
    clusters.start("local", workers=1, heartbeat=10.0)
    script = ('rec start; echo "first line of attempt $HM_ATTEMPT"; echo "second line of attempt $HM_ATTEMPT"; '
              'if [ "$HM_ATTEMPT" = 1 ]; then sleep 60; fi')
    task = queue_task(scripted_site, "verify", args={"record": str(record), **steps({"name": "work", "sh": script})})
    wait_for(lambda: record.exists() and "start" in record.read_text(), timeout=30, what="the step to start")
    # Written within a fraction of a second (FLUSH_AFTER + LOOK_EVERY; the rest is slack for a loaded machine),
    # before any beat could have flushed them; then the kill must not take them away.
    wait_for(lambda: "second line of attempt 1" in log_of(task), timeout=5, what="the lines, before the first beat")
    os.kill(task_row(task).owner_pid, signal.SIGKILL)
    wait_for(lambda: task_row(task).state in Task.FINAL, timeout=30, what="the task's second attempt")
    lines = log_of(task).splitlines()
    assert "first line of attempt 1" in lines and "second line of attempt 1" in lines, lines
    assert lines.index("second line of attempt 1") < next(i for i, line in enumerate(lines)
                                                          if line.startswith("Worker lost"))
