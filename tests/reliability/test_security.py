"""Security promises: CSRF on every POST route (from the URL resolver), login throttling,
security headers, and no secret in error pages. `manage.py check --deploy` with the production
settings example is tests/ops/test_deploy.py."""
from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from hosting.models import AuditEvent

# A value for each converter: the CSRF check runs before the view looks anything up.
SAMPLES = {"int": "1", "slug": "verify", "str": "x", "path": "x", "uuid": "00000000-0000-0000-0000-000000000000"}


def _routes(patterns=None, prefix: str = "") -> list[str]:
    """Every concrete URL of the panel (admin included), the API excepted: it takes tokens, not
    cookies (checked below)."""
    found = []
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        route = str(entry.pattern)
        if isinstance(entry, URLResolver):
            if route.startswith("api/"):
                continue
            found += _routes(entry.url_patterns, prefix + route)
        elif isinstance(entry, URLPattern):
            if route.startswith("^") or "(?P" in route:
                route = re.sub(r"\(\?P<\w+>[^)]*\)", "1", route).strip("^$").replace("\\", "")
            path = re.sub(r"<(?:(\w+):)?\w+>", lambda m: SAMPLES.get(m.group(1) or "str", "x"), prefix + route)
            found.append("/" + path.lstrip("/"))
    return sorted(set(found))


def test_it_finds_the_routes_it_checks() -> None:
    routes = _routes()
    assert "/login/" in routes and "/sites/1/tasks/verify/" in routes and len(routes) > 30


@pytest.mark.django_db
def test_it_refuses_every_post_without_a_csrf_token(admin_user) -> None:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(admin_user)
    # Incoming webhooks (/hooks/) take no cookie: the sender signs the body instead, and an
    # unsigned POST is refused before anything is read (tests/views/test_platform_build.py).
    accepted = [(url, r.status_code) for url in _routes()
                if (r := browser.post(url, {"confirm": "x"})).status_code != 403
                and not (url.startswith("/hooks/") and r.status_code in (401, 404))]
    assert accepted == []


@pytest.mark.django_db
def test_it_ignores_the_session_cookie_on_the_api(admin_user) -> None:
    """The API authenticates by token only, so a forged cross-site POST carrying the admin's
    session cookie does nothing."""
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(admin_user)
    answer = browser.post("/api/v1/sites/1/tasks", {"type": "backup"}, content_type="application/json")
    assert answer.status_code == 401


@pytest.mark.django_db
def test_it_throttles_failed_logins_per_username_and_address(admin_user, settings) -> None:
    settings.HARBORMASTER_LOGIN_ATTEMPTS = 3
    browser = Client(REMOTE_ADDR="127.0.0.9")
    for _ in range(3):
        assert browser.post("/login/", {"username": "admin", "password": "wrong"}).status_code == 200
    refused = browser.post("/login/", {"username": "admin", "password": "admin-pass-1"})
    assert refused.status_code == 429
    assert b"Too many failed logins for admin from your address" in refused.content
    assert "_auth_user_id" not in browser.session
    # Another address, or another user from this address, is not refused.
    assert Client(REMOTE_ADDR="127.0.0.10").post(
        "/login/", {"username": "admin", "password": "admin-pass-1"}).status_code == 302
    assert browser.post("/login/", {"username": "nobody", "password": "x"}).status_code == 200
    assert AuditEvent.objects.filter(action="auth.login-failed", object_label="admin").count() == 3
    # Passwords tried are never recorded.
    assert not AuditEvent.objects.filter(detail__contains="wrong").exists()


@pytest.mark.django_db
def test_it_sends_the_security_headers(admin_user) -> None:
    browser = Client()
    for url in ("/login/", "/status.json"):
        answer = browser.get(url)
        assert answer["X-Frame-Options"] == "DENY"
        assert answer["X-Content-Type-Options"] == "nosniff"
        assert answer["Referrer-Policy"] == "same-origin"
    browser.force_login(admin_user)
    assert browser.get("/")["X-Frame-Options"] == "DENY"


@pytest.mark.django_db
def test_it_shows_no_secret_on_an_error_page(admin_user, settings, monkeypatch) -> None:
    """A view that crashes answers the plain 500 page: no traceback, settings or secret key."""
    from hosting.views import dashboard

    def boom(request):
        raise RuntimeError(f"crash with {settings.SECRET_KEY}")

    monkeypatch.setattr(dashboard, "dashboard", boom)
    import importlib

    from django.urls import clear_url_caches

    import hosting.urls

    importlib.reload(hosting.urls)
    clear_url_caches()
    try:
        browser = Client(raise_request_exception=False)
        browser.force_login(admin_user)
        answer = browser.get("/")
        assert answer.status_code == 500
        body = answer.content.decode()
        assert settings.SECRET_KEY not in body and "Traceback" not in body and "SECRET_KEY" not in body
    finally:
        monkeypatch.undo()
        importlib.reload(hosting.urls)
        clear_url_caches()
