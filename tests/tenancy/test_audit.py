from datetime import timedelta
from unittest import mock

from django.urls import reverse
from django.utils import timezone

from hosting import audit
from hosting.models import AuditEvent
from tests.tenancy.conftest import body_text


def test_it_filters_by_client_user_object_and_date(as_admin, member, outsider, site, globex_site, acme):
    audit.record(member, "site.note", site, detail="mine")
    audit.record(outsider, "site.note", globex_site, detail="theirs")
    # Events are append-only (no backdating by UPDATE): this one is recorded ten days ago.
    with mock.patch("django.utils.timezone.now", return_value=timezone.now() - timedelta(days=10)):
        audit.record(member, "site.old", site)

    def actions(**query):
        return [e.action for e in as_admin.get(reverse("audit-list"), query).context["page"].rows]

    assert actions(client=acme.pk) == ["site.note", "site.old"]
    assert actions(user="outsider") == ["site.note"]
    assert actions(object=f"site:{globex_site.pk}") == ["site.note"]
    assert actions(since=(timezone.now() - timedelta(days=2)).date().isoformat(), client=acme.pk) == ["site.note"]


def test_it_exports_the_filtered_events_as_csv(as_member, member, site, globex_site, outsider):
    audit.record(member, "site.note", site, detail="=cmd|evil")
    audit.record(outsider, "site.note", globex_site, detail="globex only")
    text = body_text(as_member.get(reverse("audit-export")))
    assert text.splitlines()[0].startswith("at,actor,action")
    assert "'=cmd|evil" in text and "globex only" not in text


def test_it_names_the_token_and_address_of_an_api_change(api_as, member, site):
    api_as(member).post(f"/api/v1/sites/{site.pk}/tasks", {"type": "verify"}, content_type="application/json")
    event = AuditEvent.objects.get(action="task.queued")
    assert (event.actor, event.actor_label, event.address) == (member, "member via token ci-deploy", "203.0.113.9")
