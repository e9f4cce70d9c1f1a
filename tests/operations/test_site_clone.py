"""site.clone to a new domain and database, on the same or another platform; a failure before
any step leaves the source as it was and nothing of the clone behind."""
from __future__ import annotations

from pathlib import Path

import pytest

from hosting.models import Site, Task
from hosting.operations import resources
from tests.operations.conftest import log_of, rows, site_paths, snapshot, tree_checksums, write_rows

STEPS = ["prepare", "copy", "settings", "database", "vhost", "updatedb", "verify", "record"]


def nothing_of(domain: str, server, tmp_path: Path) -> None:
    assert not Site.objects.filter(domain=domain).exists()
    assert not list((tmp_path / "platforms").glob(f"*/sites/{domain}"))
    assert not (tmp_path / "data" / "vhosts" / f"{domain}.conf").exists()
    driver = resources.db_driver(server)
    name = resources.new_database_names(domain, driver)[0]
    assert name.endswith("example_test")  # the first choice is free again: nothing was left


@pytest.mark.parametrize("to_other", [False, True], ids=["same-platform", "other-platform"])
def test_it_clones_a_site_with_its_own_database(installed, run, make_platform, local, domains, to_other, tmp_path):
    site = installed()
    write_rows(site, ["shared past"])
    _, source_dir = site_paths(site)
    (source_dir / "files" / "logo.png").write_bytes(b"png" * 100)
    source_files = tree_checksums(source_dir)
    other = make_platform(local, "p2") if to_other else site.platform
    new_domain = domains.new("clone")
    task = run(site, "clone", {"domain": new_domain, "platform": other.pk})
    assert task.state == Task.SUCCEEDED, (task.summary, log_of(task))
    clone = Site.objects.get(domain=new_domain)
    assert task.result["clone"] == clone.pk
    assert clone.platform_id == other.pk and clone.status == Site.ENABLED and clone.client_id == site.client_id
    assert clone.db_name != site.db_name
    assert rows(clone, "hm_drill") == [("0", "shared past")]
    _, clone_dir = site_paths(clone)
    assert (clone_dir / "files" / "logo.png").read_bytes() == b"png" * 100
    assert new_domain in (clone_dir / "settings.php").read_text()
    assert (tmp_path / "data" / "vhosts" / f"{new_domain}.conf").is_file()
    # They are two sites now: a change to one is not a change to the other.
    write_rows(clone, ["clone only"])
    assert rows(site, "hm_drill") == [("0", "shared past")]
    assert tree_checksums(source_dir) == source_files


@pytest.mark.parametrize("engine", ["sqlite"])
def test_it_refuses_a_domain_in_use_or_unsafe(installed, run):
    one, two = installed(), installed()
    assert "exists already" in run(one, "clone", {"domain": two.domain}).summary
    assert "not valid" in run(one, "clone", {"domain": "../../etc"}).summary


@pytest.mark.parametrize("engine", ["sqlite"])
@pytest.mark.parametrize("fault", STEPS)
def test_it_leaves_nothing_behind_when_a_step_fails(installed, run, make_platform, local, domains, settings,
                                                   tmp_path, fault):
    site = installed()
    other = make_platform(local, "p2")
    write_rows(site, ["one"])
    before = snapshot(site)
    settings.HARBORMASTER_FAULTS = {"site.clone": fault}
    new_domain = domains.new("clone")
    task = run(site, "clone", {"domain": new_domain, "platform": other.pk})
    assert task.state == Task.FAILED and "injected fault" in task.summary, log_of(task)
    assert snapshot(site) == before
    nothing_of(new_domain, local, tmp_path)


@pytest.mark.parametrize("engine", ["mysql", "postgresql"])
def test_it_drops_the_clones_database_on_failure(installed, run, domains, settings, local, tmp_path):
    site = installed()
    write_rows(site, ["one"])
    before = snapshot(site)
    settings.HARBORMASTER_FAULTS = {"site.clone": "record"}
    new_domain = domains.new("clone")
    task = run(site, "clone", {"domain": new_domain})
    assert task.state == Task.FAILED, log_of(task)
    assert snapshot(site) == before
    driver = resources.db_driver(local)
    name = task.result["state"].get("db_name") or resources.new_database_names(new_domain, driver)[0]
    assert not driver.database_exists(name)
    nothing_of(new_domain, local, tmp_path)


@pytest.mark.parametrize("engine", ["sqlite"])
def test_it_gives_a_clone_its_own_copy_of_a_linked_files_directory(installed, run, domains, tmp_path, settings):
    site = installed()
    _, directory = site_paths(site)
    settings.HARBORMASTER_FILES_ROOTS = [tmp_path / "bigfiles"]
    shared = tmp_path / "bigfiles" / site.domain
    shared.parent.mkdir()
    (directory / "files").rename(shared)
    (directory / "files").symlink_to(shared)
    (shared / "photo.jpg").write_bytes(b"jpeg")
    follow = domains.new("follow")
    assert run(site, "clone", {"domain": follow}).state == Task.SUCCEEDED
    copied = site_paths(Site.objects.get(domain=follow))[1] / "files"
    assert not copied.is_symlink() and (copied / "photo.jpg").read_bytes() == b"jpeg"
    Site.objects.filter(pk=site.pk).update(files_symlink=Site.FILES_KEEP_LINK)
    keep = domains.new("keep")
    task = run(site, "clone", {"domain": keep})
    assert task.state == Task.WARNING and "shares it with the source" in log_of(task)
    assert (site_paths(Site.objects.get(domain=keep))[1] / "files").resolve() == shared


@pytest.mark.parametrize("engine", ["sqlite"])
def test_it_refuses_a_clone_that_would_not_fit(installed, run, monkeypatch):
    import shutil
    from collections import namedtuple

    site = installed()
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(1 << 30, (1 << 30) - 4096, 4096))
    task = run(site, "clone", {"domain": "full.example.com"})
    assert task.state == Task.FAILED
    assert "The clone of" in task.summary and "only 4.0 KiB free of 1.0 GiB" in task.summary, task.summary
    assert not Site.objects.filter(domain="full.example.com").exists()


@pytest.mark.parametrize("engine", ["sqlite"])
def test_a_clone_carries_the_https_mode_but_not_the_certificate(installed, run, platform, domains):
    from hosting.models import Certificate

    site = installed()
    Site.objects.filter(pk=site.pk).update(https_mode="required", https_hsts=True)
    Certificate.objects.create(site=site, path="/nowhere/v1", domains=[site.domain])
    new_domain = domains.new("clone")
    task = run(site, "clone", {"domain": new_domain, "platform": platform.pk})
    assert task.state == Task.SUCCEEDED, (task.summary, log_of(task))
    clone = Site.objects.get(domain=new_domain)
    assert (clone.https_mode, clone.https_hsts) == ("required", True)
    assert not Certificate.objects.filter(site=clone).exists()
    assert "ssl_certificate" not in (resources.web_config(platform.server).vhost_dir / f"{new_domain}.conf").read_text()
