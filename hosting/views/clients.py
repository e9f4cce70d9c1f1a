"""Clients: the list with quota use, a client's page (members, quotas, sites), inviting people
by e-mail and removing members (the client's managers and administrators). Nobody adds an
existing account to a client: people join by accepting an invitation (hosting.invitations)."""
from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from hosting import access, invitations, quotas
from hosting.actions import remove_member
from hosting.models import Membership
from hosting.views.common import (
    AuthenticatedHttpRequest,
    client_address,
    paginate,
    render_page,
)


class InviteForm(forms.Form):
    email = forms.EmailField(label="E-mail address", max_length=254,
                             help_text="They get a link to join, with their account or a new one.")
    role = forms.ChoiceField(choices=Membership.ROLES, initial=Membership.MEMBER)


@login_required
def client_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    page = paginate(access.clients(request.user).order_by("name"), request.GET)
    usage = quotas.usage_of(page.rows)
    rows = [{"client": c, "usage": usage[c.pk], "role": access.role(request.user, c.pk)} for c in page.rows]
    return render_page(request, "clients/list.html", {"page": page, "rows": rows})


def _detail_context(request: AuthenticatedHttpRequest, client, form: InviteForm | None = None) -> dict:
    manage = access.may_manage_members(request.user, client)
    return {
        "client": client, "usage": quotas.usage(client), "manage": manage,
        "role": access.role(request.user, client.pk),
        "members": client.memberships.select_related("user").order_by("user__username"),
        "sites": access.sites(request.user).filter(client=client).select_related("platform").order_by("domain")[:50],
        "form": form or (InviteForm() if manage else None),
        "invitations": invitations.pending(client) if manage else [],
    }


@login_required
def client_detail(request: AuthenticatedHttpRequest, client_id: int) -> HttpResponse:
    client = access.access_client(request.user, client_id)
    return render(request, "clients/detail.html", _detail_context(request, client))


def _managed(request: AuthenticatedHttpRequest, client_id: int):
    client = access.access_client(request.user, client_id)   # 404 for another client's id
    if not access.may_manage_members(request.user, client):
        raise PermissionDenied("Only the client's managers and administrators manage its members.")
    return client


@login_required
@require_POST
def client_invite(request: AuthenticatedHttpRequest, client_id: int) -> HttpResponse:
    client = _managed(request, client_id)
    form = InviteForm(request.POST)
    if form.is_valid():
        email, role = form.cleaned_data["email"], form.cleaned_data["role"]
        try:
            invitations.invite(client, email, role, by=request.user, address=client_address(request))
        except invitations.InvitationError as exc:
            form.add_error(None, str(exc))
        else:
            # The same words whether or not the address has an account here.
            messages.success(request, f"Invitation sent to {email} ({dict(Membership.ROLES)[role].lower()}).")
            return redirect("client-detail", client_id=client.pk)
    return render(request, "clients/detail.html", _detail_context(request, client, form), status=400)


@login_required
@require_POST
def invitation_revoke(request: AuthenticatedHttpRequest, client_id: int, invitation_id: int) -> HttpResponse:
    client = _managed(request, client_id)
    invitation = invitations.pending(client).filter(pk=invitation_id).first()
    if invitation is None:
        raise Http404("No such invitation.")
    invitations.revoke(invitation, by=request.user, address=client_address(request))
    messages.success(request, f"The invitation of {invitation.email} is revoked.")
    return redirect("client-detail", client_id=client.pk)


@login_required
@require_POST
def member_remove(request: AuthenticatedHttpRequest, client_id: int, membership_id: int) -> HttpResponse:
    client = _managed(request, client_id)
    membership = client.memberships.select_related("user").filter(pk=membership_id).first()
    if membership is None:
        raise Http404("No such member.")
    try:
        remove_member(membership, by=request.user, address=client_address(request))
    except PermissionDenied as exc:
        messages.error(request, str(exc))
        return redirect("client-detail", client_id=client.pk)
    messages.success(request, f"{membership.user.username} removed from {client.name}.")
    return redirect("client-detail", client_id=client.pk)
