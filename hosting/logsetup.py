"""settings.LOGGING, which depends on what the process is.

Task state lines (logger "harbormaster.tasks", hosting.engine.statelog) are one JSON object per
line on stdout, for journald and log shippers, in the processes that run tasks and serve the
panel: the workers (`manage.py qcluster`, `serve`), gunicorn, `runserver`, the tests. A command a
person types (`manage.py tasks create`, `site add`, `demo_setup`, ...) keeps its stdout for its
answer: there the state lines are dropped (the worker that runs the task logs each change it
makes, and the task's record and the audit trail say who queued it), and so are django-q2's INFO
lines ("Enqueued [local] 58"), which reach the root handler since it has one."""
from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

# manage.py commands whose output is a service's log, not an answer to a person.
SERVICE_COMMANDS = frozenset({"qcluster", "serve", "runserver"})


def human_command(argv: Sequence[str]) -> bool:
    """Whether ARGV is `manage.py COMMAND` for a command a person reads the output of."""
    if not argv or os.path.basename(argv[0]) != "manage.py":
        return False
    command = next((arg for arg in argv[1:] if not arg.startswith("-")), "help")
    return command not in SERVICE_COMMANDS


def logging_config(argv: Sequence[str], level: str, q_level: str) -> dict[str, Any]:
    human = human_command(argv)
    config: dict[str, Any] = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
            # One JSON object per line and nothing else, for journald and log shippers.
            "json_line": {"format": "%(message)s"},
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": "plain"},
            "task_events": ({"class": "logging.NullHandler"} if human else
                            {"class": "logging.StreamHandler", "formatter": "json_line",
                             "stream": "ext://sys.stdout"}),
        },
        "loggers": {
            # Task state changes (hosting.events): one JSON line each on stdout.
            "harbormaster.tasks": {"handlers": ["task_events"], "level": "INFO", "propagate": False},
        },
        "root": {"handlers": ["console"], "level": level},
    }
    if human:
        # django-q2 sets its own level only when no handler would see its records; the root's does.
        config["loggers"]["django-q"] = {"handlers": ["console"], "propagate": False,
                                         "level": q_level if q_level in ("ERROR", "CRITICAL") else "WARNING"}
    return config
