"""The audit trail: filter by client, user, object and dates; export as CSV. Scoped by
hosting.access.audit_events: nobody sees another client's events."""
from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import cast

from django import forms
from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone

from hosting import access, csvsafe, shown
from hosting.machine import AUDIT_CSV_FIELDS, audit_csv_rows
from hosting.models import AuditEvent
from hosting.views.common import AuthenticatedHttpRequest, paginate, render_page


class AuditFilterForm(forms.Form):
    client = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    user = forms.CharField(required=False, max_length=150, widget=forms.TextInput(attrs={"placeholder": "username"}))
    object = forms.CharField(required=False, max_length=300, label="Object",
                             widget=forms.TextInput(attrs={"placeholder": "site:42 or a name", "type": "search"}))
    action = forms.CharField(required=False, max_length=64,
                             widget=forms.TextInput(attrs={"placeholder": "task.cancel"}))
    since = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, clients: list[tuple[int, str]], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["client"]).choices = [("", "any client"), *clients]

    def apply(self, events: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
        """Narrow EVENTS (already scoped by hosting.access) by the valid fields."""
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        if data.get("client"):
            events = events.filter(client_id=data["client"])
        if data.get("user"):
            events = events.filter(actor_label__istartswith=data["user"].strip())
        if data.get("object"):
            kind, _, pk = data["object"].strip().partition(":")
            if pk and kind.isidentifier():
                events = events.filter(object_type=kind.lower(), object_id=pk)
            else:
                events = events.filter(object_label__icontains=data["object"].strip())
        if data.get("action"):
            events = events.filter(action__startswith=data["action"].strip())
        zone = timezone.get_current_timezone()
        if data.get("since"):
            events = events.filter(at__gte=datetime.combine(data["since"], time.min, tzinfo=zone))
        if data.get("until"):
            events = events.filter(at__lt=datetime.combine(data["until"] + timedelta(days=1), time.min, tzinfo=zone))
        return events


def _filtered(request: AuthenticatedHttpRequest) -> tuple[AuditFilterForm, QuerySet[AuditEvent]]:
    clients = list(access.clients(request.user).order_by("name").values_list("pk", "name"))
    form = AuditFilterForm(request.GET or None, clients=clients)
    return form, form.apply(access.audit_events(request.user))


@login_required
def audit_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    form, events = _filtered(request)
    page = paginate(events.select_related("client"), request.GET)
    context = {"form": form, "page": page, "export_query": page.query, "internals": access.is_admin(request.user)}
    return render_page(request, "audit/list.html", context, parts=("results",))


@login_required
def audit_export(request: AuthenticatedHttpRequest) -> StreamingHttpResponse:
    _form, events = _filtered(request)
    rows = audit_csv_rows(events, shown.for_user(request.user))
    response = StreamingHttpResponse(csvsafe.lines(AUDIT_CSV_FIELDS, rows),
                                     content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-{timezone.now():%Y%m%d-%H%M%S}.csv"'
    return response
