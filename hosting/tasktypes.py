"""The task types now live in hosting.catalogue; these names stay for the engine's imports."""
from __future__ import annotations

from hosting.catalogue import (
    DEFAULT_DEADLINES,
    PLATFORM,
    SERVER,
    SITE,
    TYPES,
    TaskType,
    kinds_for,
    task_type,
)

__all__ = ["DEFAULT_DEADLINES", "PLATFORM", "SERVER", "SITE", "TYPES", "TaskType", "kinds_for", "task_type"]
