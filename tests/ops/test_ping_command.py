from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

pytestmark = pytest.mark.django_db


@pytest.fixture
def server(server, hm_dirs):
    (hm_dirs / "dbs").mkdir()
    server.sqlite_dir = str(hm_dirs / "dbs")
    server.save()
    return server


def test_it_lists_each_service_with_latency_and_exits_zero(server):
    out = io.StringIO()
    call_command("ping", stdout=out)
    text = out.getvalue()
    for name in ("control database", "broker", "workers of queue local", "database server of local",
                 "web server of local", "disk of local"):
        assert f"ok   {name}" in text
    assert " ms " in text


def test_it_says_fail_and_exits_one_when_a_server_is_down(server):
    server.http, server.web_listen = "nginx", "127.0.0.1:9"  # discard port: nothing listens
    server.save()
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("ping", stdout=out, stderr=err)
    assert raised.value.returncode == 1
    assert "FAIL web server of local" in err.getvalue()
    assert "ok   control database" in out.getvalue()


def test_it_answers_json(server):
    out = io.StringIO()
    call_command("ping", "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert data["ok"] is True
    assert {"name", "ok", "latency_ms", "detail", "group"} <= set(data["checks"][0])
