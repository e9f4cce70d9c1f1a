"""The login throttle against a guesser who varies how the username is written, and behind the
documented proxy (nginx to gunicorn on a unix socket, where REMOTE_ADDR is empty)."""
from __future__ import annotations

import pytest
from django.test import Client

from hosting import config
from hosting.clientaddress import resolve
from hosting.models import AuditEvent
from hosting.views.auth import login_name
from tests.security.interfaces_cast import *  # noqa: F401,F403

FAILED = "auth.login-failed"


@pytest.fixture
def bmgr(db, django_user_model):
    return django_user_model.objects.create_user("bmgr", "bmgr@example.test", "bmgr-pass-1")


def _login(browser: Client, username: str, password: str, **extra: str) -> int:
    return browser.post("/login/", {"username": username, "password": password}, **extra).status_code


@pytest.mark.parametrize("variant", [" bmgr", "bmgr\t", "\uff42\uff4d\uff47\uff52", "bmgr\u3000", "\nbmgr "])
def test_it_counts_every_spelling_django_reads_as_the_same_account(bmgr, settings, variant):
    settings.HARBORMASTER_LOGIN_ATTEMPTS = 3
    browser = Client(REMOTE_ADDR="198.51.100.4")
    for guess in (variant, "bmgr", variant):
        assert _login(browser, guess, "wrong") == 200
    # The right password, spelled plainly or as the guesser did: refused without checking it.
    assert _login(browser, "bmgr", "bmgr-pass-1") == 429
    assert _login(browser, variant, "bmgr-pass-1") == 429
    assert set(AuditEvent.objects.filter(action=FAILED).values_list("object_label", flat=True)) == {"bmgr"}


def test_it_reads_names_exactly_as_django_authenticates_them():
    # Stripped and NFKC-normalised, case kept (ModelBackend compares exactly); names the form
    # refuses before checking a password (empty, longer than the user model allows) count nothing.
    assert [login_name(v) for v in (" bmgr\t", "\uff42mgr", "BMGR", "   ", "b" * 151, "\ufb00" * 100)] == \
        ["bmgr", "bmgr", "BMGR", "", "", ""]


def test_it_sees_the_client_behind_nginx_on_the_unix_socket(bmgr, settings):
    """gunicorn on a unix socket: REMOTE_ADDR is empty, nginx's X-Forwarded-For names the client.
    A guesser elsewhere must not lock the real user out."""
    settings.HARBORMASTER_LOGIN_ATTEMPTS = 3
    settings.HARBORMASTER_TRUSTED_PROXIES = ["unix"]
    guesser = Client(REMOTE_ADDR="", HTTP_X_FORWARDED_FOR="203.0.113.66")
    for _ in range(3):
        assert _login(guesser, "bmgr", "wrong") == 200
    assert _login(guesser, "bmgr", "bmgr-pass-1") == 429
    user = Client(REMOTE_ADDR="", HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert _login(user, "bmgr", "bmgr-pass-1") == 302
    assert set(AuditEvent.objects.filter(action=FAILED).values_list("address", flat=True)) == {"203.0.113.66"}


def test_it_believes_no_forwarded_header_from_a_peer_it_does_not_trust(bmgr, settings):
    settings.HARBORMASTER_LOGIN_ATTEMPTS = 3
    settings.HARBORMASTER_TRUSTED_PROXIES = ["unix", "127.0.0.1"]
    for n in range(3):  # a different made-up address each time, straight from the internet
        assert _login(Client(REMOTE_ADDR="198.51.100.9", HTTP_X_FORWARDED_FOR=f"10.9.9.{n}"), "bmgr", "x") == 200
    assert _login(Client(REMOTE_ADDR="198.51.100.9", HTTP_X_FORWARDED_FOR="10.9.9.99"), "bmgr", "bmgr-pass-1") == 429


def test_it_takes_the_rightmost_address_its_proxies_did_not_write(bmgr, settings):
    """A client writes its own X-Forwarded-For; nginx appends the address it saw. Changing the
    written part must not reset the count."""
    settings.HARBORMASTER_LOGIN_ATTEMPTS = 3
    settings.HARBORMASTER_TRUSTED_PROXIES = ["127.0.0.1", "10.0.0.0/8"]
    for n in range(3):
        chain = f"192.0.2.{n}, 203.0.113.66, 10.1.1.1"  # client-written, client, inner proxy
        assert _login(Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=chain), "bmgr", "x") == 200
    assert _login(Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.66"), "bmgr", "bmgr-pass-1") == 429
    assert set(AuditEvent.objects.filter(action=FAILED).values_list("address", flat=True)) == {"203.0.113.66"}


@pytest.mark.parametrize(("remote", "forwarded", "proxies", "want"), [
    ("198.51.100.1", "203.0.113.5", [], "198.51.100.1"),
    ("", "203.0.113.5", [], None),                                    # unix socket, not configured
    ("", "203.0.113.5", ["unix"], "203.0.113.5"),
    ("", "", ["unix"], None),
    ("", "evil, 203.0.113.5", ["unix"], "203.0.113.5"),
    ("", "203.0.113.5, junk", ["unix"], None),                        # our proxy never writes junk
    ("127.0.0.1", "203.0.113.5", ["unix"], "127.0.0.1"),
    ("127.0.0.1", "::ffff:203.0.113.5", ["127.0.0.0/8"], "203.0.113.5"),
    ("::1", "2001:db8::7, 127.0.0.1", ["::1", "127.0.0.1"], "2001:db8::7"),
    ("127.0.0.1", "127.0.0.2", ["127.0.0.0/8"], "127.0.0.2"),          # all trusted: the farthest
    ("not-an-ip", "203.0.113.5", ["unix"], None),
])
def test_it_resolves_the_client_address(remote, forwarded, proxies, want):
    assert resolve(remote, forwarded, proxies) == want


def test_it_parses_the_trusted_proxies_strictly():
    parse = config.get_trusted_proxies
    assert parse("P", {"P": "unix, 127.0.0.1 ,10.0.0.0/8,::1"}) == ["unix", "127.0.0.1/32", "10.0.0.0/8", "::1/128"]
    assert parse("P", {}) == []
    for bad, words in [("*", "any client"), ("localhost", "not an IP address"), ("10.0.0.1/8", "host bits"),
                       ("127.0.0.1:80", "not an IP address")]:
        with pytest.raises(config.ConfigError, match=words):
            parse("P", {"P": bad})


def test_it_records_the_same_address_in_the_panels_and_the_apis_audit_trail(world, settings, site, member):
    from django.urls import reverse

    from tests.tenancy.conftest import api_client

    settings.HARBORMASTER_TRUSTED_PROXIES = ["unix"]
    panel = Client(REMOTE_ADDR="", HTTP_X_FORWARDED_FOR="203.0.113.21")
    panel.force_login(member)
    assert panel.post(reverse("site-task", args=[site.pk, "verify"])).status_code == 302
    api = api_client(member)
    api.defaults.update(REMOTE_ADDR="", HTTP_X_FORWARDED_FOR="203.0.113.22")
    queue = api.post(f"/api/v1/sites/{site.pk}/tasks", {"type": "backup"}, content_type="application/json")
    assert queue.status_code == 409
    queued = AuditEvent.objects.filter(action="task.queued").order_by("at")
    assert [e.address for e in queued] == ["203.0.113.21"]
    # The refused API call queued nothing; a control through the API records where it came from.
    task = queued.first()
    assert api.post(f"/api/v1/tasks/{task.object_id}/cancel").status_code == 200
    assert AuditEvent.objects.get(action="task.cancel").address == "203.0.113.22"
