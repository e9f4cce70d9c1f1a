"""Backups in the API: download, delete, restore-deleted, schedules; another client's ids 404."""
from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from hosting.models import Backup, BackupSchedule, Site, Task


def stored(site, name: str, kind: str = Backup.MANUAL) -> Backup:
    folder = Path(settings.HARBORMASTER_BACKUP_DIR) / site.domain
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{site.domain}-{name}.tar.zst"
    path.write_bytes(b"archive " + name.encode())
    return Backup.objects.create(site=site, domain=site.domain, client=site.client, path=str(path),
                                 size=path.stat().st_size, kind=kind)


@pytest.fixture
def gone(hm_dirs, platform, acme):
    site = Site.objects.create(domain="old.acme.test", platform=platform, client=acme, status=Site.DELETED)
    return site, stored(site, "pre", Backup.PRE_DELETE)


def test_it_downloads_the_archive(api_as, member, hm_dirs, site):
    backup = stored(site, "one")
    response = api_as(member).get(f"/api/v1/backups/{backup.pk}/download")
    assert response.status_code == 200 and "attachment" in response["Content-Disposition"]
    assert b"".join(response.streaming_content) == b"archive one"


def test_it_lists_deleted_sites_backups(api_as, member, hm_dirs, site, gone):
    stored(site, "live")
    client = api_as(member)
    body = client.get("/api/v1/backups?deleted=true").json()
    assert [b["domain"] for b in body["items"]] == ["old.acme.test"]
    assert len(client.get("/api/v1/backups").json()["items"]) == 2


def test_it_deletes_a_backup(api_as, member, hm_dirs, site):
    backup = stored(site, "one")
    response = api_as(member).delete(f"/api/v1/backups/{backup.pk}")
    assert response.status_code == 204, response.content
    assert not Backup.objects.exists() and not Path(backup.path).exists()


def test_it_keeps_a_deleted_sites_pre_delete_backup_from_members(api_as, member, admin_user, gone):
    _, backup = gone
    assert api_as(member).delete(f"/api/v1/backups/{backup.pk}").status_code == 403
    assert api_as(admin_user).delete(f"/api/v1/backups/{backup.pk}").status_code == 204


def test_it_restores_a_deleted_site(api_as, manager, platform, gone):
    site, backup = gone
    client = api_as(manager)
    response = client.post(f"/api/v1/backups/{backup.pk}/restore-deleted")
    assert response.status_code == 202, response.content
    task = Task.objects.get(pk=response.json()["task"])
    assert task.kind == "restore-deleted" and task.site_id == site.pk
    Task.objects.filter(pk=task.pk).update(state=Task.SUCCEEDED)
    Site.objects.create(domain=site.domain, platform=platform, status=Site.ENABLED)
    again = client.post(f"/api/v1/backups/{backup.pk}/restore-deleted")
    assert again.status_code == 409 and "taken by a live site" in again.json()["message"]


def test_it_shows_and_sets_a_sites_schedule(api_as, member, site):
    url = f"/api/v1/sites/{site.pk}/backup-schedule"
    client = api_as(member)
    assert client.get(url).json() == {"source": "none", "schedule": None, "may_edit": True}
    response = client.put(url, {"frequency": "weekly", "keep_count": 2, "keep_days": None, "enabled": True},
                                  content_type="application/json")
    assert response.status_code == 200, response.content
    assert response.json()["schedule"] == {"frequency": "weekly", "keep_count": 2, "keep_days": None, "enabled": True}
    bad = client.put(url, {"frequency": "hourly"}, content_type="application/json")
    assert bad.status_code == 400 and BackupSchedule.objects.get(site=site).frequency == "weekly"


def test_a_viewer_may_not_set_a_schedule(api_as, viewer, site):
    response = api_as(viewer).put(f"/api/v1/sites/{site.pk}/backup-schedule", {"frequency": "daily"},
                                  content_type="application/json")
    assert response.status_code == 403 and not BackupSchedule.objects.exists()


def test_another_client_gets_404(api_as, outsider, hm_dirs, site, gone):
    live = stored(site, "one")
    _, pre = gone
    client = api_as(outsider)
    for backup in (live, pre):
        assert client.get(f"/api/v1/backups/{backup.pk}").status_code == 404
        assert client.get(f"/api/v1/backups/{backup.pk}/download").status_code == 404
        assert client.delete(f"/api/v1/backups/{backup.pk}").status_code == 404
        assert client.post(f"/api/v1/backups/{backup.pk}/restore-deleted").status_code == 404
    assert client.get(f"/api/v1/sites/{site.pk}/backup-schedule").status_code == 404
    assert client.put(f"/api/v1/sites/{site.pk}/backup-schedule", {"frequency": "daily"},
                      content_type="application/json").status_code == 404
    assert client.get(f"/api/v1/backups?site={site.pk}").json()["items"] == []
    assert Backup.objects.count() == 2 and not Task.objects.exists() and not BackupSchedule.objects.exists()


def test_it_refuses_a_path_outside_the_store(api_as, admin_user, hm_dirs, site, tmp_path):
    backup = stored(site, "one")
    secret = tmp_path / "secret"
    secret.write_text("x")
    Backup.objects.filter(pk=backup.pk).update(path=str(secret))
    client = api_as(admin_user)
    assert client.get(f"/api/v1/backups/{backup.pk}/download").status_code == 409
    assert client.delete(f"/api/v1/backups/{backup.pk}").status_code == 409
    assert secret.exists() and Backup.objects.filter(pk=backup.pk).exists()
