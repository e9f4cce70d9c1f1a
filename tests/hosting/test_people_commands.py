"""`manage.py users list`, `server create/edit/list`, `clients create/edit` and `platform clients`:
the panel's forms validate, a server's verify is queued and its id printed, bad input is a clear
error with nothing written."""
from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from hosting.models import AuditEvent, Client, Server, Task
from tests.conftest import user_in


@pytest.fixture(autouse=True)
def quiet_dispatch(monkeypatch):
    from hosting.engine import dispatch

    monkeypatch.setattr(dispatch, "dispatch", lambda task_id, queue: True)


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_users_list_prints_a_header_and_each_account(admin_user, django_user_model, acme):
    user_in(django_user_model, "member", acme, "member")
    lines = run("users", "list").splitlines()
    assert lines[0].split("\t") == ["USERNAME", "EMAIL", "ADMIN", "CLIENTS", "LAST LOGIN", "ACTIVE"]
    assert lines[1].split("\t") == ["admin", "admin@example.test", "superuser", "-", "never", "yes"]
    assert lines[2].split("\t")[3] == "acme:member"
    data = json.loads(run("users", "list", "--json"))
    assert [u["username"] for u in data] == ["admin", "member"]
    assert data[1]["clients"] == [{"client": "acme", "role": "member"}]


def test_server_create_queues_its_verify_and_prints_the_task(db, monkeypatch):
    monkeypatch.setenv("HARBORMASTER_DB_ADMIN_PASSWORD", "from-env-pw")
    out = run("server", "create", "web3", "--http", "nginx", "--web-conf-dir", "/etc/nginx/sites-enabled",
              "--db-engine", "mysql", "--db-host", "db.example.test", "--db-port", "3306")
    server = Server.objects.get(name="web3")
    task = Task.objects.get(server=server, kind="verify")
    assert out.strip() == f"Server web3 recorded; verify queued as task {task.pk}"
    assert (server.queue, server.db_port, server.db_admin_password) == ("web3", 3306, "from-env-pw")
    assert AuditEvent.objects.get(action="server.added").actor_label.startswith("cli")


def test_server_create_refuses_bad_input_and_writes_nothing(server):
    with pytest.raises(CommandError, match="web_conf_dir"):
        run("server", "create", "web4", "--web-conf-dir", "relative")
    with pytest.raises(CommandError, match="name"):
        run("server", "create", "local")
    assert Server.objects.count() == 1 and not Task.objects.exists()


def test_server_edit_changes_and_verifies_and_lists(server):
    out = run("server", "edit", "local", "--web-listen", "8080", "--rename", "main")
    server.refresh_from_db()
    assert (server.name, server.web_listen, server.queue) == ("main", "8080", "local")
    assert out.startswith("Server main changed; verify queued as task ")
    assert run("server", "edit", "main", "--web-listen", "8080").strip() == "Server main: nothing changed"
    assert run("server", "list").splitlines()[0].split("\t") == ["NAME", "HOST", "QUEUE", "WEB", "DATABASE"]
    assert json.loads(run("server", "list", "--json"))[0]["name"] == "main"
    with pytest.raises(CommandError, match="No server named"):
        run("server", "edit", "nope", "--web-listen", "1")


def test_server_edit_is_refused_while_a_task_runs_on_it(server):
    from tests.views.conftest import make_task

    make_task(server, "verify", "running")
    with pytest.raises(CommandError, match="Nothing saved"):
        run("server", "edit", "local", "--web-listen", "8080")
    server.refresh_from_db()
    assert server.web_listen == "80"


def test_clients_create_and_edit_quotas(db):
    assert run("clients", "create", "initech", "--title", "Initech", "--max-sites", "3").strip() == \
        "Client initech recorded"
    run("clients", "edit", "initech", "--max-sites", "none", "--max-disk-bytes", "5000")
    client = Client.objects.get(name="initech")
    assert (client.title, client.max_sites, client.max_disk_bytes) == ("Initech", None, 5000)
    with pytest.raises(CommandError, match="max_sites"):
        run("clients", "edit", "initech", "--max-sites", "-1")
    with pytest.raises(CommandError, match="name"):
        run("clients", "create", "initech")


def test_platform_clients_opens_and_closes_a_platform(server, acme, globex, tmp_path):
    from hosting.models import Platform

    platform = Platform.objects.create(name="d10", server=server, path=str(tmp_path / "d10"))
    assert run("platform", "clients", "d10", "--client", "acme", "--client", "globex").strip() == \
        "Platform d10 is open to acme, globex"
    assert set(platform.clients.values_list("name", flat=True)) == {"acme", "globex"}
    with pytest.raises(CommandError, match="No client named nope"):
        run("platform", "clients", "d10", "--client", "nope")
    run("platform", "clients", "d10")
    assert not platform.clients.exists()
