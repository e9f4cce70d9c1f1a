"""The user's API tokens: create (the secret is shown once), list, revoke."""
from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from hosting.actions import issue_token, revoke_token
from hosting.models import ApiToken
from hosting.views.common import AuthenticatedHttpRequest, client_address

# Shortest first, "Never" last; 30 days stays the default.
EXPIRY = [("7", "7 days"), ("30", "30 days"), ("90", "90 days"), ("365", "1 year"), ("", "Never")]


class TokenForm(forms.Form):
    name = forms.SlugField(max_length=63, help_text="Letters, digits, - and _: e.g. ci-deploy.")
    scope = forms.ChoiceField(choices=ApiToken.SCOPES, initial=ApiToken.READ)
    expires = forms.ChoiceField(choices=EXPIRY, required=False, label="Expires in", initial="30")

    def __init__(self, *args, user, **kwargs) -> None:
        self.user = user
        super().__init__(*args, **kwargs)

    def clean_name(self) -> str:
        name = self.cleaned_data["name"]
        if ApiToken.objects.filter(user=self.user, name=name, revoked_at=None).exists():
            raise forms.ValidationError("You have a token with this name already.")
        return name


@login_required
@never_cache
def token_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    """GET: the tokens and the form. POST: a new token, whose secret this answer shows once."""
    form = TokenForm(request.POST if request.method == "POST" else None, user=request.user)
    secret = None
    if request.method == "POST" and form.is_valid():
        days = form.cleaned_data["expires"]
        expires = timezone.now() + timedelta(days=int(days)) if days else None
        _token, secret = issue_token(request.user, form.cleaned_data["name"], form.cleaned_data["scope"], expires,
                                     address=client_address(request))
        form = TokenForm(user=request.user)
    tokens = ApiToken.objects.filter(user=request.user).order_by("revoked_at", "-created_at")
    context = {"form": form, "tokens": tokens, "secret": secret, "now": timezone.now()}
    return render(request, "account/tokens.html", context, status=400 if form.errors else 200)


@login_required
@require_POST
def token_revoke(request: AuthenticatedHttpRequest, token_id: int) -> HttpResponse:
    # Only the owner's tokens: another user's token id is simply not found.
    token = get_object_or_404(ApiToken, pk=token_id, user=request.user, revoked_at=None)
    revoke_token(token, by=request.user, address=client_address(request))
    messages.success(request, f"Token {token.name} revoked.")
    return redirect("token-list")
