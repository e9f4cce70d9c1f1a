"""A task's log under hostile input (issue 13, items 8 and 9): names that are not UTF-8 and NUL
bytes never cost a line or its batch, one line is capped whatever path it takes (drush output
read back and quoted in one message), and a task's whole log is capped with a visible marker,
keeping its first lines, its last ones and the line that ends the task."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from hosting.engine import tasklog
from hosting.engine.loglimits import TRUNCATED, clean
from hosting.engine.tasklog import TaskLogWriter
from hosting.models import TaskLog
from provision.runner import MAX_LINE
from tests.operations.conftest import log_of

# The control database is what these tests try (SQLite, or PostgreSQL with DATABASE_URL);
# the sites' own databases are SQLite.
SQLITE_SITES = pytest.mark.parametrize("engine", ["sqlite"])


@pytest.fixture(autouse=True)
def _instance(hm_dirs, transactional_db, settings):
    settings.HARBORMASTER_HEARTBEAT = 1.0
    settings.HARBORMASTER_FAULTS = {}


def _lines(task_id: int) -> list[str]:
    return list(TaskLog.objects.filter(task_id=task_id).order_by("position").values_list("line", flat=True))


def _task(site):
    from hosting.actions import queue_task

    return queue_task(site, "backup")


@SQLITE_SITES
def test_it_keeps_a_batch_holding_undecodable_names_and_nuls(installed):
    task = _task(installed())
    log = TaskLogWriter(task.pk)
    # os.fsdecode of a directory name in Latin-1, as os.listdir returns it.
    name = os.fsdecode(b"caf\xe9.example.test")
    log.write("info", "before")
    log.write("info", f"Skipped sites/{name}: not a domain.")
    log.write("info", "a NUL\x00 in drush output")
    log.write("info", "after")
    log.flush()
    assert _lines(task.pk) == ["before", "Skipped sites/caf\ufffd.example.test: not a domain.",
                               "a NUL\ufffd in drush output", "after"]


@SQLITE_SITES
def test_it_replaces_a_refused_line_without_losing_its_batch(installed):
    # Past clean(): a line the database still refuses (here written raw) takes only its own place.
    from django.utils import timezone

    task = _task(installed())
    now = timezone.now()
    rows = [(0, (now, "info", "first")), (1, (now, "info", "raw \udcff")), (2, (now, "info", "third"))]

    def write(careful: bool) -> bool:
        tasklog._insert(task.pk, rows, careful=careful)
        return True

    tasklog._transact(task.pk, write)
    lines = _lines(task.pk)
    assert lines[0] == "first" and lines[2] == "third"
    assert lines[1].startswith("[a log line could not be stored")


@SQLITE_SITES
def test_it_writes_every_line_of_a_platform_verify_with_a_site_directory_not_in_utf8(run, platform):
    sites = Path(platform.path) / "sites"
    bad = os.path.join(os.fsencode(sites), b"caf\xe9.example.test")
    os.mkdir(bad)
    with open(os.path.join(bad, b"settings.php"), "wb") as out:
        out.write(b"<?php\n")
    task = run(platform, "verify")
    lines = _lines(task.pk)
    assert lines[0].startswith("Started on") and any(line.startswith("Step 3/") for line in lines), lines
    assert lines[-1] == task.summary
    assert any("\ufffd" in line for line in lines), lines


@SQLITE_SITES
def test_it_caps_a_30_mb_answer_of_drush_status_in_the_log(installed, run):
    site = installed()
    drush = Path(site.platform.path) / "vendor" / "bin" / "drush"
    drush.rename(drush.with_name("drush.real"))
    # The site's code prints 30 MB where drush status prints one word.
    drush.write_text('#!/bin/sh\ncase "$*" in *status*) head -c 30000000 /dev/zero | tr "\\0" x; echo; exit 0;; esac\n'
                     'exec "$(dirname "$0")/drush.real" "$@"\n')
    drush.chmod(drush.stat().st_mode | stat.S_IXUSR)
    task = run(site, "verify")
    assert task.state == "warning", log_of(task)
    lines = _lines(task.pk)
    assert any(line.startswith("Drupal does not bootstrap") for line in lines), lines
    assert max(len(line) for line in lines) <= MAX_LINE + len(TRUNCATED)
    assert sum(len(line) for line in lines) < 50_000
    task.refresh_from_db()
    assert len(task.summary) <= 1000


def test_it_caps_a_line_written_by_any_path():
    assert clean("y" * 100_000) == "y" * MAX_LINE + TRUNCATED
    assert clean("short") == "short"


@SQLITE_SITES
def test_it_keeps_the_first_and_last_lines_of_a_runaway_log_and_says_how_many_it_dropped(installed, settings):
    settings.HARBORMASTER_TASK_LOG_MAX_LINES = 100
    task = _task(installed())
    log = TaskLogWriter(task.pk)
    for i in range(10_000):
        log.write("info", f"line {i}")
        if i % 777 == 0:
            log.flush()
    log.flush()
    tasklog.append(task.pk, "info", "Done: the end.")
    lines = _lines(task.pk)
    assert lines[:75] == [f"line {i}" for i in range(75)]
    assert lines[75].startswith("[9,900 lines dropped here")
    assert lines[76:101] == [f"line {i}" for i in range(9_975, 10_000)]
    assert lines[101:] == ["Done: the end."]


@SQLITE_SITES
def test_it_caps_a_log_by_its_characters_too(installed, settings):
    settings.HARBORMASTER_TASK_LOG_MAX_CHARS = 100_000
    task = _task(installed())
    log = TaskLogWriter(task.pk)
    for i in range(200):
        log.write("info", f"{i:04d}" + "z" * 5_000)  # cut to MAX_LINE characters each
    log.flush()
    lines = _lines(task.pk)
    assert sum(len(line) for line in lines) <= 100_000 + 1_000
    assert lines[0].startswith("0000") and lines[-1].startswith("0199")
    assert any(line.startswith("[") and "lines dropped here" in line for line in lines)


@SQLITE_SITES
def test_a_second_run_of_a_task_continues_the_budget_of_the_first(installed, settings):
    settings.HARBORMASTER_TASK_LOG_MAX_LINES = 100
    task = _task(installed())
    first = TaskLogWriter(task.pk)
    for i in range(90):
        first.write("info", f"first {i}")
    first.flush()
    second = TaskLogWriter(task.pk)
    for i in range(90):
        second.write("info", f"second {i}")
    second.flush()
    lines = _lines(task.pk)
    # The head (75 lines) was full before the second run began: one head, one marker, and a
    # window of the last 25 lines, whatever run wrote them.
    assert lines[:75] == [f"first {i}" for i in range(75)]
    assert "lines dropped here" in lines[75]
    assert lines[76:] == [f"second {i}" for i in range(65, 90)]
    third = TaskLogWriter(task.pk)
    for i in range(40):
        third.write("info", f"third {i}")
    third.flush()
    lines = _lines(task.pk)
    assert sum("lines dropped here" in line for line in lines) == 1
    assert lines[:75] == [f"first {i}" for i in range(75)]
    assert lines[75].startswith(f"[{15 + 65 + 40:,} lines dropped here")
    assert lines[76:] == [f"third {i}" for i in range(15, 40)]


@SQLITE_SITES
def test_it_ends_a_task_whose_summary_quotes_an_undecodable_name(installed):
    from hosting.engine import ending
    from hosting.engine.claim import claim
    from hosting.engine.owner import Owner
    from hosting.models import Task

    task = _task(installed())
    claim(task.pk, Owner.current())
    name = os.fsdecode(b"caf\xe9")
    assert ending.end(task.pk, Task.FAILED, f"Step Files failed: {name} cannot be read.")
    task.refresh_from_db()
    assert task.state == Task.FAILED and task.summary == "Step Files failed: caf\ufffd cannot be read."
    assert _lines(task.pk)[-1] == task.summary
