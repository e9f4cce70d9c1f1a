"""The audit trail: filter by client, user, object and dates; export as CSV. Scoped by
hosting.access.audit_events: nobody sees another client's events."""
from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import datetime, time, timedelta

from django import forms
from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone

from hosting import access
from hosting.csvsafe import Echo, csv_safe
from hosting.machine import dumps, iso
from hosting.models import AuditEvent
from hosting.views.common import AuthenticatedHttpRequest, paginate, render_page

CSV_FIELDS = ["at", "actor", "action", "object_type", "object_id", "object", "client", "address", "detail",
              "before", "after"]


class AuditFilterForm(forms.Form):
    client = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    user = forms.CharField(required=False, max_length=150, widget=forms.TextInput(attrs={"placeholder": "username"}))
    object = forms.CharField(required=False, max_length=300, label="Object",
                             widget=forms.TextInput(attrs={"placeholder": "site:42 or a name", "type": "search"}))
    action = forms.CharField(required=False, max_length=64, widget=forms.TextInput(attrs={"placeholder": "task.cancel"}))
    since = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, clients: list[tuple[int, str]], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["client"].choices = [("", "any client"), *clients]

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
    return render_page(request, "audit/list.html", {"form": form, "page": page, "export_query": page.query},
                       parts=("results",))


def _csv_rows(events: QuerySet[AuditEvent]) -> Iterator[str]:
    writer = csv.writer(Echo())
    yield writer.writerow(CSV_FIELDS)
    for e in events.select_related("client").iterator(chunk_size=2000):
        # Before and after as JSON (not Python's repr): a script reads them back.
        yield writer.writerow([
            iso(e.at), csv_safe(e.actor_label), e.action, e.object_type, e.object_id,
            csv_safe(e.object_label), e.client.name if e.client else "", e.address or "", csv_safe(e.detail),
            csv_safe(dumps(e.before) if e.before is not None else ""), csv_safe(dumps(e.after) if e.after is not None else ""),
        ])


@login_required
def audit_export(request: AuthenticatedHttpRequest) -> StreamingHttpResponse:
    _form, events = _filtered(request)
    response = StreamingHttpResponse(_csv_rows(events), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-{timezone.now():%Y%m%d-%H%M%S}.csv"'
    return response
