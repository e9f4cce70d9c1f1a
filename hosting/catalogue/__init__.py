"""The task catalogue: every task type declared once (hosting.catalogue.entries), with all that
starting one needs to know. Whoever starts, shows or runs a task asks here:

- hosting.starting.start_task: who may start it (`role`), why not now (`refusal`), its arguments
  (`form`, the one form class of the panel, the API and the command line), its quota effect;
- the panel: its button (`label`, `arguments`, `confirm`, `danger`, `explain`);
- the engine: its default deadline, whether it may run again when its worker is lost
  (`idempotent`), and the steps it runs (`build`, via hosting.operations.plan_for).

A new task type is one entry here and one operation module; hosting.catalogue.checks fails
start-up when an entry lacks a part or names one that does not exist.

Plain data: the settings import this module before Django is set up, so the form, the refusal
rule and the builder are named by dotted path (or given as objects, as the tests' own types are)
and resolved when first used."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from importlib import import_module
from typing import Any

SITE, PLATFORM, SERVER = "site", "platform", "server"
TARGETS = (SITE, PLATFORM, SERVER)

# Who may start a type: administrators always; a client's managers (and administrators) for a
# MANAGER type on the client's sites; its managers and members for a MEMBER type. Viewers never.
# Platform and server types change what every client shares: ADMIN.
ADMIN, MANAGER, MEMBER = "admin", "manager", "member"
ROLES = (ADMIN, MANAGER, MEMBER)

# What a type does to the client's quotas (hosting.quotas.check): nothing (verify, disable,
# delete... must stay possible over quota: they are how a client gets back under it), grows
# the disk it uses, or adds a site (and grows the disk).
NO_QUOTA, GROWS_DISK, ADDS_SITE = "none", "grows-disk", "adds-site"
QUOTA_EFFECTS = (NO_QUOTA, GROWS_DISK, ADDS_SITE)


@dataclass(frozen=True)
class TaskType:
    target: str          # site | platform | server
    kind: str            # install, verify, backup, ...
    label: str           # the button and the task page's title
    deadline: int        # seconds, overridable with HARBORMASTER_DEADLINES
    idempotent: bool     # safe to run again from the start when its worker is lost
    role: str            # ADMIN | MANAGER | MEMBER: who may start it (the retry too)
    quota: str           # NO_QUOTA | GROWS_DISK | ADDS_SITE
    form: Any            # the argument form class, or its dotted path (hosting.forms)
    refusal: Any         # (Situation, kind) -> why it cannot run now, "" when it can
    build: Any           # (Task) -> Plan: the operation builder (hosting.operations.*)
    arguments: bool = False  # the button opens a form for arguments
    confirm: bool = False    # the button opens a confirmation page (it destroys or interrupts)
    danger: bool = False     # it destroys: the target's name is typed to confirm
    explain: str = ""        # what the confirmation or arguments page says it will do
    revives: bool = False    # it runs on a deleted record (a deleted site brought back)
    button: bool = True      # a button on the target's page (False: started from elsewhere, as a build)

    @property
    def key(self) -> str:
        return f"{self.target}.{self.kind}"

    @property
    def page(self) -> bool:
        """Its button opens a page (arguments or a confirmation) instead of queuing at once."""
        return self.arguments or self.confirm

    def form_class(self) -> Any:
        return resolve(self.form)

    def refusal_rule(self) -> Any:
        return resolve(self.refusal)

    def builder(self) -> Any:
        return resolve(self.build)


def resolve(value: Any) -> Any:
    """VALUE itself, or the object its dotted path ("module.name") names."""
    return _imported(value) if isinstance(value, str) else value


@cache
def _imported(path: str) -> Any:
    module, _, name = path.rpartition(".")
    return getattr(import_module(module), name)


TYPES: dict[str, TaskType] = {}


def register(entry: TaskType) -> TaskType:
    if entry.key in TYPES:
        raise ValueError(f"task type {entry.key} is declared twice")
    TYPES[entry.key] = entry
    return entry


@contextmanager
def registered(entry: TaskType) -> Iterator[TaskType]:
    """ENTRY in the catalogue for the duration (a test's own task type)."""
    register(entry)
    try:
        yield entry
    finally:
        TYPES.pop(entry.key, None)


def task_type(target: str, kind: str) -> TaskType:
    try:
        return TYPES[f"{target}.{kind}"]
    except KeyError:
        raise ValueError(f"unknown task type {kind!r} for a {target}; known: {', '.join(kinds_for(target))}") from None


def kinds_for(target: str) -> list[str]:
    return [t.kind for t in TYPES.values() if t.target == target]


def target_type_of(target: object) -> str:
    """"site", "platform" or "server" for a node record (by its model's name)."""
    name = type(target).__name__.lower()
    if name not in TARGETS:
        raise TypeError(f"cannot run a task on {target!r}")
    return name


from hosting.catalogue import entries  # noqa: E402  (registers the declared types)

DEFAULT_DEADLINES: dict[str, int] = {key: t.deadline for key, t in TYPES.items()}
__all__ = ["TYPES", "TaskType", "entries", "kinds_for", "register", "registered", "task_type"]
