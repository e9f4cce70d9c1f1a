"""Platform verify and what a client can leave in sites/: a settings.php naming a live site's
database, random bytes, 60 MB, a link out of the site directory, a FIFO, a directory name that is
not UTF-8. Before the fix each was imported as an enabled site (the first with the other site's
database in its record, so deleting it dropped the other's); now such sites are imported as
needing attention, with the reason and without a database, and discovery goes on."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from hosting.models import Site, Task
from provision.settings_php import render_settings_php, write_settings_php
from tests.operations.conftest import (
    _ops,  # noqa: F401 - autouse: data dirs, transactional db
    log_of,
    rows,
    site_db,
    site_paths,
    write_rows,
)


def plant(platform, domain: str) -> Path:
    """sites/DOMAIN on PLATFORM, as a client with shell access would make it."""
    directory = Path(platform.docroot) / "sites" / domain
    (directory / "files").mkdir(parents=True)
    return directory


def write_db(directory: Path, db) -> None:
    write_settings_php(directory / "settings.php", render_settings_php(
        db, hash_salt="salt", drupal=10, file_public_path=f"sites/{directory.name}/files"))


def imported(domain: str) -> Site:
    return Site.objects.get(domain=domain)


def test_it_never_imports_a_site_with_a_live_sites_database(installed, make_platform, local, run, domains):
    victim = installed()
    write_rows(victim, ["private row of the victim"])
    other = make_platform(local, "p2")
    theirs, _ = site_db(victim)
    evil = domains.new("evil")
    write_db(plant(other, evil), theirs)
    task = run(other, "verify")
    assert task.state == Task.WARNING, log_of(task)
    site = imported(evil)
    assert (site.db_name, site.db_user, site.db_file) == ("", "", "")
    assert victim.domain in site.attention_detail and "belongs to another site" in site.attention
    assert victim.domain not in site.attention
    assert not Task.objects.filter(site=site, kind="verify").exists()
    # Deleting the imported site leaves the victim's database alone.
    assert run(site, "delete").state in (Task.SUCCEEDED, Task.WARNING)
    assert rows(victim, "hm_drill") == [("0", "private row of the victim")]
    # And its verify does not take it either.
    write_db(plant(other, evil), theirs)
    assert run(other, "verify").state == Task.WARNING
    again = Site.objects.exclude(status=Site.DELETED).get(domain=evil)
    verify = run(again, "verify")
    assert verify.state == Task.FAILED and "belongs to" in verify.summary
    assert Site.objects.get(pk=again.pk).db_name == ""


@pytest.mark.parametrize("engine", ["sqlite"])
def test_it_never_imports_an_sqlite_file_outside_the_site(installed, make_platform, local, run, domains, tmp_path):
    victim = installed()
    other = make_platform(local, "p2")
    outside = tmp_path / "elsewhere.sqlite"
    outside.write_bytes(b"")
    for label, path in (("theirs", site_db(victim)[0].database), ("outside", str(outside))):
        domain = domains.new(label)
        from provision.settings_php import DatabaseSettings

        write_db(plant(other, domain), DatabaseSettings(driver="sqlite", database=path))
    assert run(other, "verify").state == Task.WARNING
    theirs, elsewhere = (Site.objects.get(domain__contains=label) for label in ("theirs", "outside"))
    assert victim.domain in theirs.attention_detail and theirs.db_name == ""
    assert "outside the site directory" in elsewhere.attention and elsewhere.db_file == ""


@pytest.mark.parametrize("engine", ["sqlite"])
def test_it_imports_hostile_settings_files_as_needing_attention(installed, platform, run, tmp_path):
    victim = installed()
    _, victim_dir = site_paths(victim)
    cases = {
        "random.example.test": lambda p: p.write_bytes(os.urandom(64 << 10)),
        "huge.example.test": lambda p: p.write_bytes(b"<?php\n" + b"/* padding */\n" * ((60 << 20) // 14)),
        "link.example.test": lambda p: p.symlink_to(victim_dir / "settings.php"),
        "fifo.example.test": lambda p: os.mkfifo(p),
    }
    for domain, make in cases.items():
        make(plant(platform, domain) / "settings.php")
    task = run(platform, "verify")
    assert task.state == Task.WARNING, log_of(task)
    reasons = {domain: imported(domain).attention for domain in cases}
    assert "no database" in reasons["random.example.test"]
    assert "larger than" in reasons["huge.example.test"]
    assert "symbolic link" in reasons["link.example.test"]
    assert "not a regular file" in reasons["fifo.example.test"]
    for domain in cases:
        site = imported(domain)
        assert (site.db_name, site.db_file) == ("", ""), domain
        assert not Task.objects.filter(site=site).exists(), domain
    # Nothing but verify and delete starts on them; the buttons say why.
    from hosting.actions import TaskRefused, queue_task

    with pytest.raises(TaskRefused, match="needs attention"):
        queue_task(imported("link.example.test"), "backup")


@pytest.mark.parametrize("engine", ["sqlite"])
def test_verify_never_follows_a_settings_link_to_another_site(installed, run):
    """A recorded site whose settings.php becomes a link to another site's: verify, backup and
    every other task read nothing through it (the other site's password and hash salt)."""
    a, b = installed(), installed()
    _, a_dir = site_paths(a)
    _, b_dir = site_paths(b)
    os.chmod(a_dir / "settings.php", 0o640)
    (a_dir / "settings.php").unlink()
    (a_dir / "settings.php").symlink_to(b_dir / "settings.php")
    for kind in ("verify", "backup"):
        task = run(a, kind)
        assert task.state == Task.FAILED and "symbolic link" in task.summary, (kind, log_of(task))
    repaired = run(a, "verify", {"repair_settings": True})
    assert repaired.state in (Task.SUCCEEDED, Task.WARNING), log_of(repaired)
    assert not (a_dir / "settings.php").is_symlink()
    assert b.db_name not in (a_dir / "settings.php").read_text()
    from provision.sitefiles import read_hash_salt

    assert read_hash_salt(a_dir) != read_hash_salt(b_dir)


@pytest.mark.parametrize("engine", ["sqlite"])
def test_a_directory_name_that_is_not_utf8_does_not_break_discovery(platform, run):
    from provision.demo import add_site

    sites = Path(platform.docroot) / "sites"
    os.mkdir(os.fsencode(sites) + b"/\xff\xfe.example.test")
    add_site(Path(platform.docroot), "fine.example.test", drupal=10)
    task = run(platform, "verify")
    assert task.state == Task.SUCCEEDED, (task.summary, log_of(task))
    assert "skipped sites/\ufffd\ufffd.example.test" in log_of(task)
    assert "site fine.example.test: imported from disk" in log_of(task)
    assert imported("fine.example.test").db_file == "private/db.sqlite"
