import json

import pytest
from django.urls import reverse

from hosting import health
from hosting.models import Server
from tests.registry import cluster_row


@pytest.fixture(autouse=True)
def fresh_checks(hm_dirs, settings, db):
    (settings.HARBORMASTER_DATA_DIR / "databases").mkdir()
    cluster_row("local")  # the queue's cluster beats
    health.clear_cache()
    yield
    health.clear_cache()


def test_it_shows_every_check_to_an_admin(as_admin, server):
    response = as_admin.get(reverse("status"))
    body = response.content.decode()
    assert response.status_code == 200
    for name in ("control database", "broker", "workers of queue local", "database server of local",
                 "web server of local", "disk of local"):
        assert name in body
    assert "Everything is up." in body


def test_it_is_not_for_members_or_outsiders(as_member, as_outsider):
    assert as_member.get(reverse("status")).status_code == 403
    assert as_outsider.get(reverse("status")).status_code == 403


def test_it_turns_red_when_a_database_server_is_down(as_admin, server):
    Server.objects.create(name="db9", queue="db9", hostname="db9.invalid", db_engine="mysql",
                          db_host="127.0.0.1", db_port=1)
    cluster_row("db9")
    body = as_admin.get(reverse("status")).content.decode()
    assert "1 check failing" in body and "database server of db9" in body
    assert '<span class="badge s-failed">down</span>' in body


def test_it_answers_json_for_monitoring_without_naming_anything(client, as_member, server):
    for anyone in (client, as_member):
        response = anyone.get(reverse("status-json"))
        data = json.loads(response.content)
        assert response.status_code == 200 and data["ok"] is True and data["failing"] == 0
        assert data["checks"] == 9  # a count: names, hosts and paths are for admins


def test_it_lists_every_check_in_json_to_an_admin(as_admin, server):
    checks = json.loads(as_admin.get(reverse("status-json")).content)["checks"]
    assert {"name", "ok", "latency_ms", "detail", "group"} <= set(checks[0])


def test_it_answers_503_when_something_is_down(as_admin, server):
    Server.objects.create(name="web9", queue="web9", hostname="127.0.0.1", http="nginx", web_listen="127.0.0.1:1")
    cluster_row("web9")
    response = as_admin.get(reverse("status-json"))
    data = json.loads(response.content)
    assert response.status_code == 503 and data["ok"] is False
    down = [c for c in data["checks"] if not c["ok"]]
    assert [c["name"] for c in down] == ["web server of web9"] and down[0]["detail"]
