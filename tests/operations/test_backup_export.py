"""A backup as a standard archive from the command line, the panel and the API: `backups export`
writes a .tar.zst or .tar.gz that plain tar extracts into the site and its database dump byte
for byte; the panel and the API stream the same archive compressed, to admins and the site's
own client only (another client's user gets 404, as for a backup that does not exist)."""
from __future__ import annotations

import io
import subprocess
import tarfile
from io import StringIO
from pathlib import Path

import pytest
import zstandard
from django.core.management import CommandError, call_command
from django.test import Client as HttpClient

from hosting.models import AuditEvent, Backup
from tests.operations.conftest import site_paths, tree_checksums, write_rows
from tests.provision.test_backup_export import dump_of

pytestmark = pytest.mark.parametrize("engine", ["sqlite"])


@pytest.fixture
def backed_up(installed, run, acme):
    site = installed(client=acme)
    write_rows(site, ["exported row"])
    return site, Backup.objects.get(task=run(site, "backup"))


def test_backups_export_writes_what_plain_tar_extracts_byte_for_byte(backed_up, tmp_path):
    site, backup = backed_up
    _, directory = site_paths(site)
    for name, flag in (("site.tar.zst", "--zstd"), ("site.tar.gz", "-z")):
        target = tmp_path / name
        out = StringIO()
        call_command("backups", "export", str(backup.pk), "-o", str(target), stdout=out)
        assert f"exported as {Path(backup.path).name.removesuffix('.tar.zst')}" in out.getvalue()
        into = tmp_path / name.replace(".", "-")
        into.mkdir()
        subprocess.run(["tar", flag, "-xf", str(target), "-C", str(into)], check=True)
        assert tree_checksums(into / "site") == tree_checksums(directory)
        dump = (into / "database.sql").read_bytes()
        assert dump == dump_of(Path(backup.path)) and b"exported row" in dump
    with pytest.raises(CommandError, match="exists"):
        call_command("backups", "export", str(backup.pk), "-o", str(tmp_path / "site.tar.zst"), stdout=StringIO())
    with pytest.raises(CommandError, match="tar.zst"):
        call_command("backups", "export", str(backup.pk), "-o", str(tmp_path / "site.zip"), stdout=StringIO())


def _tar_names(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: (tar.extractfile(m).read() if m.isfile() else b"") for m in tar}  # type: ignore[union-attr]


def test_the_panel_and_the_api_stream_it_compressed_to_the_sites_client_only(backed_up, tmp_path, member,
                                                                             outsider, admin_user):
    """... and refuse a tampered backup with 409, never a partial download."""
    from tests.tenancy.conftest import api_client

    site, backup = backed_up
    plain = tmp_path / "plain.tar"
    call_command("backups", "export", str(backup.pk), "-o", str(plain), stdout=StringIO())
    expected = _tar_names(plain.read_bytes())
    assert "site/settings.php" in expected and "database.sql" in expected
    for user in (member, admin_user):
        browser = HttpClient()
        browser.force_login(user)
        response = browser.get(f"/backups/{backup.pk}/download/?as=tar.zst")
        assert response.status_code == 200 and response.streaming
        assert response["Content-Type"] == "application/zstd" and response["X-Accel-Buffering"] == "no"
        assert response["Content-Disposition"].endswith('.tar.zst"')
        data = b"".join(response.streaming_content)
        assert _tar_names(zstandard.ZstdDecompressor().decompressobj().decompress(data)) == expected
    answer = api_client(member, "read").get(f"/api/v1/backups/{backup.pk}/download?as=tar.gz")
    assert answer.status_code == 200 and answer["Content-Type"] == "application/gzip"
    import gzip

    assert _tar_names(gzip.decompress(b"".join(answer.streaming_content))) == expected
    assert AuditEvent.objects.filter(action="backup.downloaded", detail__endswith=".tar.gz").exists()

    # Another client's user: 404, the same answer as for a backup that does not exist.
    browser = HttpClient()
    browser.force_login(outsider)
    missing = browser.get("/backups/999999/download/?as=tar.zst")
    other = browser.get(f"/backups/{backup.pk}/download/?as=tar.zst")
    assert other.status_code == missing.status_code == 404
    assert site.domain not in other.content.decode()
    api = api_client(outsider, "read")
    answer = api.get(f"/api/v1/backups/{backup.pk}/download?as=tar.zst")
    assert answer.status_code == 404 == api.get("/api/v1/backups/999999/download?as=tar.zst").status_code
    assert site.domain not in answer.content.decode()

    # A tampered backup: 409 in the panel and the API, an error on the command line, never a
    # partial download.
    from tests.provision.test_backup_export import tamper

    tamper(Path(backup.path), lambda ms: ms.extend([{"path": "site/out", "type": "symlink", "target": "/tmp"},
                                                    {"path": "site/out/x", "type": "dir"}]))
    browser.force_login(admin_user)
    response = browser.get(f"/backups/{backup.pk}/download/?as=tar.zst")
    assert response.status_code == 409 and "below a symlink" in response.content.decode()
    answer = api_client(admin_user, "read").get(f"/api/v1/backups/{backup.pk}/download?as=tar.zst")
    assert answer.status_code == 409
    with pytest.raises(CommandError, match="below a symlink"):
        call_command("backups", "export", str(backup.pk), "-o", "-", stdout=StringIO())
