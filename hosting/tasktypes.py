"""The catalogue of task types: what each applies to, its default deadline, and what the engine
may do when its worker is lost. Plain data (settings import it before Django is set up)."""
from __future__ import annotations

from dataclasses import dataclass

SITE, PLATFORM, SERVER = "site", "platform", "server"


@dataclass(frozen=True)
class TaskType:
    target: str          # site | platform | server
    kind: str            # install, verify, backup, ...
    deadline: int        # seconds, overridable with HARBORMASTER_DEADLINES
    idempotent: bool     # safe to run again from the start when its worker is lost
    label: str

    @property
    def key(self) -> str:
        return f"{self.target}.{self.kind}"


TYPES: dict[str, TaskType] = {
    t.key: t
    for t in [
        TaskType(SITE, "install", 1800, False, "Install"),
        TaskType(SITE, "verify", 900, True, "Verify"),
        TaskType(SITE, "backup", 7200, True, "Back up"),
        TaskType(SITE, "restore", 7200, False, "Restore"),
        TaskType(SITE, "clone", 7200, False, "Clone"),
        TaskType(SITE, "migrate", 7200, False, "Migrate"),
        TaskType(SITE, "disable", 300, True, "Disable"),
        TaskType(SITE, "enable", 300, True, "Enable"),
        TaskType(SITE, "delete", 3600, False, "Delete"),
        TaskType(SITE, "login-reset", 300, True, "Login link"),
        TaskType(PLATFORM, "verify", 1800, True, "Verify"),
        TaskType(PLATFORM, "lock", 60, True, "Lock"),
        TaskType(PLATFORM, "unlock", 60, True, "Unlock"),
        TaskType(PLATFORM, "delete", 3600, False, "Delete"),
        TaskType(SERVER, "verify", 300, True, "Verify"),
    ]
}

DEFAULT_DEADLINES: dict[str, int] = {key: t.deadline for key, t in TYPES.items()}


def task_type(target: str, kind: str) -> TaskType:
    try:
        return TYPES[f"{target}.{kind}"]
    except KeyError:
        known = ", ".join(t.kind for t in TYPES.values() if t.target == target)
        raise ValueError(f"unknown task type {kind!r} for a {target}; known: {known}") from None


def kinds_for(target: str) -> list[str]:
    return [t.kind for t in TYPES.values() if t.target == target]
