"""`manage.py platform add` and `site add`: record the node, queue its first task, print its id;
bad input gives a clear error and writes nothing."""
from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from hosting.models import AuditEvent, Platform, Site, Task


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.fixture
def platform_dir(hm_dirs):
    path = hm_dirs / "platforms" / "d10"
    path.mkdir(parents=True)
    return path


@pytest.fixture
def verified_platform(db, platform_dir):
    run("platform", "add", "d10", str(platform_dir))
    platform = Platform.objects.get(name="d10")
    Platform.objects.filter(pk=platform.pk).update(status=Platform.ENABLED, verified_at="2026-01-01T00:00Z")
    platform.refresh_from_db()
    return platform


def test_it_records_a_platform_and_queues_its_verify(db, platform_dir):
    out = run("platform", "add", "d10", str(platform_dir))
    task_id = int(re.search(r"task (\d+)", out).group(1))
    task = Task.objects.get(pk=task_id)
    assert (task.kind, task.target_type, task.state) == ("verify", "platform", "queued")
    assert task.platform.path == str(platform_dir.resolve())
    assert task.server.queue == "local"
    assert AuditEvent.objects.filter(action="platform.added").exists()


@pytest.mark.parametrize("path", ["/etc", "/tmp/../etc", "relative/path"])
def test_it_refuses_a_platform_outside_the_roots(db, hm_dirs, path):
    with pytest.raises(CommandError, match="outside the configured roots|parent references|not an absolute path"):
        run("platform", "add", "bad", path)
    assert not Platform.objects.exists() and not Task.objects.exists()


def test_it_refuses_a_bad_platform_name(db, platform_dir):
    with pytest.raises(CommandError, match="Bad platform name"):
        run("platform", "add", "Bad Name!", str(platform_dir))
    assert not Platform.objects.exists()


def test_it_records_a_site_and_queues_its_install(verified_platform, acme):
    out = run("site", "add", "WWW.Example.COM", "--platform", "d10", "--client", "acme")
    site = Site.objects.get()
    assert site.domain == "www.example.com" and site.client == acme
    task = Task.objects.get(site=site)
    assert f"task {task.pk}" in out and task.kind == "install" and task.client == acme


@pytest.mark.parametrize("domain", ["../../etc", "a/b.example", "no-dot", "bad_domain.com", "x" * 300 + ".com"])
def test_it_refuses_a_bad_domain_and_writes_nothing(verified_platform, domain):
    tasks_before = Task.objects.count()
    with pytest.raises(CommandError):
        run("site", "add", domain, "--platform", "d10")
    assert not Site.objects.exists() and Task.objects.count() == tasks_before


def test_it_refuses_a_duplicate_domain(verified_platform):
    run("site", "add", "a.example.com", "--platform", "d10")
    with pytest.raises(CommandError, match="exists already"):
        run("site", "add", "A.example.com", "--platform", "d10")
    assert Site.objects.count() == 1


def test_it_refuses_a_site_on_a_locked_platform(verified_platform):
    Platform.objects.filter(pk=verified_platform.pk).update(status=Platform.LOCKED)
    with pytest.raises(CommandError, match="locked"):
        run("site", "add", "a.example.com", "--platform", "d10")
    assert not Site.objects.exists()


def test_it_names_an_unknown_platform(db):
    with pytest.raises(CommandError, match="No platform named 'nope'"):
        run("site", "add", "a.example.com", "--platform", "nope")


def test_it_lists_platforms_and_sites_with_a_header_or_as_json(verified_platform, acme, platform_dir):
    import json

    run("site", "add", "www.example.com", "--platform", "d10", "--client", "acme")
    assert run("platform", "list").splitlines() == [
        "NAME\tSERVER\tSTATUS\tDRUPAL\tPATH", f"d10\tlocal\tenabled\t-\t{platform_dir.resolve()}"]
    assert run("site", "list").splitlines() == [
        "DOMAIN\tPLATFORM\tCLIENT\tSTATUS", "www.example.com\td10\tacme\tqueued"]
    [platform] = json.loads(run("platform", "list", "--json"))
    assert (platform["id"], platform["name"], platform["status"]) == (verified_platform.pk, "d10", "enabled")
    [site] = json.loads(run("site", "list", "--json"))
    assert (site["domain"], site["platform"], site["client"]) == ("www.example.com", verified_platform.pk, acme.pk)
