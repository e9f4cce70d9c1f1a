"""Changes through Django admin are audited too, with before and after, and no secret."""
from __future__ import annotations

from django.urls import reverse

from hosting.models import AuditEvent, Client, Server


def test_it_audits_an_admin_change_without_the_password(client, admin_user):
    client.force_login(admin_user)
    server = Server.objects.create(name="web1", queue="web1")
    response = client.post(reverse("admin:hosting_server_change", args=[server.pk]), {
        "name": "web1", "hostname": "web1.example.test", "queue": "web1", "http": "none", "web_conf_dir": "",
        "db_engine": "mysql", "db_host": "127.0.0.1", "db_port": "3306", "db_admin_user": "root",
        "db_admin_password": "hunter2-very-secret", "sqlite_dir": "", "max_running_tasks": "",
        "web_listen": "80", "php_fastcgi": "127.0.0.1:9000", "web_main_config": "", "web_prefix": "",
        "db_user_host": "%",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    event = AuditEvent.objects.get(action="server.changed")
    assert event.actor == admin_user and event.detail == "through Django admin"
    assert event.after["hostname"] == "web1.example.test" and event.before["hostname"] == "localhost"
    assert "hunter2" not in str(event.before) + str(event.after)


def test_it_audits_an_admin_delete(client, admin_user):
    client.force_login(admin_user)
    target = Client.objects.create(name="gone")
    response = client.post(reverse("admin:hosting_client_delete", args=[target.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert AuditEvent.objects.filter(action="client.deleted", object_label="gone").exists()
