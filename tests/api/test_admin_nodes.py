"""The API's writes to servers, clients and platforms (administrators), and the users list."""
from __future__ import annotations

from hosting.models import AuditEvent, Client, Server, Task


def test_an_admin_creates_a_server_and_gets_its_verify_task(api_as, admin_user):
    http = api_as(admin_user)
    response = http.post("/api/v1/servers", {"name": "db1", "http": "nginx", "db_engine": "postgresql",
                                             "db_host": "10.0.0.5", "db_port": 5432, "db_admin_password": "pw-123456"},
                         content_type="application/json")
    assert response.status_code == 201, response.content
    body = response.json()
    server = Server.objects.get(name="db1")
    assert body["verify_task"] == Task.objects.get(server=server, kind="verify").pk
    assert (server.queue, server.db_port, server.db_admin_password) == ("db1", 5432, "pw-123456")
    assert "pw-123456" not in response.content.decode()


def test_a_bad_or_duplicate_server_is_refused_with_nothing_written(api_as, admin_user, server):
    http = api_as(admin_user)
    dup = http.post("/api/v1/servers", {"name": "local"}, content_type="application/json")
    bad = http.post("/api/v1/servers", {"name": "Bad Name", "sqlite_dir": "relative"},
                    content_type="application/json")
    assert dup.status_code == 409 and dup.json()["code"] == "conflict"
    assert bad.status_code == 400 and "sqlite_dir" in bad.json()["message"]
    assert Server.objects.count() == 1 and not Task.objects.exists()


def test_an_admin_patches_a_server_and_its_verify_is_queued(api_as, admin_user, server):
    http = api_as(admin_user)
    response = http.patch(f"/api/v1/servers/{server.pk}", {"web_listen": "8080"}, content_type="application/json")
    assert response.status_code == 200 and response.json()["verify_task"]
    server.refresh_from_db()
    assert (server.web_listen, server.hostname, server.queue) == ("8080", "localhost", "local")
    same = http.patch(f"/api/v1/servers/{server.pk}", {"web_listen": "8080"}, content_type="application/json")
    assert same.json()["verify_task"] is None
    assert Task.objects.filter(server=server, kind="verify").count() == 1


def test_a_server_patch_is_refused_while_its_verify_runs(api_as, admin_user, server, task_factory):
    task_factory(server, "verify", "running")
    response = api_as(admin_user).patch(f"/api/v1/servers/{server.pk}", {"web_listen": "8080"},
                                        content_type="application/json")
    assert response.status_code == 409
    server.refresh_from_db()
    assert server.web_listen == "80" and not AuditEvent.objects.filter(action="server.changed").exists()


def test_an_admin_creates_a_client_and_patches_its_quotas(api_as, admin_user):
    http = api_as(admin_user)
    created = http.post("/api/v1/clients", {"name": "initech", "max_sites": 2}, content_type="application/json")
    assert created.status_code == 201
    pk = created.json()["id"]
    patched = http.patch(f"/api/v1/clients/{pk}", {"max_sites": None, "max_disk_bytes": 10},
                         content_type="application/json")
    assert patched.status_code == 200
    assert (patched.json()["max_sites"], patched.json()["max_disk_bytes"]) == (None, 10)
    assert http.patch(f"/api/v1/clients/{pk}", {"max_sites": -3}, content_type="application/json").status_code == 400


def test_an_admin_sets_a_platforms_clients(api_as, admin_user, platform, acme, globex):
    http = api_as(admin_user)
    response = http.patch(f"/api/v1/platforms/{platform.pk}", {"clients": [globex.pk]},
                          content_type="application/json")
    assert response.status_code == 200 and response.json()["clients"] == [globex.pk]
    assert http.patch(f"/api/v1/platforms/{platform.pk}", {"clients": [99999]},
                      content_type="application/json").status_code == 400
    assert list(platform.clients.all()) == [globex]


def test_a_member_cannot_raise_quotas_or_reopen_platforms(api_as, member, acme, globex, site, platform):
    platform.clients.set([acme])
    http = api_as(member)
    assert http.patch(f"/api/v1/clients/{acme.pk}", {"max_sites": None}, content_type="application/json"
                      ).status_code == 403
    assert http.patch(f"/api/v1/clients/{globex.pk}", {"max_sites": 1}, content_type="application/json"
                      ).status_code == 404
    assert http.patch(f"/api/v1/platforms/{platform.pk}", {"clients": []}, content_type="application/json"
                      ).status_code == 403
    assert http.post("/api/v1/servers", {"name": "mine"}, content_type="application/json").status_code == 403
    assert Client.objects.get(pk=globex.pk).max_sites is None and list(platform.clients.all()) == [acme]


def test_the_users_list_is_for_administrators(api_as, admin_user, member, outsider):
    body = api_as(admin_user).get("/api/v1/users").json()
    rows = {u["username"]: u for u in body["items"]}
    assert rows["member"]["clients"] == [{"client": "acme", "role": "member"}]
    assert rows["admin"]["is_superuser"] and rows["member"]["last_login"] is None
    assert api_as(member).get("/api/v1/users").status_code == 403
