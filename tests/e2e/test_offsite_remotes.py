"""Off-site remotes end to end: an admin adds an SFTP remote (a private sshd the test starts)
through the form, a backup made from the site's backups page is copied there by the replication
it queues, and the backups page and the dashboard say where the backup is."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from hosting.models import Backup, BackupCopy, BackupRemote, Task
from tests.e2e.conftest import wait_for
from tests.offsite_servers import Sftp, sftp_remote  # noqa: F401  (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_an_admin_adds_a_remote_and_the_backups_page_shows_the_copy(page, live_server, demo, sftp_remote: Sftp):
    site = demo["site"]
    page.goto(f"{live_server.url}/backups/")
    page.get_by_role("link", name="Off-site remotes").click()
    page.wait_for_url("**/backups/remotes/")
    form = page.locator("#remote-form")
    form.get_by_label("Name", exact=True).fill("far")
    form.get_by_label("Kind").select_option("sftp")
    form.get_by_label("SFTP host", exact=True).fill("127.0.0.1")
    form.get_by_label("SFTP port").fill(str(sftp_remote.port))
    form.get_by_label("SFTP user").fill(sftp_remote.user)
    form.get_by_label("SFTP host key").fill(sftp_remote.host_key)
    form.get_by_label("SFTP private key").fill(sftp_remote.private_key)
    form.get_by_label("Path").fill(str(sftp_remote.root))
    form.get_by_role("button", name="Add the remote").click()
    page.wait_for_url("**/backups/remotes/")
    remote = BackupRemote.objects.get(name="far")
    row = page.locator(f"#remote-{remote.pk}")
    expect(row).to_contain_text(f"sftp://{sftp_remote.user}@127.0.0.1:{sftp_remote.port}")
    assert "PRIVATE KEY" not in page.content()

    page.goto(f"{live_server.url}/sites/{site.pk}/backups/")
    page.get_by_role("button", name="Back up now").click()
    page.wait_for_url("**/tasks/*/")
    backup = wait_for(lambda: Backup.objects.filter(site=site).first(), 90, "the backup")
    wait_for(lambda: BackupCopy.objects.filter(backup=backup, remote=remote).exists()
             and not Task.objects.filter(state__in=Task.ACTIVE).exists(), 90, "the replication")
    assert (sftp_remote.root / "local" / site.domain / backup.file_name).is_file() or \
        any(sftp_remote.root.glob(f"*/{site.domain}/{backup.file_name}"))
    page.goto(f"{live_server.url}/sites/{site.pk}/backups/")
    where = page.locator(f"#backup-{backup.pk} td.where")
    expect(where).to_contain_text("local")
    expect(where).to_contain_text("far")
    page.goto(f"{live_server.url}/")
    expect(page.locator(f"#offsite-{remote.pk}")).to_contain_text("up to date")
