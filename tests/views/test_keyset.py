"""Keyset pages (hosting.keyset): the deep page of a list costs the queries of the first, a
cursor walks forward and back, and a cursor a client makes up (garbage, another client's row,
wrong types) never shows a row outside the client's own list. Domain search by prefix."""
from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from hosting import keyset
from hosting.models import AuditEvent, Site, Task
from tests.views.conftest import make_task


def _tasks(site, n: int, by=None, **fields) -> list[Task]:
    start = timezone.now() - timedelta(days=1)
    made = []
    for i in range(n):
        task = make_task(site, "verify", by=by, **fields)
        # Equal times for pairs: the id breaks the tie, so no row is lost or shown twice.
        Task.objects.filter(pk=task.pk).update(created_at=start + timedelta(seconds=i // 2))
        made.append(task.pk)
    return made


def _get(client, url: str):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return response, len(queries)


def _walk(client, base: str) -> tuple[list[list[int]], list[int]]:
    pages, counts, url = [], [], base
    while True:
        response, count = _get(client, url)
        page = response.context["page"]
        pages.append([row.pk for row in page.rows])
        counts.append(count)
        if not page.has_next:
            return pages, counts
        url = base + page.next_url


def test_every_page_of_the_task_list_costs_the_same_queries_and_no_row_is_lost(as_admin, site, member):
    made = _tasks(site, 130, by=member)
    pages, counts = _walk(as_admin, reverse("task-list"))
    assert [len(p) for p in pages] == [50, 50, 30]
    assert sum(pages, []) == sorted(made, reverse=True)  # newest first, ties by id
    assert len(set(counts)) == 1, counts


def test_the_previous_link_walks_back_to_the_first_page(as_admin, site):
    _tasks(site, 120)
    base = reverse("task-list")
    first = as_admin.get(base).context["page"]
    second = as_admin.get(base + first.next_url).context["page"]
    third = as_admin.get(base + second.next_url).context["page"]
    back = as_admin.get(base + third.previous_url).context["page"]
    assert [t.pk for t in back.rows] == [t.pk for t in second.rows] and back.has_next
    again = as_admin.get(base + back.previous_url).context["page"]
    assert [t.pk for t in again.rows] == [t.pk for t in first.rows] and not again.has_previous


def test_the_site_and_audit_lists_page_by_cursor_at_a_fixed_cost(as_admin, platform, acme):
    Site.objects.bulk_create([Site(domain=f"s{i:03d}.example.test", platform=platform, client=acme)
                              for i in range(120)])
    pages, counts = _walk(as_admin, reverse("site-list"))
    assert [len(p) for p in pages] == [50, 50, 20] and len(set(counts)) == 1, counts
    now = timezone.now()
    AuditEvent.objects.bulk_create([AuditEvent(action="site.verify", object_type="site", object_id=str(i),
                                               object_label=f"s{i}", at=now, client=acme) for i in range(110)])
    pages, counts = _walk(as_admin, reverse("audit-list"))
    assert [len(p) for p in pages] == [50, 50, 10] and len(set(counts)) == 1, counts
    assert len({pk for page in pages for pk in page}) == 110  # one time for all: the id orders


def test_the_filters_stay_on_the_page_links(as_admin, site):
    _tasks(site, 60, state="failed")
    _tasks(site, 5)
    page = as_admin.get(reverse("task-list"), {"state": "failed"}).context["page"]
    assert page.next_url.startswith("?state=failed&cursor=")
    second = as_admin.get(reverse("task-list") + page.next_url).context["page"]
    assert {t.state for t in second.rows} == {"failed"} and len(second.rows) == 10


def _forged(*values) -> str:
    return base64.urlsafe_b64encode(json.dumps(["n", *values]).encode()).decode().rstrip("=")


@pytest.mark.parametrize("cursor", [
    "garbage", "%%%", "W10", _forged("not a time", 1), _forged("2026-01-01T00:00:00", 1),  # naive time
    _forged("2026-01-01T00:00:00+00:00", "1"), _forged("2026-01-01T00:00:00+00:00", -1),
    _forged("2026-01-01T00:00:00+00:00", 10**30), _forged("2026-01-01T00:00:00+00:00"),
    "A" * 5000, "é", base64.urlsafe_b64encode(b"[" * 740).decode(), _forged(["x"], {"a": 1}),
])
def test_a_cursor_we_did_not_make_gives_the_first_page(as_member, site, globex_site, member, cursor):
    mine = _tasks(site, 3, by=member)
    _tasks(globex_site, 3)
    response = as_member.get(reverse("task-list"), {"cursor": cursor})
    assert response.status_code == 200
    assert [t.pk for t in response.context["page"].rows] == sorted(mine, reverse=True)


def test_a_cursor_on_another_clients_rows_shows_only_the_clients_own(as_member, site, globex_site, member):
    mine = _tasks(site, 3, by=member)
    theirs = _tasks(globex_site, 60)
    # A cursor made from the other client's newest task, forward and back: it only narrows
    # the member's own list.
    row = Task.objects.get(pk=theirs[-1])
    for direction in (keyset.FORWARD, keyset.BACKWARD):
        cursor = keyset.encode(direction, [row.created_at + timedelta(days=1), row.pk])
        rows = as_member.get(reverse("task-list"), {"cursor": cursor}).context["page"].rows
        assert {t.pk for t in rows} <= set(mine)
        assert all(t.client_id == site.client_id for t in rows)


def test_an_old_page_number_link_gives_the_first_page(as_admin, site):
    _tasks(site, 60)
    first = as_admin.get(reverse("task-list")).context["page"]
    old = as_admin.get(reverse("task-list"), {"page": 2}).context["page"]
    assert [t.pk for t in old.rows] == [t.pk for t in first.rows]


def test_domain_search_finds_prefixes_and_the_www_form(as_admin, site, globex_site, platform, acme):
    Site.objects.create(domain="acme-shop.example.test", platform=platform, client=acme)
    found = lambda q: sorted(s.domain for s in as_admin.get(reverse("site-list"), {"q": q}).context["page"].rows)  # noqa: E731
    assert found("acme") == ["acme-shop.example.test", "www.acme.test"]
    assert found("WWW.ACME") == ["www.acme.test"]
    assert found("shop.glo") == ["shop.globex.test"]
    assert found("globex") == []  # a word inside the domain: not a prefix (docs/decisions.md)
    assert found("%") == [] and found("_cme") == []  # LIKE's wildcards are plain characters
