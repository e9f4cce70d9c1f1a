"""The Content-Security-Policy header, on every response (docs/decisions.md, "A strict
Content-Security-Policy"). Django 5.2 has no CSP support of its own.

The panel needs nothing from elsewhere and nothing inline: its scripts (htmx, app.js) and its
stylesheet are files under /static/; htmx injects no indicator <style> and compiles no code (the
htmx-config meta tag in base.html; its indicator rules are in app.css); templates carry no
style="" or on*="" attributes (tests/reliability/test_csp.py reads them). The Django admin
ships the same way: external scripts that read their data from data- attributes."""
from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

HEADER = "Content-Security-Policy"
POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    # data: for the admin's and browsers' small inline images (icons in CSS).
    "img-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    # As X-Frame-Options: DENY, for browsers that read only this.
    "frame-ancestors 'none'",
    "base-uri 'self'",
    "form-action 'self'",
])


def content_security_policy(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        # A view that needs another policy sets its own; none does yet.
        response.headers.setdefault(HEADER, POLICY)
        return response
    return middleware
