"""A damaged object in a site's backup store (issue 13, item 6): unchanged files are not read
again, so without help every later backup names the damaged object and reports success. These
tests corrupt real stores on disk and go through real tasks, `manage.py backups verify`, the
scrub and `ping`; each failed before the fix."""
from __future__ import annotations

import hashlib
import json
import os
import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from hosting.models import Backup, Task
from provision.backup import packs
from provision.backup import store as objects
from tests.operations.conftest import _ops, log_of, site_paths, tree_checksums  # noqa: F401 - _ops: autouse fixture

pytestmark = pytest.mark.parametrize("engine", ["sqlite"])


def age(directory: Path) -> None:
    """Files written a minute ago, as a real site's are: the store's index trusts only files
    that have not changed in the last two seconds."""
    past = time.time() - 60
    for folder, _dirs, names in os.walk(directory):
        for name in names:
            os.utime(os.path.join(folder, name), (past, past), follow_symlinks=False)


def with_files(installed):  # type: ignore[no-untyped-def]
    site = installed()
    _, directory = site_paths(site)
    (directory / "files" / "report.pdf").write_bytes(os.urandom(200_000))
    (directory / "files" / "notes.txt").write_text("meeting notes\n" * 4000)
    age(directory)
    return site, directory


def backup_of(task: Task) -> Backup:
    assert task.state in (Task.SUCCEEDED, Task.WARNING), (task.summary, log_of(task))
    return Backup.objects.get(task=task)


def store_of(backup: Backup) -> Path:
    return objects.store_of(Path(backup.path).parent)


def flip(store: Path, content: bytes) -> Path:
    """Flip one byte in the middle of the frame of the object holding CONTENT."""
    with objects.Reader(store) as reader:
        where, offset, length = reader.locate(hashlib.sha256(content).hexdigest())
    data = bytearray(where.read_bytes())
    data[offset + length // 2] ^= 0x5A
    where.write_bytes(bytes(data))
    return where


def verify(*ids: int) -> tuple[bool, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("backups", "verify", *map(str, ids), stdout=out, stderr=err)
    except CommandError:
        return False, out.getvalue() + err.getvalue()
    return True, out.getvalue() + err.getvalue()


def ping() -> tuple[int, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("ping", stdout=out, stderr=err)
    except CommandError as exc:
        return exc.returncode, out.getvalue() + err.getvalue()
    return 0, out.getvalue() + err.getvalue()


def status_page() -> str:
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.urls import reverse

    from hosting import health

    admin = get_user_model().objects.create_superuser("integrity-admin", password="a long enough password")
    browser = Client()
    browser.force_login(admin)
    health.clear_cache()
    page = browser.get(reverse("status")).content.decode()
    assert "Backup stores" in page
    return page


def restore_exactly(run, site, backup: Backup, directory: Path, expected: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    (directory / "files" / "notes.txt").write_text("changed after the backups\n")
    (directory / "files" / "report.pdf").unlink()
    task = run(site, "restore", {"backup": backup.pk})
    assert task.state in (Task.SUCCEEDED, Task.WARNING), (task.summary, log_of(task))
    assert tree_checksums(directory) == expected


def test_a_damaged_pack_object_is_stored_again_and_the_newest_backup_restores_byte_for_byte(installed, run):
    site, directory = with_files(installed)
    pdf = (directory / "files" / "report.pdf").read_bytes()
    first = backup_of(run(site, "backup"))
    flip(store_of(first), pdf)
    # Nobody knows yet: the next backup does not read the unchanged file and names the object.
    second = backup_of(run(site, "backup"))
    good, said = verify(second.pk)
    assert not good and "report.pdf" in said and "damaged" in said
    third_task = run(site, "backup")
    third = backup_of(third_task)
    expected = tree_checksums(directory)
    restore_exactly(run, site, third, directory, expected)
    assert "stored again" in log_of(third_task)
    good, said = verify(first.pk, second.pk, third.pk)
    assert good, said  # content-addressed: the good copy makes the older backups whole again


def test_a_damaged_loose_object_is_stored_again(installed, run):
    site, directory = with_files(installed)
    pdf = (directory / "files" / "report.pdf").read_bytes()
    first = backup_of(run(site, "backup"))
    store = store_of(first)
    # The layout of stores written before packs: one file per object.
    for pack, listed in list(packs.indexes(packs.folder_of(store))):
        data = pack.read_bytes()
        for sha, (offset, length) in listed.items():
            loose = objects.object_path(store, sha)
            loose.parent.mkdir(exist_ok=True)
            loose.write_bytes(data[offset:offset + length])
        pack.unlink()
        pack.with_suffix(".idx").unlink()
    flip(store, pdf)
    good, said = verify(first.pk)
    assert not good and "report.pdf" in said
    third = backup_of(run(site, "backup"))
    expected = tree_checksums(directory)
    assert verify(first.pk, third.pk)[0]
    restore_exactly(run, site, third, directory, expected)


def test_a_damaged_pack_index_neither_stops_backups_nor_loses_its_objects(installed, run):
    site, directory = with_files(installed)
    first = backup_of(run(site, "backup"))
    idx = next(packs.folder_of(store_of(first)).glob("*.idx"))
    idx.write_bytes(b'{"format": 1, "objects": {"' + os.urandom(16).hex().encode())
    second_task = run(site, "backup")
    second = backup_of(second_task)
    assert second.manifest["totals"]["stored_bytes"] == 0  # the index was written again from the pack
    assert json.loads(idx.read_text())["objects"]
    expected = tree_checksums(directory)
    good, said = verify(first.pk, second.pk)
    assert good, said
    restore_exactly(run, site, first, directory, expected)


def test_a_backup_says_so_when_damaged_content_is_gone_from_the_site_and_ping_fails(installed, run):
    site, directory = with_files(installed)
    pdf = (directory / "files" / "report.pdf").read_bytes()
    first = backup_of(run(site, "backup"))
    flip(store_of(first), pdf)
    assert not verify(first.pk)[0]
    (directory / "files" / "report.pdf").unlink()
    task = run(site, "backup")
    assert task.state == Task.WARNING, (task.summary, log_of(task))
    assert "damaged" in log_of(task) and Path(first.path).name in log_of(task)
    assert verify(backup_of(task).pk)[0]  # the new backup itself is whole
    code, said = ping()
    assert code == 1 and "backup stores" in said and Path(first.path).name in said
    assert Path(first.path).name in status_page()
    # The way out: delete the backup that cannot be repaired; the status follows.
    Path(first.path).unlink()
    first.delete()
    out = StringIO()
    call_command("backups", "scrub", "--site", site.domain, stdout=out, stderr=StringIO())
    assert "OK" in out.getvalue()
    code, said = ping()
    assert "FAIL backup stores" not in said, said


def test_the_scheduled_scrub_finds_damage_before_any_verify_and_the_next_backup_repairs_it(installed, run, settings):
    from hosting import scrub
    from hosting.schedules import SCHEDULES

    assert any(s["func"] == "hosting.scrub.run_scheduled" for s in SCHEDULES)
    site, directory = with_files(installed)
    pdf = (directory / "files" / "report.pdf").read_bytes()
    first = backup_of(run(site, "backup"))
    for n in range(3):  # a few packs, so that a small budget takes several runs
        (directory / "files" / f"extra{n}.bin").write_bytes(os.urandom(100_000))
        age(directory)
        backup_of(run(site, "backup"))
    flip(store_of(first), pdf)
    assert ping()[0] == 0 or "FAIL backup stores" not in ping()[1]
    from hosting.models import StoreCheck

    runs = 0
    while "FAIL backup stores" not in ping()[1]:
        read = scrub.run_scheduled(budget=50_000)  # a pack or so per run
        runs += 1
        assert runs < 20, "the scrub never found the damage"
        assert read < 400_000  # the budget holds: one pack of up to 200 kB past it, not the store
    assert runs > 1 or StoreCheck.objects.get(domain=site.domain).cursor  # spread over runs
    repair = run(site, "backup")
    assert "stored again" in log_of(repair)
    code, said = ping()
    assert "FAIL backup stores" not in said, said
    assert verify(first.pk)[0]
