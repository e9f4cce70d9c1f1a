from django.urls import reverse

from hosting.models import AuditEvent, Membership


def test_it_shows_a_client_with_members_and_quota_use(as_member, site, backup, acme):
    acme.max_sites = 5
    acme.save()
    body = as_member.get(reverse("client-detail", args=[acme.pk])).content.decode()
    assert "1 of 5 allowed" in body and "member" in body and "47.0\xa0MB" in body


def test_it_lists_only_the_users_clients(as_member, acme, globex):
    rows = as_member.get(reverse("client-list")).context["rows"]
    assert [r["client"] for r in rows] == [acme]


def test_it_lets_a_manager_invite_and_remove_members_with_an_audit_trail(client, manager, outsider, acme):
    import re

    from django.core import mail

    client.force_login(manager)
    response = client.post(reverse("client-invite", args=[acme.pk]), {"email": outsider.email, "role": "viewer"})
    assert response.status_code == 302
    assert not Membership.objects.filter(client=acme, user=outsider).exists()  # not before accepting
    token = re.search(r"/invitations/([\w-]+)/", mail.outbox[0].body).group(1)
    invitee = client.__class__()
    invitee.force_login(outsider)
    assert invitee.post(reverse("invitation-accept", args=[token])).status_code == 302
    membership = Membership.objects.get(client=acme, user=outsider)
    assert membership.role == "viewer"
    client.post(reverse("client-member-remove", args=[acme.pk, membership.pk]))
    assert not Membership.objects.filter(client=acme, user=outsider).exists()
    assert list(AuditEvent.objects.filter(client=acme).values_list("action", flat=True)) == [
        "member.removed", "member.added", "invitation.accepted", "invitation.sent"]


def test_it_refuses_members_management_to_a_member(as_member, outsider, acme):
    response = as_member.post(reverse("client-invite", args=[acme.pk]), {"email": outsider.email, "role": "manager"})
    assert response.status_code == 403
    assert not Membership.objects.filter(client=acme, user=outsider).exists()


def test_it_keeps_a_manager_from_removing_themselves(client, manager, acme):
    client.force_login(manager)
    mine = Membership.objects.get(user=manager)
    client.post(reverse("client-member-remove", args=[acme.pk, mine.pk]))
    assert Membership.objects.filter(pk=mine.pk).exists()


def test_it_says_what_is_wrong_with_an_address(client, manager, acme):
    client.force_login(manager)
    response = client.post(reverse("client-invite", args=[acme.pk]), {"email": "not an address", "role": "member"})
    assert response.status_code == 400 and "valid email address" in response.content.decode()
