"""Starting a task: the one entry point that the panel's task pages, the API, the command line,
the schedules, batch jobs and the retry control all call, so that every start is held to every
rule a fresh start from the panel is held to. Each rule comes from the type's entry in
hosting.catalogue.

`start_task(actor, target, kind, data)`:
1. reads the target again (its client now, not when an old task was created);
2. checks that ACTOR may start KIND on it (the type's role, hosting.access.may_queue);
3. refuses what cannot run now, with the words of the disabled button (the type's refusal);
4. validates DATA with the type's argument form: the same choices the panel offers (platforms
   open to the client, backups ACTOR may see), and the typed name for a delete;
5. records and dispatches it (hosting.actions.queue_task: the type's quota effect, audit,
   hand-over on commit).

ACTOR is a user, or an operator (hosting.actor: the command line, the scheduler) who may start
anything and sees everything. The panel's buttons come from here too (`buttons`), so a button is
shown, disabled or missing by the same rules that start_task applies."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import QueryDict

from hosting import access
from hosting.actions import queue_task
from hosting.actor import Actor, is_operator, operator_or_user
from hosting.catalogue import TaskType, kinds_for, target_type_of, task_type
from hosting.catalogue.situation import Situation
from hosting.models import Platform, Server, Site, Task
from hosting.refused import TaskRefused

Target = Site | Platform | Server
CONFIRM_FIELD = "confirm"
viewer = operator_or_user


class ArgumentsInvalid(Exception):
    """DATA does not hold valid arguments for the task; FORM carries the errors by field."""

    def __init__(self, form: forms.Form) -> None:
        self.form = form
        super().__init__(describe_errors(form))


def describe_errors(form: forms.BaseForm) -> str:
    # An ErrorList yields its messages as text (the stubs say ValidationError too): str() changes nothing.
    def text(errors: Iterable[object]) -> str:
        return " ".join(map(str, errors))

    return "; ".join(f"{k}: {text(v)}" if k != "__all__" else text(v) for k, v in form.errors.items())


def typed_confirmation(target_type: str, kind: str) -> bool:
    """Does KIND need the target's name typed to confirm it (delete)?"""
    return task_type(target_type, kind).danger


def current(target: Target) -> Target:
    """TARGET as the database holds it now (a moved site has a new client)."""
    related = {Site: ("platform__server", "client"), Platform: ("server",), Server: ()}[type(target)]
    return type(target).objects.select_related(*related).get(pk=target.pk)


def may_start(by: Actor, target: Target, kind: str) -> bool:
    return is_operator(by) or access.may_queue(by, target, kind)


def _bound(data: Mapping[str, Any] | None) -> QueryDict | None:
    if data is None or isinstance(data, QueryDict):
        return data
    bound = QueryDict(mutable=True)
    for key, value in data.items():
        bound[str(key)] = "" if value is None else str(value)
    return bound


def task_form(by: Actor, target: Target, kind: str, data: Mapping[str, Any] | None,
              initial: Mapping[str, Any] | None = None) -> forms.Form:
    """The type's argument form for KIND on TARGET, bound to DATA (None: unbound, to show, with
    INITIAL choices: a link's preselected backup)."""
    form_class = task_type(target_type_of(target), kind).form_class()
    form = form_class(_bound(data), target=target, viewer=viewer(by))
    if data is None and initial:
        form.initial.update({k: v for k, v in initial.items() if k in form.fields})
    return form


def refusal(by: Actor, target: Target, kind: str, situation: Situation | None = None) -> str:
    """Why KIND cannot run on TARGET now (the disabled button's reason), or ""."""
    situation = situation or Situation(viewer(by), target)
    return task_type(situation.target_type, kind).refusal_rule()(situation, kind)


@dataclass(frozen=True)
class Button:
    """A task type's button on a node's page; REASON says why it cannot run now."""

    type: TaskType
    reason: str = ""

    @property
    def kind(self) -> str:
        return self.type.kind

    @property
    def label(self) -> str:
        return self.type.label

    @property
    def key(self) -> str:
        return self.type.key

    @property
    def page(self) -> bool:
        return self.type.page

    @property
    def danger(self) -> bool:
        return self.type.danger

    @property
    def explain(self) -> str:
        return self.type.explain


def buttons(by: Actor, situation: Situation) -> list[Button]:
    """A button for every task type of the situation's target that BY may start, each with its
    refusal. Types BY may never start are left out rather than disabled."""
    target = situation.target
    deleted = getattr(target, "status", "") == "deleted"
    return [Button(task_type(situation.target_type, kind), refusal(by, target, kind, situation))
            for kind in kinds_for(situation.target_type)
            if may_start(by, target, kind) and task_type(situation.target_type, kind).revives == deleted
            and task_type(situation.target_type, kind).button]


def button(by: Actor, target: Target, kind: str) -> Button:
    """KIND's button on TARGET, with its refusal (reading only what that rule asks)."""
    return Button(task_type(target_type_of(target), kind), refusal(by, target, kind))


def _arguments(form: forms.Form) -> dict[str, Any]:
    task_args = getattr(form, "task_args", None)
    return task_args() if task_args else {}


def _extras(data: Mapping[str, Any], form: forms.Form) -> dict[str, Any]:
    """What DATA holds beside the form's fields (the confirmation never kept)."""
    return {k: v for k, v in data.items() if k not in form.fields and k != CONFIRM_FIELD}


def start_task(by: Actor, target: Target, kind: str, data: Mapping[str, Any], *, address: str | None = None,
               retry_of: Task | None = None, audited: bool = True) -> Task:
    """Start KIND on TARGET for BY with the arguments in DATA (see the module docstring).
    AUDITED False is for the cron scheduler only (hosting.cron audits its runs once a tick).
    Raises ValueError (an unknown type), PermissionDenied, TaskRefused (and its QuotaExceeded)
    or ArgumentsInvalid; nothing is written then."""
    known = task_type(target_type_of(target), kind)
    target = current(target)
    if getattr(target, "status", "") == "deleted" and not known.revives:
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
        # operations, a scheduled backup's kind) go with the retry as they were; those it knows
        # were checked again above.
        args = {**_extras(retry_of.args or {}, form), **args}
    elif is_operator(by):
        args = {**_extras(data, form), **args}
    return queue_task(target, kind, by=by, args=args, address=address, retry_of=retry_of, audited=audited)
