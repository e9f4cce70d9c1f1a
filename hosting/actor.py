"""Who starts work: a person (a request's user, or a token's) or a trusted operator with no
request behind it (the command line, the scheduler, tasks that queue tasks).

Everything that acts for someone (hosting.starting, hosting.actions, hosting.controls,
hosting.audit) takes an `Actor`. A plain string is still accepted where an Actor is and names an
operator ("cli:<login>", "system:schedule"); `operator_or_user` turns it into one."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Union

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser


@dataclass(frozen=True)
class Operator:
    """A trusted operator: to hosting.access an administrator who sees every object. Never a
    request's user: views and API endpoints pass request.user."""

    name: str
    is_authenticated = True
    is_active = True
    is_staff = True
    is_superuser = True
    pk = None

    def get_username(self) -> str:
        return self.name

    def __str__(self) -> str:
        return self.name


SCHEDULER = Operator("system:schedule")
Actor = Union["AbstractBaseUser", "AnonymousUser", Operator, str]


def operator_or_user(by: Actor | None) -> Actor | None:
    """BY as hosting.access sees it: a string becomes the Operator it names."""
    return Operator(by) if isinstance(by, str) else by


def is_operator(by: object) -> bool:
    return isinstance(by, (Operator, str))


def name_of(by: object) -> str:
    """How the audit trail and task logs name BY ("system" for nobody)."""
    if by is None:
        return "system"
    if isinstance(by, str):
        return by
    return str(getattr(by, "get_username", lambda: str(by))())
