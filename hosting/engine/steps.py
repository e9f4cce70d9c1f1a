"""What a task type gives the engine: a list of named steps, each with an optional undo, run with
a Context that logs, heartbeats and can be told to stop."""
from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from hosting.models import Task
    from provision.runner import Runner


class Context(Protocol):
    """Given to every step. `state` is a JSON-serialisable dict kept with the task between steps,
    so a resumed task (or an undo after a lost worker) knows what earlier steps did."""

    task: Task
    runner: Runner
    state: dict[str, Any]

    # A warning line also makes the task end `warning` instead of `succeeded`.
    def log(self, level: str, line: str) -> None: ...
    def info(self, line: str) -> None: ...
    def warning(self, line: str) -> None: ...
    def error(self, line: str) -> None: ...
    def check_stop(self) -> None: ...
    # Raises (a Cancelled) when the run no longer owns the task: a reaper took it over.
    def check_owned(self) -> None: ...
    def save_state(self) -> None: ...
    # Every record a step writes (site, backup, audit event, queued task, lock) is written inside
    # `with ctx.recording():`, which raises (a Cancelled) and writes nothing once the run no
    # longer owns the task.
    def recording(self) -> AbstractContextManager[None]: ...
    # Record a result for the panel (Task.result[key]: the backup made, the clone created).
    def set_flag(self, key: str, value: Any) -> None: ...


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[Context], None]
    undo: Callable[[Context], None] | None = None
    label: str = ""
    # Steps whose effects cannot be undone and that are unsafe to repeat blindly (for instance a
    # drop of a database) say so: a lost worker in such a step pauses the task for a human.
    reversible: bool = True

    @property
    def title(self) -> str:
        return self.label or self.name.replace("-", " ").capitalize()


@dataclass
class Plan:
    steps: list[Step] = field(default_factory=list)
    # Locks beyond the task's own target (a clone also locks its new domain and target platform).
    extra_locks: list[str] = field(default_factory=list)
