from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from hosting.models import ApiToken, AuditEvent
from hosting.models.api import digest


def test_it_stores_only_the_hash_and_a_prefix(member):
    token, secret = ApiToken.issue(member, "ci", "read")
    prefix, _, raw = secret.partition(".")
    assert token.prefix == prefix and token.token_hash == digest(raw)
    assert raw not in str(ApiToken.objects.filter(pk=token.pk).values().get())


def test_it_refuses_an_expired_token(api_as, member, site):
    http = api_as(member, expires_at=timezone.now() - timedelta(seconds=1))
    response = http.get("/api/v1/sites")
    assert response.status_code == 401 and response.json()["code"] == "unauthenticated"


def test_it_accepts_a_token_until_it_expires(api_as, member, site):
    assert api_as(member, expires_at=timezone.now() + timedelta(hours=1)).get("/api/v1/sites").status_code == 200


def test_it_refuses_a_revoked_token(api_as, member, site):
    http = api_as(member)
    ApiToken.objects.filter(pk=http.token.pk).update(revoked_at=timezone.now())
    assert http.get("/api/v1/sites").status_code == 401


def test_it_refuses_a_wrong_secret_with_a_known_prefix(client, member):
    token, _secret = ApiToken.issue(member, "ci", "read")
    response = client.get("/api/v1/sites", HTTP_AUTHORIZATION=f"Bearer {token.prefix}.wrong")
    assert response.status_code == 401


def test_it_shows_a_new_token_once_and_audits_it(as_member, member):
    response = as_member.post(reverse("token-list"), {"name": "ci-deploy", "scope": "write", "expires": "30"})
    secret = response.context["secret"]
    assert secret.startswith("hm_") and secret in response.content.decode()
    assert secret not in as_member.get(reverse("token-list")).content.decode()
    token = ApiToken.objects.get(user=member)
    assert token.scope == "write" and token.expires_at > timezone.now() + timedelta(days=29)
    assert AuditEvent.objects.filter(action="token.created", actor=member).exists()


def test_it_revokes_only_the_users_own_tokens(as_member, as_outsider, member):
    token, _ = ApiToken.issue(member, "ci", "read")
    assert as_outsider.post(reverse("token-revoke", args=[token.pk])).status_code == 404
    as_member.post(reverse("token-revoke", args=[token.pk]))
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_it_lists_only_the_users_own_tokens(as_outsider, member):
    ApiToken.issue(member, "members-token", "read")
    assert "members-token" not in as_outsider.get(reverse("token-list")).content.decode()
