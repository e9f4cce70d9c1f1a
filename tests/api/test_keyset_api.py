"""The API's lists hand out a `next` cursor: following it costs what the first page costs, and
a cursor the client did not get from us is a 400, never another client's rows."""
from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from hosting import keyset
from hosting.models import Site, Task
from tests.views.conftest import make_task


def _walk(client, url: str) -> tuple[list[int], list[int]]:
    ids, counts, cursor = [], [], ""
    while True:
        with CaptureQueriesContext(connection) as queries:
            body = client.get(url, {"cursor": cursor} if cursor else {}).json()
        counts.append(len(queries))
        ids += [item["id"] for item in body["items"]]
        if not body["next"]:
            assert body["has_next"] is False
            return ids, counts
        cursor = body["next"]


def test_the_task_list_follows_next_at_a_fixed_cost(api_as, member, site):
    made = [make_task(site, by=member).pk for _ in range(120)]
    ids, counts = _walk(api_as(member), "/api/v1/tasks?per_page=50")
    assert ids == sorted(made, reverse=True) and len(counts) == 3 and len(set(counts)) == 1, counts


def test_the_site_list_follows_next(api_as, admin_user, platform, acme):
    Site.objects.bulk_create([Site(domain=f"s{i:03d}.example.test", platform=platform, client=acme) for i in range(75)])
    ids, counts = _walk(api_as(admin_user), "/api/v1/sites?per_page=30")
    assert len(ids) == len(set(ids)) == 75 and len(set(counts)) == 1, counts


def test_a_page_number_still_works_and_says_next(api_as, admin_user, site):
    for _ in range(5):
        make_task(site)
    client = api_as(admin_user)
    body = client.get("/api/v1/tasks?per_page=2&page=2").json()
    assert len(body["items"]) == 2 and body["has_next"] and body["next"]
    after = client.get("/api/v1/tasks", {"per_page": 2, "cursor": body["next"]}).json()
    assert after["items"][0]["id"] < body["items"][-1]["id"]


def test_a_made_up_cursor_is_a_400(api_as, member, site):  # and nothing else: no traceback, no rows
    client = api_as(member)
    for cursor in ("garbage", "W10", keyset.encode("n", ["x", 1]), keyset.encode("n", ["2026-01-01T00:00:00", 1])):
        response = client.get("/api/v1/tasks", {"cursor": cursor})
        assert response.status_code == 400 and response.json()["code"] == "bad_cursor"
    assert client.get("/api/v1/tasks", {"cursor": "A" * 2000}).status_code == 400


def test_a_cursor_from_another_clients_rows_shows_none_of_them(api_as, member, outsider, site, globex_site):
    make_task(site, by=member)
    theirs = [make_task(globex_site, by=outsider) for _ in range(5)]
    cursor = keyset.encode(keyset.BACKWARD, [theirs[0].created_at, theirs[0].pk])
    body = api_as(member).get("/api/v1/tasks", {"cursor": cursor}).json()
    assert all(item["id"] not in {t.pk for t in theirs} for item in body["items"])
    assert not Task.objects.filter(pk__in=[i["id"] for i in body["items"]]).exclude(client=site.client).exists()
