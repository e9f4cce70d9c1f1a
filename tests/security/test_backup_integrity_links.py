"""Links in a site directory, which its owner writes (issue 13, item 12): a backup that verifies
must restore, a restore's own safety backup included, and no link may carry another site's
files or /etc into an archive, or be re-created by a restore to point there. Real sites, real
tasks, real archives; each test failed before the fix."""
from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import pytest
import zstandard

from hosting.models import Backup, Site, Task
from provision.backup.archive import MANIFEST
from tests.operations.conftest import _ops, log_of, site_paths, tree_checksums  # noqa: F401 - _ops: autouse fixture
from tests.security.test_backup_integrity import backup_of, verify

pytestmark = pytest.mark.parametrize("engine", ["sqlite"])


def archived_paths(backup: Backup) -> set[str]:
    """Every path the backup's manifest lists (read from the archive itself)."""
    with open(backup.path, "rb") as raw:
        reader = zstandard.ZstdDecompressor().stream_reader(raw)
        with tarfile.open(fileobj=reader, mode="r|") as tar:
            for info in tar:
                if info.name == MANIFEST:
                    source = tar.extractfile(info)
                    assert source is not None
                    return {m["path"] for m in json.loads(source.read())["members"]}
    raise AssertionError("no manifest")


def archived_content(backup: Backup) -> bytes:
    """Everything the backup holds, decompressed: the archive and every object of its store."""
    folder = Path(backup.path).parent
    parts = [zstandard.ZstdDecompressor().stream_reader(open(backup.path, "rb")).read()]  # noqa: SIM115
    for pack in (folder / "objects" / "packs").glob("*.pack"):
        data = pack.read_bytes()
        while data:
            reader = zstandard.ZstdDecompressor().decompressobj()
            parts.append(reader.decompress(data))
            data = reader.unused_data
    return b"".join(parts)


def links_leaving(directory: Path) -> list[str]:
    """The links below DIRECTORY that resolve outside it."""
    found = []
    for folder, dirs, names in os.walk(directory):
        for name in dirs + names:
            path = Path(folder) / name
            if path.is_symlink() and not Path(os.path.realpath(path)).is_relative_to(directory.resolve()):
                found.append(f"{path.relative_to(directory)} -> {os.readlink(path)}")
    return found


def restored(run, site, backup: Backup) -> Task:  # type: ignore[no-untyped-def]
    task = run(site, "restore", {"backup": backup.pk})
    assert task.state in (Task.SUCCEEDED, Task.WARNING), (task.summary, log_of(task))
    return task


def test_a_kept_files_link_out_of_the_allowed_places_gives_a_backup_that_verifies_and_restores(installed, run):
    site = installed()
    Site.objects.filter(pk=site.pk).update(files_symlink=Site.FILES_KEEP_LINK)
    _, directory = site_paths(site)
    (directory / "files").rename(directory / "files.old")
    (directory / "files").symlink_to("/etc")
    task = run(site, "backup")
    backup = backup_of(task)
    good, said = verify(backup.pk)
    assert good, said
    restored(run, site, backup)
    assert not links_leaving(directory)
    assert "files/" in log_of(task) and task.state == Task.WARNING  # left out, and said


def test_a_followed_files_link_never_archives_another_sites_files_or_etc(installed, run, tmp_path, settings):
    settings.HARBORMASTER_FILES_ROOTS = [tmp_path / "bigfiles"]
    victim, attacker = installed(), installed()
    _, victim_dir = site_paths(victim)
    (victim_dir / "files" / "private-report.txt").write_text("the victim's private numbers 4711\n")
    _, directory = site_paths(attacker)
    for target, secret in ((victim_dir / "files", b"private numbers 4711"), (Path("/etc"), b"root:x:0:0")):
        if (directory / "files").is_symlink():
            (directory / "files").unlink()
        else:
            (directory / "files").rename(directory / "files.old")
        (directory / "files").symlink_to(target)
        task = run(attacker, "backup")
        backup = backup_of(task)
        assert secret not in archived_content(backup)
        assert not any(p.startswith("site/files/") for p in archived_paths(backup))
        assert task.state == Task.WARNING and "not in this backup" in log_of(task)


def test_links_inside_files_to_etc_or_up_and_out_are_left_out_and_the_backup_restores(installed, run):
    site = installed()
    _, directory = site_paths(site)
    files = directory / "files"
    (files / "passwd").symlink_to("/etc/passwd")
    (files / "up").symlink_to("../../..")
    (files / "here").symlink_to(".")
    (files / "climb").symlink_to("here/../..")  # each looks inside; together they leave the site
    (files / "fine").mkdir()
    (files / "fine" / "doc.txt").write_text("a document\n")
    (files / "latest").symlink_to("fine/doc.txt")  # an ordinary link inside the site stays
    task = run(site, "backup")
    backup = backup_of(task)
    good, said = verify(backup.pk)
    assert good, said
    restored(run, site, backup)
    assert not links_leaving(directory)
    assert (files / "latest").read_text() == "a document\n"
    assert {"site/files/latest", "site/files/here"} <= archived_paths(backup)
    assert not {"site/files/passwd", "site/files/up", "site/files/climb"} & archived_paths(backup)
    assert task.state == Task.WARNING and "passwd" in log_of(task)


def test_two_links_that_each_look_inside_are_not_restored_leading_out(installed, run):
    site = installed()
    _, directory = site_paths(site)
    (directory / "files" / "here").symlink_to(".")
    (directory / "files" / "climb").symlink_to("here/../..")  # files/.. is the site, here/.. is not
    backup = backup_of(run(site, "backup"))
    assert verify(backup.pk)[0]
    restored(run, site, backup)
    assert not links_leaving(directory)


def test_the_safety_backup_of_a_restore_always_restores(installed, run, settings):
    site = installed()
    _, directory = site_paths(site)
    good = backup_of(run(site, "backup"))
    (directory / "files" / "passwd").symlink_to("/etc/passwd")  # planted after the good backup
    (directory / "files" / "kept.txt").write_text("written after the good backup\n")
    before = tree_checksums(directory)
    settings.HARBORMASTER_FAULTS = {"site.restore": "verify"}  # fails after the site was replaced
    task = run(site, "restore", {"backup": good.pk})
    assert task.state == Task.FAILED, (task.state, task.summary, log_of(task))  # rolled back, not paused
    assert [s.state for s in task.steps.filter(name="restore")] == ["undone"]
    del before["files/passwd"]  # the one thing the safety backup could not hold
    assert tree_checksums(directory) == before


def test_verify_refuses_an_old_archive_that_restore_would_refuse(installed, run):
    """An archive written before these rules, holding a link to /etc/passwd."""
    site = installed()
    backup = backup_of(run(site, "backup"))
    path = Path(backup.path)
    members = []
    with open(path, "rb") as raw, tarfile.open(fileobj=zstandard.ZstdDecompressor().stream_reader(raw),
                                               mode="r|") as tar:
        for info in tar:
            members.append((info, tar.extractfile(info).read() if info.isreg() else b""))  # type: ignore[union-attr]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            if info.name == MANIFEST:
                manifest = json.loads(data)
                manifest["members"].append({"path": "site/files/passwd", "type": "symlink", "target": "/etc/passwd"})
                data = json.dumps(manifest).encode()
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    path.write_bytes(zstandard.ZstdCompressor().compress(buffer.getvalue()))
    Backup.objects.filter(pk=backup.pk).update(size=0, sha256="")
    good, said = verify(backup.pk)
    assert not good and "passwd" in said
    task = run(site, "restore", {"backup": backup.pk})
    assert task.state == Task.FAILED and "passwd" in task.summary + log_of(task)


def test_a_directory_swapped_for_a_link_while_the_backup_walks_is_not_followed(installed, run, monkeypatch):
    victim, attacker = installed(), installed()
    _, victim_dir = site_paths(victim)
    (victim_dir / "files" / "sub").mkdir()
    (victim_dir / "files" / "sub" / "doc.txt").write_text("the victim's contract 0815\n")
    _, directory = site_paths(attacker)
    sub = directory / "files" / "sub"
    sub.mkdir()
    (sub / "doc.txt").write_text("harmless\n")
    real_open, real_scandir = os.open, os.scandir
    swapped: list[str] = []

    def swap(path: object) -> None:
        if not swapped and isinstance(path, (str, os.PathLike)) and os.fspath(path) == str(sub):
            swapped.append(str(sub))
            (sub / "doc.txt").unlink()
            sub.rmdir()
            sub.symlink_to(victim_dir / "files" / "sub")  # the owner's script wins the race

    def opening(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        swap(path)
        return real_open(path, *args, **kwargs)

    def scanning(path=".", *args, **kwargs):  # type: ignore[no-untyped-def]
        swap(path)
        return real_scandir(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", opening)
    monkeypatch.setattr(os, "scandir", scanning)
    task = run(attacker, "backup")
    monkeypatch.undo()
    backup = backup_of(task)
    assert swapped
    assert b"contract 0815" not in archived_content(backup)
