"""The people of the instance, as administrators see them: every account with its e-mail,
whether it is staff or superuser, the clients it belongs to with its role in each, its last
login and whether it may log in. One shape for the panel's list, the API and `manage.py users`."""
from __future__ import annotations

from datetime import datetime
from typing import Any, TypedDict

from django.contrib.auth import get_user_model
from django.db.models import Prefetch, Q, QuerySet

from hosting.models import Membership


class Person(TypedDict):
    id: int
    username: str
    email: str
    is_staff: bool
    is_superuser: bool
    clients: list[dict[str, str]]   # [{"client": name, "role": role}], by client name
    last_login: datetime | None
    is_active: bool


def people(q: str = "") -> QuerySet[Any]:
    """Every account (administrators only: callers check), by username, with its memberships
    read in one more query."""
    users = get_user_model().objects.order_by("username", "id")
    if q:
        users = users.filter(Q(username__icontains=q) | Q(email__icontains=q))
    memberships = Membership.objects.select_related("client").order_by("client__name")
    return users.prefetch_related(Prefetch("memberships", queryset=memberships))


def person(user: Any) -> Person:
    return {
        "id": user.pk, "username": user.get_username(), "email": user.email,
        "is_staff": user.is_staff, "is_superuser": user.is_superuser,
        "clients": [{"client": m.client.name, "role": m.role} for m in user.memberships.all()],
        "last_login": user.last_login, "is_active": user.is_active,
    }


def account_with_email(email: str) -> Any:
    """The active account whose e-mail is EMAIL (case ignored), or None."""
    return get_user_model().objects.filter(email__iexact=email, is_active=True).order_by("pk").first()
