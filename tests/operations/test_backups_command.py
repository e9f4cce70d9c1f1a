"""`manage.py backups list` and `manage.py backups verify [ID|--all]`."""
from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from hosting.models import Backup

pytestmark = pytest.mark.parametrize("engine", ["sqlite"])


@pytest.fixture
def two_backups(installed, run):
    site = installed()
    return [Backup.objects.get(task=run(site, "backup")) for _ in range(2)]


def test_it_lists_backups(two_backups):
    out = StringIO()
    call_command("backups", "list", stdout=out)
    header, *lines = out.getvalue().splitlines()
    assert header.split("\t") == ["ID", "DOMAIN", "SITE", "KIND", "CREATED", "SIZE", "VERIFIED", "WHERE", "PATH"]
    assert all(line.split("\t")[7] == "local" for line in out.getvalue().splitlines()[1:])
    assert len(lines) == 2 and all(line.split("\t")[3::3] == ["manual", "never"] for line in lines)
    out = StringIO()
    call_command("backups", "list", "--json", stdout=out)
    listed = json.loads(out.getvalue())
    assert [b["id"] for b in listed] == [int(line.split("\t")[0]) for line in lines]
    assert {b["kind"] for b in listed} == {"manual"} and "path" not in listed[0]


def test_it_verifies_good_archives(two_backups):
    out = StringIO()
    call_command("backups", "verify", "--all", stdout=out)
    assert "2 good, 0 bad" in out.getvalue()
    assert all(b.verified_at for b in Backup.objects.all())


def test_it_exits_non_zero_on_a_damaged_archive(two_backups):
    damaged = Path(two_backups[0].path)
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("backups", "verify", str(two_backups[0].pk), str(two_backups[1].pk), stdout=out, stderr=err)
    assert raised.value.returncode == 1
    assert f"#{two_backups[0].pk}" in err.getvalue() and "BAD" in err.getvalue()
    assert "1 good, 1 bad" in out.getvalue()


def test_it_finds_a_member_that_does_not_match_its_manifest(two_backups):
    # The recorded checksum matches (the file is as written), but the archive is not sound.
    from hosting.operations.backups import check_backup

    backup = two_backups[1]
    Path(backup.path).write_bytes(b"not an archive")
    Backup.objects.filter(pk=backup.pk).update(size=0, sha256="")
    verdict = check_backup(Backup.objects.get(pk=backup.pk))
    assert not verdict.ok and "damaged" in verdict.message


def test_it_says_which_ids_do_not_exist(two_backups):
    with pytest.raises(CommandError, match="No backup #999"):
        call_command("backups", "verify", "999")
