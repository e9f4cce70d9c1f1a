"""Starting a task for someone: the one function that the panel's task pages, the API, the
command line and the retry control all call, so that a retry is held to every rule a fresh
start is held to.

`start_task(by, target, kind, data)`:
1. reads the target again (its client now, not when an old task was created);
2. checks that BY may start KIND on it (hosting.access.may_queue: the role rule);
3. refuses what cannot run now, with the panel's words (hosting.views.availability, the reason
   on a disabled button);
4. validates DATA with the panel's argument form for the type: the same choices (platforms
   open to the client, backups BY may see), and the typed name for a delete;
5. records and dispatches it (hosting.actions.queue_task: quotas, audit, hand-over).

BY is a user, or a string naming a trusted operator (the command line, "cli:<login>"), who may
start anything and sees everything. Issue 14 turns this into the task catalogue's start_task."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import QueryDict

from hosting import access
from hosting.actions import TaskRefused, queue_task
from hosting.models import Platform, Server, Site, Task
from hosting.tasktypes import task_type

Target = Site | Platform | Server
CONFIRM_FIELD = "confirm"


class ArgumentsInvalid(Exception):
    """DATA does not hold valid arguments for the task; FORM carries the errors by field."""

    def __init__(self, form: forms.Form) -> None:
        self.form = form
        super().__init__(describe_errors(form))


class Operator:
    """What a trusted operator (the command line) looks like to hosting.access: an
    administrator who sees every object. Never a request's user."""

    is_authenticated = True
    is_active = True
    is_staff = True
    is_superuser = True
    pk = None

    def __init__(self, name: str) -> None:
        self.name = name

    def get_username(self) -> str:
        return self.name


def viewer(by: Any) -> Any:
    """BY as hosting.access sees it."""
    return Operator(by) if isinstance(by, str) else by


def describe_errors(form: forms.Form) -> str:
    # An ErrorList yields its messages as text (the stubs say ValidationError too): str() changes nothing.
    def text(errors: Iterable[object]) -> str:
        return " ".join(map(str, errors))

    return "; ".join(f"{k}: {text(v)}" if k != "__all__" else text(v) for k, v in form.errors.items())


def target_type_of(target: Target) -> str:
    return {Site: "site", Platform: "platform", Server: "server"}[type(target)]


def typed_confirmation(target_type: str, kind: str) -> bool:
    """Does KIND need the target's name typed to confirm it (delete)?"""
    from hosting.views.availability import DANGER

    return f"{target_type}.{kind}" in DANGER


def current(target: Target) -> Target:
    """TARGET as the database holds it now (a moved site has a new client)."""
    related = {Site: ("platform__server", "client"), Platform: ("server",), Server: ()}[type(target)]
    return type(target).objects.select_related(*related).get(pk=target.pk)


def may_start(by: Any, target: Target, kind: str) -> bool:
    return isinstance(by, str) or access.may_queue(by, target, kind)


def _bound(data: Mapping[str, Any] | None) -> QueryDict | None:
    if data is None or isinstance(data, QueryDict):
        return data
    bound = QueryDict(mutable=True)
    for key, value in data.items():
        bound[str(key)] = "" if value is None else str(value)
    return bound


def task_form(by: Any, target: Target, kind: str, data: Mapping[str, Any] | None) -> forms.Form:
    """The panel's form for KIND on TARGET, bound to DATA (None: unbound, to show)."""
    from hosting.forms import (
        CloneForm,
        MigrateForm,
        RestoreForm,
        SiteDeleteTaskForm,
        SiteTaskForm,
        TypeNameForm,
        VerifyForm,
    )
    from hosting.views.availability import new_site_platforms

    user, bound = viewer(by), _bound(data)
    if isinstance(target, Site):
        if kind == "clone":
            return CloneForm(bound, site=target, platforms=new_site_platforms(user, target.client))
        if kind == "migrate":
            platforms = new_site_platforms(user, target.client, exclude=target.platform)
            return MigrateForm(bound, site=target, platforms=platforms)
        if kind == "restore":
            return RestoreForm(bound, site=target, backups=access.backups(user).filter(site=target))
        if kind == "delete":
            return SiteDeleteTaskForm(bound, site=target)
        if kind == "verify":
            return VerifyForm(bound, site=target)
        return SiteTaskForm(bound, site=target)
    if typed_confirmation(target_type_of(target), kind):
        return TypeNameForm(bound, expected=target.name)
    return forms.Form(bound)


def refusal(by: Any, target: Target, kind: str) -> str:
    """Why KIND cannot run on TARGET now (the panel's disabled-button reason), or ""."""
    from hosting.views import platforms, servers, sites

    module = {Site: sites, Platform: platforms, Server: servers}[type(target)]
    buttons = module.work_context(viewer(by), target)["buttons"]
    return next((b.reason for b in buttons if b.kind == kind), "")


def _arguments(form: forms.Form) -> dict[str, Any]:
    task_args = getattr(form, "task_args", None)
    return task_args() if task_args else {}


def _extras(data: Mapping[str, Any], form: forms.Form) -> dict[str, Any]:
    """What DATA holds beside the form's fields (the confirmation never kept)."""
    return {k: v for k, v in data.items() if k not in form.fields and k != CONFIRM_FIELD}


def start_task(by: Any, target: Target, kind: str, data: Mapping[str, Any], *, address: str | None = None,
               retry_of: Task | None = None) -> Task:
    """Start KIND on TARGET for BY with the arguments in DATA (see the module docstring).
    Raises PermissionDenied, TaskRefused (and its QuotaExceeded) or ArgumentsInvalid; nothing
    is written then."""
    task_type(target_type_of(target), kind)  # ValueError for an unknown type
    target = current(target)
    if getattr(target, "status", "") == "deleted":
        raise TaskRefused(f"The {target_type_of(target)}'s record is deleted.")
    if not may_start(by, target, kind):
        raise PermissionDenied("You may not start this task.")
    reason = refusal(by, target, kind)
    if reason:
        raise TaskRefused(reason)
    form = task_form(by, target, kind, data)
    if not form.is_valid():
        raise ArgumentsInvalid(form)
    args = _arguments(form)
    if retry_of is not None:
        # The stored arguments the form does not know (the command line's hooks for scripted
        # operations) go with the retry as they were; those it knows were checked again above.
        args = {**_extras(retry_of.args or {}, form), **args}
    elif isinstance(by, str):
        args = {**_extras(data, form), **args}
    return queue_task(target, kind, by=by, args=args, address=address, retry_of=retry_of)
