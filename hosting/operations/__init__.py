"""Task types: each maps a task to a Plan of provision steps (hosting.engine.steps)."""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hosting.engine.steps import Plan
    from hosting.models import Task

Builder = Callable[["Task"], "Plan"]
REGISTRY: dict[str, Builder] = {}


def operation(key: str) -> Callable[[Builder], Builder]:
    def register(builder: Builder) -> Builder:
        REGISTRY[key] = builder
        return builder
    return register


def plan_for(task: Task) -> Plan:
    _load()
    key = f"{task.target_type}.{task.kind}"
    try:
        builder = _extra().get(key) or REGISTRY[key]
    except KeyError:
        raise LookupError(f"no operation is registered for task type {key}") from None
    return builder(task)


def _load() -> None:
    # Importing the modules registers their operations.
    from hosting.operations import platform, server, site  # noqa: F401


def _extra() -> dict[str, Builder]:
    """Operations from the modules named in settings.HARBORMASTER_EXTRA_OPERATIONS (each with an
    OPERATIONS dict), taking precedence over the registry. The engine's tests use it to run
    scripted operations in real worker clusters; looked up, never merged, so that the registry
    of a test process is left as it was."""
    from importlib import import_module

    from django.conf import settings

    found: dict[str, Builder] = {}
    for name in getattr(settings, "HARBORMASTER_EXTRA_OPERATIONS", ()):
        found.update(getattr(import_module(name), "OPERATIONS", {}))
    return found
