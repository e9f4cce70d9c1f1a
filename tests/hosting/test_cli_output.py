"""What a person sees of `manage.py`, run as they run it (real processes, a shell pipe): the
answer on stdout and nothing else (no task state lines, no django-q2 INFO lines), and a quiet end
when the reader of a pipe goes away (`tasks list | head`)."""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from hosting.logsetup import human_command

BASE = Path(__file__).resolve().parents[2]
MANAGE = [sys.executable, str(BASE / "manage.py")]
# Copies of task 1, finished: more than a pipe's buffer of `tasks list` lines.
MANY_TASKS = """
from hosting.models import Task
t = Task.objects.get(pk=1)
fields = [f for f in Task._meta.concrete_fields if not f.primary_key]
Task.objects.bulk_create([Task(**{**{f.attname: getattr(t, f.attname) for f in fields}, "state": Task.SUCCEEDED})
                          for _ in range(2000)])
"""


@pytest.fixture(scope="module")
def manage(tmp_path_factory) -> Callable[..., subprocess.CompletedProcess]:
    data = tmp_path_factory.mktemp("cli") / "var"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "hosting.settings", "HARBORMASTER_DATA_DIR": str(data)}
    env.pop("DATABASE_URL", None)  # the embedded default: a SQLite file in the data directory

    def run(*args: str, shell: str | None = None) -> subprocess.CompletedProcess:
        argv = ["sh", "-c", shell] if shell else [*MANAGE, *args]
        return subprocess.run(argv, cwd=BASE, env=env, capture_output=True, text=True, timeout=120)

    migrated = run("migrate", "--no-input")
    assert migrated.returncode == 0, migrated.stderr
    return run


def json_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.lstrip().startswith("{")]


def test_a_command_that_queues_a_task_prints_its_answer_only(manage):
    setup = manage("demo_setup", "--sites", "1")
    assert setup.returncode == 0, setup.stderr
    assert "verify queued as task 1" in setup.stdout
    assert json_lines(setup.stdout) == [] and "Enqueued" not in setup.stdout + setup.stderr
    assert manage("tasks", "cancel", "1").returncode == 0
    created = manage("tasks", "create", "verify", "--platform", "demo")
    assert created.returncode == 0, created.stderr
    assert created.stdout == "2\n"
    assert created.stderr == ""


def test_tasks_list_into_head_ends_without_a_traceback(manage):
    assert manage("shell", "-c", MANY_TASKS).returncode == 0
    piped = manage(shell=f"'{MANAGE[0]}' '{MANAGE[1]}' tasks list --limit 3000 | head -1")
    assert piped.returncode == 0
    assert piped.stdout.count("\n") == 1
    assert piped.stderr == ""


@pytest.mark.parametrize(("argv", "human"), [
    (["manage.py", "tasks", "list"], True),
    (["/srv/hm/manage.py", "site", "add", "x"], True),
    (["manage.py", "qcluster"], False),
    (["manage.py", "serve", "--grace", "5"], False),
    (["manage.py", "runserver"], False),
    (["/srv/hm/.venv/bin/gunicorn", "hosting.wsgi:application"], False),
    ([], False),
])
def test_only_commands_a_person_reads_are_quiet(argv, human):
    assert human_command(argv) is human
