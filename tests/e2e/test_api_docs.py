"""The API's docs page (/api/v1/docs): django-ninja's Swagger UI, its assets from our own static
files, renders the schema's operations in a real browser with no Content-Security-Policy
violation."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from hosting.csp import HEADER, POLICY
from tests.e2e.test_csp import _watch

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_it_renders_the_swagger_ui_from_local_assets_under_the_policy(chromium, live_server):
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        violations, said = _watch(page)
        elsewhere: list[str] = []
        page.on("request", lambda r: elsewhere.append(r.url)
                if not r.url.startswith(live_server.url) and not r.url.startswith("data:") else None)
        answer = page.goto(f"{live_server.url}/api/v1/docs")
        assert answer is not None and answer.status == 200
        assert answer.headers[HEADER.lower()] == POLICY
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("Harbormaster API", timeout=20_000)
        # The operations of the schema, e.g. the site list, rendered by swagger-ui's own scripts.
        expect(page.locator(".opblock-summary-path[data-path='/api/v1/sites']").first).to_be_visible()
        page.locator(".opblock-summary-path[data-path='/api/v1/sites']").first.click()
        expect(page.locator(".opblock.is-open .opblock-section-header").first).to_be_visible()
        assert violations == [] and said == [] and elsewhere == []
    finally:
        context.close()
