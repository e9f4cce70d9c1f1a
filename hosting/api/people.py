"""People, for administrators: every account with its clients and roles (hosting.people)."""
from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Router, Schema

from hosting import access, people
from hosting.api.common import Cursor, PageNumber, PerPage, Search, page_schema, paged, responses

router = Router()


class ClientRoleOut(Schema):
    client: str
    role: str


class UserOut(Schema):
    id: int
    username: str
    email: str
    is_staff: bool
    is_superuser: bool
    clients: list[ClientRoleOut]
    last_login: datetime | None
    is_active: bool


@router.get("/users", response=responses(page_schema(UserOut)), tags=["people"])
def list_users(request: HttpRequest, q: Search = "", page: PageNumber = 1, per_page: PerPage = 50,
               cursor: Cursor = ""):
    """Administrators only: every account, its e-mail, staff/superuser, clients with roles, last
    login and whether it is active. Others get 403."""
    access.require_admin(request.user)
    return paged(people.people(q), page, per_page, cursor, people.person)
