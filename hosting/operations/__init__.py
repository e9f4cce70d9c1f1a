"""Task types' operations: each maps a task to a Plan of provision steps (hosting.engine.steps).
Which builder a type uses is said by its entry in hosting.catalogue (`build`)."""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hosting.engine.steps import Plan
    from hosting.models import Task

Builder = Callable[["Task"], "Plan"]


def plan_for(task: Task) -> Plan:
    from hosting.catalogue import TYPES

    key = f"{task.target_type}.{task.kind}"
    extra = extra_operations().get(key)
    if extra is not None:
        return extra(task)
    known = TYPES.get(key)
    if known is None:
        raise LookupError(f"no operation is registered for task type {key}")
    return known.builder()(task)


def extra_operations() -> dict[str, Builder]:
    """Operations from the modules named in settings.HARBORMASTER_EXTRA_OPERATIONS (each with an
    OPERATIONS dict), taking precedence over the catalogue's. The engine's tests use it to run
    scripted operations in real worker clusters; looked up, never merged, so that the catalogue
    of a test process is left as it was."""
    from importlib import import_module

    from django.conf import settings

    found: dict[str, Builder] = {}
    for name in getattr(settings, "HARBORMASTER_EXTRA_OPERATIONS", ()):
        found.update(getattr(import_module(name), "OPERATIONS", {}))
    return found
