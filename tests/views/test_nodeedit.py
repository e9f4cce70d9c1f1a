"""New and edited servers and clients, a platform's clients: administrators only; a new server
and every change of one queue its verify; a refused form writes nothing."""
from __future__ import annotations

from django.urls import reverse

from hosting.models import AuditEvent, Client, Platform, Server, Task

SERVER = {"name": "web2", "hostname": "web2.example.test", "queue": "", "http": "nginx",
          "web_conf_dir": "/etc/nginx/sites-enabled", "web_listen": "80", "php_fastcgi": "unix:/run/php/fpm.sock",
          "db_engine": "mysql", "db_host": "db.example.test", "db_port": "3306", "db_admin_user": "root",
          "db_admin_password": "s3cret-pw", "db_user_host": "%"}


def test_an_admin_creates_a_server_and_its_verify_is_queued(as_admin):
    response = as_admin.post(reverse("server-new"), SERVER)
    server = Server.objects.get(name="web2")
    task = Task.objects.get(server=server, target_type="server", kind="verify")
    assert response.status_code == 302 and response.url == f"/servers/{server.pk}/?new={task.pk}"
    assert (server.queue, server.http, server.db_engine, server.db_port) == ("web2", "nginx", "mysql", 3306)
    assert server.db_admin_password == "s3cret-pw"
    event = AuditEvent.objects.get(action="server.added")
    assert "s3cret-pw" not in str(event.after)


def test_a_bad_server_form_writes_nothing(as_admin, server):
    response = as_admin.post(reverse("server-new"), {**SERVER, "name": "local", "web_conf_dir": "relative/dir"})
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert "name" in errors and "web_conf_dir" in errors
    assert Server.objects.count() == 1 and not Task.objects.exists()
    assert not AuditEvent.objects.filter(action="server.added").exists()


def test_an_apache_server_refuses_an_nginx_listen_value(as_admin):
    response = as_admin.post(reverse("server-new"), {**SERVER, "http": "apache", "web_listen": "443 ssl"})
    assert response.status_code == 400 and "web_listen" in response.context["form"].errors
    assert not Server.objects.filter(name="web2").exists()


def test_an_admin_edits_a_server_and_the_verify_applies_it(as_admin, server):
    server.db_admin_password = "kept-pw"
    server.save()
    form = as_admin.get(reverse("server-edit", args=[server.pk])).context["form"]
    data = {k: ("" if v is None else v) for k, v in form.initial.items() if k in form.fields}
    data.update(web_listen="8080", queue="sneaky", db_admin_password="")
    response = as_admin.post(reverse("server-edit", args=[server.pk]), data)
    assert response.status_code == 302
    server.refresh_from_db()
    assert (server.web_listen, server.queue, server.db_admin_password) == ("8080", "local", "kept-pw")
    assert Task.objects.filter(server=server, kind="verify", state="queued").count() == 1
    event = AuditEvent.objects.get(action="server.changed")
    assert event.before == {"web_listen": "80"} and event.after == {"web_listen": "8080"}


def test_an_unchanged_server_queues_nothing(as_admin, server):
    form = as_admin.get(reverse("server-edit", args=[server.pk])).context["form"]
    data = {k: ("" if v is None else v) for k, v in form.initial.items() if k in form.fields}
    assert as_admin.post(reverse("server-edit", args=[server.pk]), data).status_code == 302
    assert not Task.objects.exists()


def test_a_server_edit_is_refused_while_a_task_runs_on_it_and_nothing_is_saved(as_admin, server, task_factory):
    task_factory(server, "verify", "running")
    form = as_admin.get(reverse("server-edit", args=[server.pk])).context["form"]
    data = {k: ("" if v is None else v) for k, v in form.initial.items() if k in form.fields}
    data["web_listen"] = "8080"
    response = as_admin.post(reverse("server-edit", args=[server.pk]), data)
    assert response.status_code == 409 and "Not saved" in response.content.decode()
    server.refresh_from_db()
    assert server.web_listen == "80" and not AuditEvent.objects.filter(action="server.changed").exists()


def test_an_admin_creates_a_client_and_edits_its_quotas(as_admin):
    response = as_admin.post(reverse("client-new"), {"name": "initech", "title": "Initech", "max_sites": "3"})
    client = Client.objects.get(name="initech")
    assert response.status_code == 302 and client.max_sites == 3
    response = as_admin.post(reverse("client-edit", args=[client.pk]),
                             {"name": "renamed", "title": "Initech", "max_sites": "", "max_disk_bytes": "1000"})
    assert response.status_code == 302
    client.refresh_from_db()
    assert (client.name, client.max_sites, client.max_disk_bytes) == ("initech", None, 1000)
    assert AuditEvent.objects.get(action="client.changed").after == {"max_sites": None, "max_disk_bytes": 1000}


def test_a_bad_client_form_writes_nothing(as_admin, acme):
    response = as_admin.post(reverse("client-new"), {"name": "acme", "max_sites": "-1"})
    assert response.status_code == 400 and {"name", "max_sites"} <= set(response.context["form"].errors)
    assert Client.objects.count() == 1


def test_an_admin_sets_a_platforms_clients(as_admin, platform, acme, globex):
    response = as_admin.post(reverse("platform-clients", args=[platform.pk]), {"clients": [globex.pk]})
    assert response.status_code == 302
    assert list(platform.clients.all()) == [globex]
    as_admin.post(reverse("platform-clients", args=[platform.pk]), {})
    assert not platform.clients.exists()  # open to every client again
    assert AuditEvent.objects.filter(action="platform.clients-changed").count() == 2


def test_the_pages_link_the_forms_for_administrators(as_admin, server, platform, acme):
    assert reverse("server-new").encode() in as_admin.get(reverse("server-list")).content
    assert reverse("server-edit", args=[server.pk]).encode() in as_admin.get(
        reverse("server-detail", args=[server.pk])).content
    assert reverse("client-new").encode() in as_admin.get(reverse("client-list")).content
    assert reverse("client-edit", args=[acme.pk]).encode() in as_admin.get(
        reverse("client-detail", args=[acme.pk])).content
    assert reverse("platform-clients", args=[platform.pk]).encode() in as_admin.get(
        reverse("platform-detail", args=[platform.pk])).content


# --- A hostile client member ----------------------------------------------------------------

def test_a_member_cannot_create_servers_or_clients(as_member):
    assert as_member.get(reverse("server-new")).status_code == 403
    assert as_member.post(reverse("server-new"), SERVER).status_code == 403
    assert as_member.post(reverse("client-new"), {"name": "mine"}).status_code == 403
    assert not Server.objects.filter(name="web2").exists() and not Client.objects.filter(name="mine").exists()
    assert b"/servers/new/" not in as_member.get(reverse("server-list")).content


def test_a_member_cannot_raise_their_own_quota_or_touch_another_clients(as_member, acme, globex):
    own = as_member.post(reverse("client-edit", args=[acme.pk]), {"title": "Acme", "max_sites": ""})
    other = as_member.post(reverse("client-edit", args=[globex.pk]), {"title": "Pwned", "max_sites": "999"})
    assert (own.status_code, other.status_code) == (403, 404)
    globex.refresh_from_db()
    assert (globex.title, globex.max_sites) == ("Globex", None)


def test_a_member_cannot_edit_servers_or_open_platforms(as_member, site, server, platform, acme, globex):
    platform.clients.set([globex])
    site_platform = Platform.objects.create(name="open", server=server, path="/srv/open", status="enabled")
    assert as_member.post(reverse("server-edit", args=[server.pk]), {"web_listen": "1"}).status_code == 403
    assert as_member.post(reverse("platform-clients", args=[site_platform.pk]),
                          {"clients": [acme.pk]}).status_code == 403
    assert not site_platform.clients.exists() and not Task.objects.exists()


def test_a_change_while_a_verify_waits_to_start_is_applied_by_that_verify(as_admin, server, task_factory):
    waiting = task_factory(server, "verify", "queued")
    form = as_admin.get(reverse("server-edit", args=[server.pk])).context["form"]
    data = {k: ("" if v is None else v) for k, v in form.initial.items() if k in form.fields}
    data["web_listen"] = "8080"
    response = as_admin.post(reverse("server-edit", args=[server.pk]), data)
    assert response.status_code == 302 and response.url.endswith(f"?new={waiting.pk}")
    server.refresh_from_db()
    assert server.web_listen == "8080" and Task.objects.filter(server=server).count() == 1


def test_the_https_listen_address_is_edited_with_the_server(as_admin, server):
    form = as_admin.get(reverse("server-edit", args=[server.pk])).context["form"]
    data = {k: ("" if v is None else v) for k, v in form.initial.items() if k in form.fields}
    assert data["web_tls_listen"] == "443"
    bad = as_admin.post(reverse("server-edit", args=[server.pk]), {**data, "web_tls_listen": "443; include /x"})
    assert bad.status_code == 400 and "web_tls_listen" in bad.context["form"].errors
    good = as_admin.post(reverse("server-edit", args=[server.pk]), {**data, "web_tls_listen": "8443"})
    assert good.status_code == 302
    server.refresh_from_db()
    assert server.web_tls_listen == "8443"
    assert Task.objects.filter(server=server, kind="verify", state="queued").count() == 1
