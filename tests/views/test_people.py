"""People: administrators see every account with its clients and roles; client members get 403."""
from __future__ import annotations

from django.urls import reverse


def test_it_lists_people_with_clients_roles_and_admin_flags(as_admin, member, outsider, django_user_model):
    django_user_model.objects.create_user("gone", "gone@example.test", "x", is_active=False)
    response = as_admin.get(reverse("people-list"))
    assert response.status_code == 200
    text = response.content.decode()
    for word in ("admin@example.test", "superuser", "member@acme.test", "acme</a> (member)",
                 "globex</a> (member)", "never"):
        assert word in text
    rows = {u.username: u for u in response.context["page"].rows}
    assert set(rows) == {"admin", "member", "outsider", "gone"} and not rows["gone"].is_active


def test_it_searches_by_username_or_email(as_admin, member, outsider):
    rows = as_admin.get(reverse("people-list"), {"q": "globex"}).context["page"].rows
    assert [u.username for u in rows] == ["outsider"]


def test_it_is_hidden_from_client_members(as_member):
    assert as_member.get(reverse("people-list")).status_code == 403
    assert b"/people/" not in as_member.get(reverse("dashboard")).content


def test_the_menu_links_it_for_administrators(as_admin):
    assert b'href="/people/"' in as_admin.get(reverse("dashboard")).content
