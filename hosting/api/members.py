"""A client's people: its members (to read), and invitations (its managers and administrators).
Nobody adds an existing account: people join by accepting an invitation (hosting.invitations);
the answer to an invitation is the same whether or not the address has an account."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Router, Schema, Status

from hosting import access, invitations
from hosting.api.auth import ApiProblem
from hosting.api.common import (
    Cursor,
    Error,
    Id,
    PageNumber,
    PerPage,
    address,
    page_schema,
    paged,
    responses,
)

router = Router()


class MemberOut(Schema):
    id: int
    user: str
    role: str
    since: datetime


class InvitationIn(Schema):
    email: str
    role: Literal["manager", "member", "viewer"] = "member"


class InvitationOut(Schema):
    email: str
    role: str
    expires_at: datetime


def _member_out(m: Any) -> dict[str, Any]:
    return {"id": m.pk, "user": m.user.get_username(), "role": m.role, "since": m.created_at}


@router.get("/clients/{client_id}/members", response=responses(page_schema(MemberOut)), tags=["clients"])
def list_members(request: HttpRequest, client_id: Id, page: PageNumber = 1, per_page: PerPage = 50,
               cursor: Cursor = ""):
    client = access.access_client(request.user, client_id)
    members = client.memberships.select_related("user").order_by("user__username", "id")
    return paged(members, page, per_page, cursor, _member_out)


@router.post("/clients/{client_id}/invitations", response={**responses(InvitationOut, 202), 503: Error},
             tags=["clients"])
def create_invitation(request: HttpRequest, client_id: Id, payload: InvitationIn):
    """The client's managers and administrators: e-mail an invitation to join the client with
    ROLE. The link goes only to the address; the answer is the same whether or not it has an
    account here."""
    client = access.access_client(request.user, client_id)
    if not access.may_manage_members(request.user, client):
        raise access.PermissionDenied("Only the client's managers and administrators invite people.")
    try:
        invitation, _token = invitations.invite(client, payload.email, payload.role, by=request.user,
                                                address=address(request))
    except invitations.MailNotSent as exc:
        raise ApiProblem(str(exc), code="mail_not_sent", status=503) from None
    except invitations.InvitationError as exc:
        raise ApiProblem(str(exc)) from None
    return Status(202, {"email": invitation.email, "role": invitation.role, "expires_at": invitation.expires_at})
