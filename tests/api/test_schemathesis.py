"""A bounded schemathesis run against the OpenAPI schema, in-process through the WSGI app, with
an admin's write token over a small world: no input may cause a server error."""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings

from tests.tenancy.conftest import api_client

EXAMPLES = 10  # per operation: ~30 operations stay well under a minute


@pytest.fixture
def schema(db):
    from django.core.signals import request_finished, request_started
    from django.core.wsgi import get_wsgi_application
    from django.db import close_old_connections

    # As Django's own test client does: a request must not close the test's connection (its
    # transaction holds the world and is rolled back at the end).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def test_it_never_answers_a_server_error(schema, world, settings):
    settings.HARBORMASTER_API_RATE = (1_000_000, 60)
    token = api_client(world["users"]["admin"], "write", name="fuzz")
    headers = {"Authorization": token.defaults["HTTP_AUTHORIZATION"]}
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @hsettings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                   suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def run(case):
            response = case.call(headers=headers)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} body={case.body!r} "
                                f"query={case.query!r}: {response.status_code}")

        run()
    assert not failures, "\n".join(failures[:20])
