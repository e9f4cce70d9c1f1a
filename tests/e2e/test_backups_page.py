"""The backups page end to end: from a site's page to its backups, a backup made, downloaded
(the bytes of its archive) and deleted after confirmation; then the site is deleted and brought
back from its pre-delete backup, found under "Deleted sites with backups"."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import expect

from hosting.actor import Operator
from hosting.models import Backup, Site, Task
from hosting.starting import start_task
from tests.e2e.conftest import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _done(kind: str, site: Site, after: int) -> Task:
    task = wait_for(lambda: Task.objects.filter(site=site, kind=kind, state__in=Task.FINAL, pk__gte=after).first(),
                    90, f"the {kind} to end")
    assert task.state in (Task.SUCCEEDED, Task.WARNING), (task.kind, task.summary)
    return task


def test_it_downloads_deletes_and_restores_a_deleted_site_from_the_backups_page(page, live_server, demo, tmp_path):
    site = demo["site"]
    page.goto(f"{live_server.url}/sites/{site.pk}/")
    page.locator("#site-backups-link").click()
    page.wait_for_url(f"**/sites/{site.pk}/backups/")
    expect(page.locator("h1")).to_contain_text(f"Backups of {site.domain}")

    for n in (1, 2):
        page.get_by_role("button", name="Back up now").click()
        page.wait_for_url("**/tasks/*/")
        wait_for(lambda n=n: Backup.objects.filter(site=site).count() == n
                 and not Task.objects.filter(site=site, state__in=Task.ACTIVE).exists(), 90, "the backup")
        page.goto(f"{live_server.url}/sites/{site.pk}/backups/")
    first, second = Backup.objects.filter(site=site).order_by("created_at", "pk")
    # Two backups within the same minute are told apart by their seconds and their ids.
    expect(page.locator(f"#backup-{first.pk}")).to_contain_text(f"#{first.pk}")
    expect(page.locator(f"#backup-{second.pk}")).to_contain_text(f"#{second.pk}")

    with page.expect_download() as info:
        page.locator(f"#backup-{first.pk} a.download").click()
    saved = tmp_path / "download.tar.zst"
    info.value.save_as(saved)
    assert saved.read_bytes() == Path(first.path).read_bytes() and saved.stat().st_size == first.size
    assert info.value.suggested_filename == Path(first.path).name
    with page.expect_download() as info:
        page.locator(f"#backup-{first.pk} a.download-tar").click()
    assert info.value.suggested_filename.endswith(".tar.zst")
    plain = tmp_path / "plain.tar.zst"
    info.value.save_as(plain)
    (tmp_path / "out").mkdir()
    subprocess.run(["tar", "--zstd", "-xf", str(plain), "-C", str(tmp_path / "out")], check=True)
    assert (tmp_path / "out" / "database.sql").is_file()
    from hosting.operations import resources

    assert (tmp_path / "out" / "site" / "settings.php").read_bytes() == \
        (resources.site_dir(site) / "settings.php").read_bytes()

    page.locator(f"#backup-{second.pk} a.delete").click()
    page.wait_for_url(f"**/backups/{second.pk}/delete/")
    assert Backup.objects.filter(pk=second.pk).exists()  # the link only asks
    page.locator("#confirm-delete").click()
    page.wait_for_url(f"**/sites/{site.pk}/backups/")
    expect(page.locator("main")).to_contain_text(f"Backup #{second.pk} of {site.domain} is deleted.")
    assert not Backup.objects.filter(pk=second.pk).exists() and not Path(second.path).exists()

    delete = start_task(Operator("cli:test"), site, "delete", {"confirm": site.domain})
    _done("delete", site, delete.pk)
    assert Site.objects.get(pk=site.pk).status == Site.DELETED

    page.goto(f"{live_server.url}/sites/")
    page.get_by_role("link", name="Deleted sites with backups").click()
    pre = Backup.objects.get(site=site, kind=Backup.PRE_DELETE)
    row = page.locator(f"#backup-{pre.pk}")
    expect(row).to_contain_text("Before delete")
    row.get_by_role("link", name="Restore deleted site").click()
    page.wait_for_url(f"**/backups/{pre.pk}/restore-deleted/")
    page.get_by_role("button", name="Restore deleted site").click()
    page.wait_for_url("**/tasks/*/")
    expect(page.locator("#task-state")).to_contain_text("succeeded", timeout=60_000)
    assert Site.objects.get(pk=site.pk).status == Site.ENABLED
    page.goto(f"{live_server.url}/sites/{site.pk}/")
    expect(page.locator("h1")).to_contain_text("enabled")
