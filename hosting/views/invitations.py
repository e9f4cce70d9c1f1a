"""The page an invitation's link opens (no login needed to see it): a logged-in person accepts
into the client with their account; anyone else logs in first, or chooses a username and a
password there, which creates their account with the invited address."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.forms import UserCreationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache

from hosting import invitations, people
from hosting.views.common import client_address

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def _gone(request: HttpRequest) -> HttpResponse:
    return render(request, "invitations/invalid.html", status=404)


@never_cache
def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    invitation = invitations.find(token)
    if invitation is None:
        return _gone(request)
    context: dict[str, Any] = {"invitation": invitation, "client": invitation.client}
    if request.user.is_authenticated:
        if request.method == "POST":
            try:
                membership = invitations.accept(invitation, request.user, address=client_address(request))
            except invitations.InvitationError:
                return _gone(request)
            messages.success(request, f"You are {membership.get_role_display().lower()} of {invitation.client} now.")
            return redirect("client-detail", client_id=invitation.client_id)
        return render(request, "invitations/accept.html", context)
    if people.account_with_email(invitation.email) is not None:
        # The invited address has an account: a second one with the same address would leave
        # two logins for one person (and two password resets). The reader of the link holds
        # the mailbox, so saying so tells them nothing they could not find out themselves.
        context["has_account"] = True
        status = 400 if request.method == "POST" else 200
        return render(request, "invitations/accept.html", context, status=status)
    form: UserCreationForm[User] = UserCreationForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            user = invitations.accept_as_new(invitation, form.cleaned_data["username"],
                                             form.cleaned_data["password1"], address=client_address(request))
        except invitations.InvitationError as exc:
            form.add_error(None, str(exc))
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, f"Welcome, {user.get_username()}: you are "
                                      f"{invitation.get_role_display().lower()} of {invitation.client}.")
            return redirect("client-detail", client_id=invitation.client_id)
    status = 400 if request.method == "POST" else 200
    return render(request, "invitations/accept.html", {**context, "form": form}, status=status)
