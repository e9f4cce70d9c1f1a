"""Each user chooses the events they are emailed about; the choice drives hosting.notify."""
from __future__ import annotations

from django.urls import reverse

from hosting.models import AuditEvent, NotificationPreference
from hosting.notify import Event, recipients


def test_it_shows_an_admin_every_event_chosen_by_default(client, admin_user):
    client.force_login(admin_user)
    page = client.get(reverse("notification-preferences")).content.decode()
    assert page.count("checked") == 4


def test_it_saves_a_members_choice_and_notify_follows_it(client, member, acme):
    client.force_login(member)
    event = Event(event="task.failed", task=1, type="site.backup", target="a.example.test", state="failed",
                  summary="", url="", time="2026-01-01T00:00:00Z", client=acme.name)
    assert member.email not in recipients(event)
    response = client.post(reverse("notification-preferences"), {"events": ["task.failed"]})
    assert response.status_code == 302
    assert NotificationPreference.objects.get(user=member).events == ["task.failed"]
    assert member.email in recipients(event)
    assert AuditEvent.objects.filter(action="notifications.changed", actor=member).exists()


def test_it_refuses_an_unknown_event(client, member):
    client.force_login(member)
    response = client.post(reverse("notification-preferences"), {"events": ["task.exploded"]})
    assert response.status_code == 200 and "not one of the available choices" in response.content.decode()
    assert not NotificationPreference.objects.exists()


def test_it_needs_a_login(client):
    assert client.get(reverse("notification-preferences")).status_code == 302
