"""Clients: the list with quota use, a client's page (members, quotas, sites), and adding and
removing members (the client's managers and administrators)."""
from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from hosting import access, audit, quotas
from hosting.models import Membership
from hosting.views.common import AuthenticatedHttpRequest, client_address, paginate, render_page


class MemberForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Membership.ROLES, initial=Membership.MEMBER)

    def clean_username(self):
        # Any existing account may be added; the answer for an unknown name does not say more.
        user = get_user_model().objects.filter(username=self.cleaned_data["username"].strip(), is_active=True).first()
        if user is None:
            raise forms.ValidationError("No active user has this name.")
        return user


@login_required
def client_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    page = paginate(access.clients(request.user).order_by("name"), request.GET)
    usage = quotas.usage_of(page.rows)
    rows = [{"client": c, "usage": usage[c.pk], "role": access.role(request.user, c.pk)} for c in page.rows]
    return render_page(request, "clients/list.html", {"page": page, "rows": rows})


def _detail_context(request: AuthenticatedHttpRequest, client, form: MemberForm | None = None) -> dict:
    manage = access.may_manage_members(request.user, client)
    return {
        "client": client, "usage": quotas.usage(client), "manage": manage,
        "role": access.role(request.user, client.pk),
        "members": client.memberships.select_related("user").order_by("user__username"),
        "sites": access.sites(request.user).filter(client=client).select_related("platform").order_by("domain")[:50],
        "form": form or (MemberForm() if manage else None),
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
def member_add(request: AuthenticatedHttpRequest, client_id: int) -> HttpResponse:
    client = _managed(request, client_id)
    form = MemberForm(request.POST)
    if form.is_valid():
        user, role = form.cleaned_data["username"], form.cleaned_data["role"]
        try:
            with transaction.atomic():
                membership = Membership.objects.create(client=client, user=user, role=role)
                audit.record(request.user, "member.added", client, address=client_address(request),
                             after={"user": user.username, "role": role}, detail=str(membership))
        except IntegrityError:
            form.add_error("username", f"{user.username} is a member of {client.name} already.")
        else:
            messages.success(request, f"{user.username} added to {client.name} as {membership.get_role_display()}.")
            return redirect("client-detail", client_id=client.pk)
    return render(request, "clients/detail.html", _detail_context(request, client, form), status=400)


@login_required
@require_POST
def member_remove(request: AuthenticatedHttpRequest, client_id: int, membership_id: int) -> HttpResponse:
    client = _managed(request, client_id)
    membership = client.memberships.select_related("user").filter(pk=membership_id).first()
    if membership is None:
        raise Http404("No such member.")
    if membership.user_id == request.user.pk and not access.is_admin(request.user):
        # A manager cannot lock themselves out by accident; another manager or an admin can.
        messages.error(request, "You cannot remove yourself; ask another manager or an administrator.")
        return redirect("client-detail", client_id=client.pk)
    with transaction.atomic():
        audit.record(request.user, "member.removed", client, address=client_address(request),
                     before={"user": membership.user.username, "role": membership.role})
        membership.delete()
    messages.success(request, f"{membership.user.username} removed from {client.name}.")
    return redirect("client-detail", client_id=client.pk)
