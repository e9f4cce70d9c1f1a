"""The off-site remotes page and API: administrators configure any server's remotes; a client's
manager only its client's, on a server holding its sites, and never sees another client's; a
member configures none; no answer or page ever carries a secret back; the backups pages and the
API say where each backup exists; the dashboard shows how far behind each remote is."""
from __future__ import annotations

import json

import pytest
from django.urls import reverse
from django.utils import timezone

from hosting import offsite
from hosting.models import AuditEvent, Backup, BackupCopy, BackupRemote
from tests.conftest import user_in
from tests.tenancy.conftest import api_client
from tests.views.conftest import _logged_in

SECRET = "s3-secret-0d9c2f71"


def s3_post(server, **extra):
    return {"name": "bucket", "kind": "s3", "server": server.pk, "bucket": "hm-backups", "region": "us-east-1",
            "access_key_id": "key-id-1234", "secret_access_key": SECRET, **extra}


@pytest.fixture
def manager(db, django_user_model, acme):
    return user_in(django_user_model, "manager", acme, "manager")


@pytest.fixture
def globex_manager(db, django_user_model, globex):
    return user_in(django_user_model, "gmanager", globex, "manager")


def test_an_admin_adds_a_remote_whose_secret_never_comes_back(as_admin, server):
    response = as_admin.post(reverse("remote-list"), s3_post(server))
    assert response.status_code == 302
    remote = BackupRemote.objects.get()
    assert remote.options["bucket"] == "hm-backups" and SECRET not in remote.sealed_secrets
    assert remote.remote().secrets["secret_access_key"] == SECRET
    page = as_admin.get(reverse("remote-list")).content.decode()
    assert "s3://hm-backups" in page and SECRET not in page
    events = json.dumps([[e.before, e.after, e.detail] for e in AuditEvent.objects.all()])
    assert "backup_remote" in "".join(AuditEvent.objects.values_list("action", flat=True)) and SECRET not in events
    from hosting.redact import known_secrets

    assert SECRET in known_secrets()  # the debug bundle redacts it wherever it might appear


@pytest.mark.parametrize(("extra", "field"), [({"path": "a/../../etc"}, "path"), ({"bucket": "--dump"}, "bucket"),
                                              ({"name": "../x"}, "name")])
def test_it_refuses_a_path_or_name_that_could_escape(as_admin, server, extra, field):
    response = as_admin.post(reverse("remote-list"), s3_post(server, **extra))
    assert response.status_code == 400 and not BackupRemote.objects.exists()
    assert response.context["form"].errors.get(field)


def test_a_manager_configures_only_its_clients_remote_on_its_servers(django_user_model, manager, site, server, acme,
                                                                    globex, globex_site):
    as_manager = _logged_in(manager)
    assert as_manager.post(reverse("remote-list"), s3_post(server)).status_code == 400  # a client is required
    assert as_manager.post(reverse("remote-list"), s3_post(server, client=globex.pk)).status_code == 400
    for inside in ("http://127.0.0.1:6379", "http://10.1.2.3", "http://localhost:5432", "http://[::1]:9000"):
        response = as_manager.post(reverse("remote-list"), s3_post(server, client=acme.pk, endpoint=inside))
        assert response.status_code == 400 and response.context["form"].errors.get("endpoint"), inside
    assert as_manager.post(reverse("remote-list"), s3_post(server, client=acme.pk)).status_code == 302
    remote = BackupRemote.objects.get()
    assert remote.client == acme
    # The admin's remote of the whole server and another client's remote stay out of its sight.
    BackupRemote.objects.create(server=server, client=globex, name="globex-own", kind="s3",
                                options={"bucket": "hm-g", "region": "us-east-1"})
    page = as_manager.get(reverse("remote-list")).content.decode()
    assert "globex-own" not in page and "bucket" in page
    other = BackupRemote.objects.get(name="globex-own")
    assert as_manager.post(reverse("remote-delete", args=[other.pk])).status_code == 404
    assert BackupRemote.objects.filter(pk=other.pk).exists()


def test_a_member_configures_nothing(as_member, server, site):
    assert as_member.get(reverse("remote-list")).context["form"] is None
    assert as_member.post(reverse("remote-list"), s3_post(server)).status_code == 403


def test_the_backups_pages_and_the_api_say_where_each_backup_is(as_admin, as_member, as_outsider, site, server,
                                                               backup, member, outsider):
    remote = BackupRemote.objects.create(server=server, name="far", kind="s3", options={"bucket": "hm-b"})
    BackupCopy.objects.create(backup=backup, remote=remote)
    for http in (as_admin, as_member):
        page = http.get(reverse("site-backups", args=[site.pk])).content.decode()
        assert '<span class="tag">far</span>' in page
    data = api_client(member, name="m").get(f"/api/v1/backups/{backup.pk}").json()
    assert "far" in data["locations"]
    assert api_client(outsider).get(f"/api/v1/backups/{backup.pk}").status_code == 404
    dashboard = as_admin.get(reverse("dashboard")).content.decode()
    assert 'id="offsite"' in dashboard and "up to date" in dashboard
    Backup.objects.create(site=site, domain=site.domain, client=site.client, path="/nowhere/x.tar.zst")
    assert "1 backup(s)" in as_admin.get(reverse("dashboard")).content.decode()
    assert 'id="offsite"' not in as_outsider.get(reverse("dashboard")).content.decode()


def test_the_api_adds_lists_and_removes_remotes_without_secrets(admin_user, member, server):
    as_admin = api_client(admin_user)
    body = {"server": server.pk, "name": "far", "kind": "sftp",
            "options": {"host": "127.0.0.1", "port": "2222", "user": "hm", "path": "/srv/backups"},
            "secrets": {"password": SECRET}}
    response = as_admin.post("/api/v1/remotes", json.dumps(body), content_type="application/json")
    assert response.status_code == 201, response.content
    assert SECRET not in response.content.decode()
    listed = as_admin.get("/api/v1/remotes").json()
    assert [r["name"] for r in listed] == ["far"] and SECRET not in json.dumps(listed)
    bad = {**body, "name": "other", "options": {**body["options"], "host": "-oProxyCommand=x"}}
    response = as_admin.post("/api/v1/remotes", json.dumps(bad), content_type="application/json")
    assert response.status_code == 400 and "host" in response.json()["message"]
    as_member = api_client(member)
    assert as_member.get("/api/v1/remotes").json() == []
    assert as_member.delete(f"/api/v1/remotes/{listed[0]['id']}").status_code == 404
    assert as_admin.delete(f"/api/v1/remotes/{listed[0]['id']}").status_code == 200
    assert not BackupRemote.objects.exists()


def test_the_schedule_queues_one_replication_for_a_server_behind(server, site, backup):
    from hosting.models import Task

    assert offsite.run_due_replications() == []  # no remote: nothing to do
    remote = BackupRemote.objects.create(server=server, name="far", kind="s3", options={"bucket": "hm-b"})
    queued = offsite.run_due_replications()
    assert len(queued) == 1 and Task.objects.get(pk=queued[0]).kind == "replicate"
    assert offsite.run_due_replications() == []  # one is queued already
    Task.objects.filter(pk=queued[0]).update(state=Task.SUCCEEDED)
    BackupCopy.objects.create(backup=backup, remote=remote)
    BackupRemote.objects.filter(pk=remote.pk).update(replicated_at=timezone.now())
    assert offsite.run_due_replications() == []  # up to date and copied recently
