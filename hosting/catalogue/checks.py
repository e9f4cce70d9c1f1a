"""The catalogue is complete before anything runs: every type has each of its parts, and what
each part names exists and has the shape its users expect (hosting.checks registers this)."""
from __future__ import annotations

import inspect
from typing import Any

from django.core.checks import Error

from hosting.catalogue import QUOTA_EFFECTS, ROLES, TARGETS, TYPES, TaskType, resolve


def _callable_with(value: Any, count: int) -> bool:
    try:
        params = inspect.signature(value).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) == count or any(p.kind == p.VAR_POSITIONAL for p in params)


def _part(entry: TaskType, field: str) -> tuple[Any, str]:
    try:
        return resolve(getattr(entry, field)), ""
    except (ImportError, AttributeError, ValueError) as exc:
        return None, f"its {field} {getattr(entry, field)!r} cannot be imported ({exc})"


def entry_problems(entry: TaskType) -> list[str]:
    """What is missing or wrong in ENTRY, in words."""
    from django import forms

    found = []
    if entry.target not in TARGETS:
        found.append(f"its target {entry.target!r} is none of {', '.join(TARGETS)}")
    if not entry.kind or not entry.label:
        found.append("it has no kind or no label")
    if not isinstance(entry.deadline, int) or entry.deadline <= 0:
        found.append(f"its deadline {entry.deadline!r} is not a positive number of seconds")
    if entry.role not in ROLES:
        found.append(f"its role {entry.role!r} is none of {', '.join(ROLES)}")
    if entry.target != "site" and entry.role != "admin":
        found.append("only administrators may start platform and server tasks (role must be admin)")
    if entry.quota not in QUOTA_EFFECTS:
        found.append(f"its quota effect {entry.quota!r} is none of {', '.join(QUOTA_EFFECTS)}")
    if entry.danger and not entry.confirm:
        found.append("it is dangerous but asks for no confirmation")
    if entry.page and not entry.explain:
        found.append("its button opens a page, but it says nothing there (explain)")
    form, why = _part(entry, "form")
    if why:
        found.append(why)
    elif not (inspect.isclass(form) and issubclass(form, forms.Form) and hasattr(form, "task_args")):
        found.append(f"its form {entry.form!r} is not a form class with task_args()")
    elif entry.danger and "confirm" not in form.base_fields:
        found.append(f"it is dangerous, but its form {entry.form!r} asks for no typed confirmation")
    for field, count in (("refusal", 2), ("build", 1)):
        value, why = _part(entry, field)
        if why:
            found.append(why)
        elif not _callable_with(value, count):
            found.append(f"its {field} {getattr(entry, field)!r} does not take {count} argument(s)")
    return found


def catalogue_errors() -> list[Error]:
    from hosting.operations import extra_operations

    errors = [Error(f"Task type {entry.key}: {problem}.", id="harbormaster.E020")
              for entry in TYPES.values() for problem in entry_problems(entry)]
    for key in extra_operations():
        if key not in TYPES:
            errors.append(Error(f"HARBORMASTER_EXTRA_OPERATIONS has an operation for {key}, which the catalogue "
                                "does not declare.", id="harbormaster.E021"))
    return errors
