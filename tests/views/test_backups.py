"""The backups pages: a site's backups and schedule, every backup (deleted sites' too), the
download, the confirmed delete and the restore of a deleted site; and what another client gets."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from hosting.models import AuditEvent, Backup, BackupSchedule, Site, Task

ARCHIVE = b"\x28\xb5\x2f\xfd not really zstd, but bytes to stream"


def archive_of(site, name: str = "a") -> Path:
    folder = Path(settings.HARBORMASTER_BACKUP_DIR) / site.domain
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{site.domain}-{name}.tar.zst"
    path.write_bytes(ARCHIVE + name.encode())
    return path


@pytest.fixture
def stored(hm_dirs, site):
    """Two backups of acme's site made in the same minute, files inside the backup store."""
    when = timezone.now().replace(second=10, microsecond=0)
    made = []
    for i, name in enumerate(("first", "second")):
        path = archive_of(site, name)
        b = Backup.objects.create(site=site, domain=site.domain, client=site.client, path=str(path),
                                  size=path.stat().st_size, kind=Backup.MANUAL)
        Backup.objects.filter(pk=b.pk).update(created_at=when + timedelta(seconds=20 * i))
        made.append(Backup.objects.get(pk=b.pk))
    return made


@pytest.fixture
def globex_stored(hm_dirs, globex_site):
    path = archive_of(globex_site, "gx")
    return Backup.objects.create(site=globex_site, domain=globex_site.domain, client=globex_site.client,
                                 path=str(path), size=path.stat().st_size)


@pytest.fixture
def deleted_site(hm_dirs, platform, acme):
    site = Site.objects.create(domain="old.acme.test", platform=platform, client=acme, status=Site.DELETED)
    path = archive_of(site, "pre")
    backup = Backup.objects.create(site=site, domain=site.domain, client=acme, path=str(path),
                                   size=path.stat().st_size, kind=Backup.PRE_DELETE)
    return site, backup


def test_it_lists_a_sites_backups_told_apart_within_a_minute(as_member, site, stored):
    page = as_member.get(reverse("site-backups", args=[site.pk]))
    assert page.status_code == 200
    text = page.content.decode()
    first, second = (timezone.localtime(b.created_at) for b in stored)
    assert first.strftime("%Y-%m-%d %H:%M:%S") in text and second.strftime("%Y-%m-%d %H:%M:%S") in text
    assert f"#{stored[0].pk}" in text and "Manual" in text and "never" in text
    assert str(stored[0].path) not in text  # the host's layout is not a client's business
    restore = as_member.get(reverse("site-task", args=[site.pk, "restore"]) + f"?backup={stored[0].pk}")
    body = restore.content.decode()
    assert f'value="{stored[0].pk}" selected' in body
    assert f"#{stored[1].pk} · {second:%Y-%m-%d %H:%M:%S}" in body


def test_the_site_page_and_the_sites_list_link_to_backups(as_member, site):
    detail = as_member.get(reverse("site-detail", args=[site.pk])).content.decode()
    assert reverse("site-backups", args=[site.pk]) in detail
    assert reverse("backup-list") + "?deleted=1" in as_member.get(reverse("site-list")).content.decode()


def test_it_streams_the_archive_as_an_attachment(as_member, stored):
    response = as_member.get(reverse("backup-download", args=[stored[0].pk]))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert b"".join(response.streaming_content) == Path(stored[0].path).read_bytes()
    assert AuditEvent.objects.filter(action="backup.downloaded", object_id=str(stored[0].pk)).exists()


def test_it_deletes_a_backup_after_confirmation(as_member, member, site, stored):
    url = reverse("backup-delete", args=[stored[0].pk])
    confirm = as_member.get(url)
    assert confirm.status_code == 200 and "Delete the backup" in confirm.content.decode()
    assert Backup.objects.filter(pk=stored[0].pk).exists()
    response = as_member.post(url)
    assert response.status_code == 302 and response["Location"] == reverse("site-backups", args=[site.pk])
    assert not Backup.objects.filter(pk=stored[0].pk).exists() and not Path(stored[0].path).exists()
    assert Path(stored[1].path).exists()
    assert AuditEvent.objects.filter(action="backup.deleted", object_id=str(stored[0].pk), actor=member).exists()


def test_it_lets_only_an_admin_delete_a_deleted_sites_pre_delete_backup(as_member, as_admin, deleted_site):
    _, backup = deleted_site
    assert as_member.post(reverse("backup-delete", args=[backup.pk])).status_code == 403
    assert Backup.objects.filter(pk=backup.pk).exists()
    assert as_admin.post(reverse("backup-delete", args=[backup.pk])).status_code == 302
    assert not Backup.objects.filter(pk=backup.pk).exists()


def test_it_lists_deleted_sites_backups_and_restores_one(as_member, as_admin, deleted_site, stored):
    site, backup = deleted_site
    text = as_member.get(reverse("backup-list") + "?deleted=1").content.decode()
    assert "old.acme.test" in text and "www.acme.test" not in text
    url = reverse("backup-restore-deleted", args=[backup.pk])
    # Shown to whom it is open: the pre-delete backup's delete and restore are not a member's.
    assert url not in text and reverse("backup-delete", args=[backup.pk]) not in text
    assert url in as_admin.get(reverse("backup-list") + "?deleted=1").content.decode()
    # Restoring a deleted site is a manager's (as deleting it is): a member may not.
    assert as_member.get(url).status_code == 403
    page = as_admin.get(url)
    assert page.status_code == 200 and f'value="{backup.pk}" selected' in page.content.decode()
    response = as_admin.post(url, {"backup": backup.pk})
    task = Task.objects.get(kind="restore-deleted")
    assert response.status_code == 302 and task.site_id == site.pk and task.args == {"backup": backup.pk}


def test_it_refuses_to_restore_when_the_domain_is_taken(as_admin, deleted_site, platform):
    site, backup = deleted_site
    Site.objects.create(domain=site.domain, platform=platform, status=Site.ENABLED)
    url = reverse("backup-restore-deleted", args=[backup.pk])
    assert "taken by a live site" in as_admin.get(url).content.decode()
    response = as_admin.post(url, {"backup": backup.pk})
    assert response.status_code == 409 and "taken by a live site" in response.content.decode()
    assert not Task.objects.filter(kind="restore-deleted").exists()


def test_it_edits_the_schedule_for_whoever_may_back_up(as_member, site, member):
    url = reverse("site-backups", args=[site.pk])
    response = as_member.post(url, {"frequency": "weekly", "keep_count": "4", "keep_days": "", "enabled": "on"})
    assert response.status_code == 302, response.content.decode()
    schedule = BackupSchedule.objects.get(site=site)
    assert (schedule.frequency, schedule.keep_count, schedule.keep_days) == ("weekly", 4, None)
    assert AuditEvent.objects.filter(action="schedule.changed", actor=member).exists()
    bad = as_member.post(url, {"frequency": "hourly", "keep_count": "-1"})
    assert bad.status_code == 400 and BackupSchedule.objects.get(site=site).frequency == "weekly"


def test_a_viewer_sees_backups_but_edits_nothing(client, django_user_model, acme, site, stored):
    from hosting.models import Membership

    viewer = django_user_model.objects.create_user("v")
    Membership.objects.create(user=viewer, client=acme, role=Membership.VIEWER)
    client.force_login(viewer)
    page = client.get(reverse("site-backups", args=[site.pk]))
    assert page.status_code == 200
    assert "Delete" not in page.content.decode() and "Back up now" not in page.content.decode()
    assert client.get(reverse("backup-download", args=[stored[0].pk])).status_code == 200
    assert client.post(reverse("site-backups", args=[site.pk]), {"frequency": "daily"}).status_code == 403
    assert client.post(reverse("backup-delete", args=[stored[0].pk])).status_code == 403
    assert not BackupSchedule.objects.exists() and Backup.objects.count() == 2


def test_another_client_gets_404_everywhere(as_outsider, site, stored, deleted_site, globex_stored):
    _, pre = deleted_site
    for backup in (stored[0], pre):
        for name in ("backup-download", "backup-delete", "backup-restore-deleted"):
            assert as_outsider.get(reverse(name, args=[backup.pk])).status_code == 404, name
            assert as_outsider.post(reverse(name, args=[backup.pk]), {"backup": backup.pk}).status_code in (404, 405)
    assert as_outsider.get(reverse("site-backups", args=[site.pk])).status_code == 404
    assert as_outsider.post(reverse("site-backups", args=[site.pk]), {"frequency": "daily"}).status_code == 404
    listed = as_outsider.get(reverse("backup-list")).content.decode()
    assert "acme" not in listed and "shop.globex.test" in listed
    assert "No backups." in as_outsider.get(reverse("backup-list") + f"?site={site.pk}").content.decode()
    assert Backup.objects.count() == 4 and not Task.objects.exists() and not BackupSchedule.objects.exists()


def test_it_refuses_an_archive_path_outside_the_store(as_admin, stored, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("not yours")
    Backup.objects.filter(pk=stored[0].pk).update(path=str(secret))
    response = as_admin.get(reverse("backup-download", args=[stored[0].pk]))
    assert response.status_code == 409 and b"not yours" not in response.content
    assert as_admin.post(reverse("backup-delete", args=[stored[0].pk])).status_code == 409
    assert secret.read_text() == "not yours" and Backup.objects.filter(pk=stored[0].pk).exists()
