"""Task types: each maps a task to a Plan of provision steps (hosting.engine.steps)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

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


def plan_for(task: "Task") -> "Plan":
    _load()
    key = f"{task.target_type}.{task.kind}"
    try:
        builder = REGISTRY[key]
    except KeyError:
        raise LookupError(f"no operation is registered for task type {key}") from None
    return builder(task)


def _load() -> None:
    # Importing the modules registers their operations.
    from hosting.operations import platform, server, site  # noqa: F401
