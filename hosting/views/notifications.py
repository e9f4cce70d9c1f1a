"""Each user's choice of the events they are emailed about (hosting.notify reads it)."""
from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render

from hosting import audit
from hosting.models import NotificationPreference
from hosting.models.ops import EVENTS
from hosting.views.common import AuthenticatedHttpRequest, client_address


class NotificationForm(forms.Form):
    events = forms.MultipleChoiceField(choices=EVENTS, required=False, widget=forms.CheckboxSelectMultiple,
                                       label="Email me when")


@login_required
def notification_preferences(request: AuthenticatedHttpRequest) -> HttpResponse:
    pref = NotificationPreference.objects.filter(user=request.user).first()
    # No row yet: administrators get every event, others none (hosting.notify.recipients).
    current = pref.events if pref else ([n for n, _ in EVENTS] if request.user.is_superuser else [])
    form = NotificationForm(request.POST or None, initial={"events": current})
    if request.method == "POST" and form.is_valid():
        chosen = form.cleaned_data["events"]
        NotificationPreference.objects.update_or_create(user=request.user, defaults={"events": chosen})
        audit.record(request.user, "notifications.changed", None, before={"events": current},
                     after={"events": chosen}, address=client_address(request))
        messages.success(request, "Your notification choices are saved.")
        return redirect("notification-preferences")
    return render(request, "account/notifications.html", {
        "form": form, "email": request.user.email, "has_row": pref is not None})
