"""manage.py import_aegir: an Aegir 3 installation (generated as Aegir writes it) is planned,
recorded once, verified, and a second run finds it known; hostile context files are refused or
skipped with their reason, and nothing on disk changes."""
from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from hosting.models import AuditEvent, Client, Platform, Site, Task
from tests.aegir_install import AegirInstall, make_aegir
from tests.operations.conftest import log_of, tree_checksums


@pytest.fixture
def local(make_server):
    return make_server("sqlite")


@pytest.fixture
def aegir(tmp_path: Path, local) -> AegirInstall:
    """Two platforms with sites (clients, aliases, a redirect, HTTPS, a disabled site, a site
    copied onto the second platform), a platform whose root is gone, a remote server, Aegir's own
    front end."""
    install = make_aegir(tmp_path, Path(local.sqlite_dir))
    install.server("server_master", "localhost")
    install.server("server_db2", "db2.example.net")
    install.platform("platform_drupal7")
    install.platform("platform_drupal7b")
    install.platform("platform_gone", build=False)
    install.platform("platform_remote", server="server_db2", build=False, root=tmp_path / "remote")
    install.site("one.example.test", "platform_drupal7", client="acme", aliases=("www.one.example.test",),
                 redirection="one.example.test", https=2)
    install.site("two.example.test", "platform_drupal7", client="Globex Corp", enabled=False, redirection=True,
                 aliases=("2.example.test",))
    install.site("three.example.test", "platform_drupal7b", client="acme", https=1)
    install.copy_site("three.example.test", "platform_drupal7")
    install.site("orphan.example.test", "platform_gone", build=False)
    install.site("nodir.example.test", "platform_drupal7", build=False)
    install.site("aegir.example.test", "platform_drupal7", build=False, profile="hostmaster")
    return install


def command(*args: str) -> str:
    out = StringIO()
    call_command("import_aegir", *args, stdout=out)
    return out.getvalue()


def plan_json(install: AegirInstall) -> dict:
    return json.loads(command(str(install.drush), "--dry-run", "--json"))


def skipped(plan: dict) -> dict[str, str]:
    return {k["name"]: k["reason"] for k in plan["skipped"]}


def test_dry_run_prints_the_plan_and_records_nothing(aegir: AegirInstall) -> None:
    text = command(str(aegir.drush), "--dry-run")
    assert "one.example.test" in text and "Skipped:" in text and "not-shown" not in text
    plan = plan_json(aegir)
    assert {s["domain"] for s in plan["sites"]} == {"one.example.test", "two.example.test", "three.example.test"}
    one = next(s for s in plan["sites"] if s["domain"] == "one.example.test")
    assert one["aliases"] == ["www.one.example.test"] and one["redirection"] == "one.example.test"
    assert one["https"] == "required" and one["client"] == "acme"
    two = next(s for s in plan["sites"] if s["domain"] == "two.example.test")
    assert two["redirection"] == "two.example.test" and two["aliases"] == ["2.example.test"]
    three = next(s for s in plan["sites"] if s["domain"] == "three.example.test")
    assert any("also on disk on platform drupal7" in n for n in three["notes"])
    assert plan["clients"]["new"] == ["acme", "globex-corp"]
    reasons = skipped(plan)
    assert "platform root gone" in reasons["platform_gone"]
    assert "another host" in reasons["server_db2"]
    assert "not this host's" in reasons["platform_remote"]
    assert "site directory missing" in reasons["nodir.example.test"]
    assert "not imported" in reasons["orphan.example.test"]
    assert "hostmaster" in reasons["aegir.example.test"]
    assert not Platform.objects.exists() and not Site.objects.exists() and not Client.objects.exists()
    assert not Task.objects.exists() and not AuditEvent.objects.filter(action="aegir.imported").exists()


def test_import_records_once_verifies_and_changes_nothing_on_disk(aegir: AegirInstall, tmp_path: Path) -> None:
    from hosting.engine.worker import execute

    before = tree_checksums(aegir.base)
    drush_before = tree_checksums(aegir.drush)
    out = command(str(aegir.drush))
    assert "Imported 2 platform(s), 3 site(s), 2 client(s); 5 verify task(s) queued." in out
    assert tree_checksums(aegir.base) == before and tree_checksums(aegir.drush) == drush_before

    platforms = {p.aegir["context"]: p for p in Platform.objects.all()}
    assert set(platforms) == {"platform_drupal7", "platform_drupal7b"}
    sites = {s.domain: s for s in Site.objects.select_related("client", "platform")}
    one, two, three = sites["one.example.test"], sites["two.example.test"], sites["three.example.test"]
    assert one.imported and one.aegir["context"] == "one.example.test" and one.aegir["https"] == "required"
    assert one.aliases == ["www.one.example.test"] and one.client.name == "acme"
    # Aegir's redirect to the site's own domain and its HTTPS setting carry over (the renewal
    # schedule obtains the certificates).
    assert (one.alias_mode, one.https_mode) == ("redirect", "required")
    assert (two.alias_mode, three.alias_mode, three.https_mode) == ("redirect", "serve", "on")
    assert two.status == Site.DISABLED and two.client.name == "globex-corp" and two.client.title == "Globex Corp"
    assert three.platform.aegir["context"] == "platform_drupal7b"
    assert not one.db_name and not one.db_file  # recorded by the verify, after it reaches it
    events = AuditEvent.objects.filter(action="aegir.imported")
    assert events.count() == 1 and events.get().after["sites"] == 3

    tasks = list(Task.objects.order_by("pk"))
    assert [t.kind for t in tasks] == ["verify"] * 5
    for task in tasks:
        execute(task.pk)
        task.refresh_from_db()
    by_target = {(t.site.domain if t.site_id else t.platform.name): t for t in tasks}
    for domain in ("one.example.test", "two.example.test"):
        assert by_target[domain].state in ("succeeded", "warning"), log_of(by_target[domain])
        site = Site.objects.get(domain=domain)
        assert site.db_name and not site.attention, log_of(by_target[domain])
    # The copy of three on drupal7 was found by that platform's verify: which copy is the site?
    three.refresh_from_db()
    assert three.attention, log_of(by_target["drupal7"])

    # A second run: nothing new.
    again = json.loads(command(str(aegir.drush), "--json"))
    assert again["counts"]["sites"] == 0 and again["counts"]["platforms"] == 0
    assert sorted(again["known_sites"]) == ["one.example.test", "three.example.test", "two.example.test"]
    assert Site.objects.count() == 3 and Task.objects.count() == 5 + 0


def test_an_interrupted_run_is_finished_by_the_next(aegir: AegirInstall, monkeypatch) -> None:
    from hosting.aegir import record as recording

    calls = {"n": 0}
    real = recording.start_task

    def dies(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(recording, "start_task", dies)
    with pytest.raises(KeyboardInterrupt):
        command(str(aegir.drush))
    assert not Site.objects.exists() and not Platform.objects.exists() and not Task.objects.exists()
    monkeypatch.setattr(recording, "start_task", real)
    assert "3 site(s)" in command(str(aegir.drush))
    assert Site.objects.count() == 3


def test_records_that_exist_win(aegir: AegirInstall, local, make_platform) -> None:
    """A domain already recorded, and a database another record owns, are skipped."""
    other = make_platform(local, "other")
    Site.objects.create(domain="one.example.test", platform=other, status=Site.ENABLED)
    from provision.paths import safe_name

    Site.objects.create(domain="thief.example.test", platform=other, status=Site.ENABLED,
                        db_name=safe_name("two.example.test", 48))
    reasons = skipped(plan_json(aegir))
    assert reasons["one.example.test"] == "domain already recorded"
    assert "belongs to thief.example.test" in reasons["two.example.test"]  # administrators read whose


def test_hostile_context_files(aegir: AegirInstall, tmp_path: Path) -> None:
    drush = aegir.drush
    (drush / "evil.alias.drushrc.php").write_text("<?php\n$aliases['evil'] = array(\n 'root' => exec('id'),\n);\n")
    (drush / "here.alias.drushrc.php").write_text("<?php\n$aliases['x'] = <<<EOT\nroot\nEOT;\n")
    with (drush / "huge.alias.drushrc.php").open("wb") as handle:
        handle.truncate(50 * 1024 * 1024)
    (tmp_path / "elsewhere.php").write_text("<?php\n$aliases['elsewhere'] = array('context_type' => 'site');\n")
    (drush / "link.alias.drushrc.php").symlink_to(tmp_path / "elsewhere.php")
    aegir.platform("platform_outside", root=Path("/usr/share/outside"), build=False)
    aegir.site("path.example.test", "platform_drupal7", build=False, uri="path.example.test/blog")
    aegir.site("cloaked.example.test", "platform_drupal7b")
    aegir.cloak("cloaked.example.test")
    aegir.context("typed", {"context_type": "site", "uri": {0: "not", 1: "a string"}})
    aegir.context("platform_twin", {"context_type": "platform", "server": "@server_master",
                                    "root": str(aegir.platforms["platform_drupal7"])})
    plan = plan_json(aegir)
    reasons = skipped(plan)
    assert reasons[str(drush / "evil.alias.drushrc.php")].startswith("line 3: 'exec' is not data")
    assert "line 2" in reasons[str(drush / "here.alias.drushrc.php")]
    assert "larger than" in reasons[str(drush / "huge.alias.drushrc.php")]
    assert "link" in reasons[str(drush / "link.alias.drushrc.php")]
    assert "root outside HARBORMASTER_ROOTS" in reasons["platform_outside"]
    assert "provision_db_cloaking" in reasons["cloaked.example.test"]
    assert "uri with a path" in reasons["path.example.test/blog"]  # the uri is named
    assert "not a string" in reasons[str(drush / "typed.alias.drushrc.php")]
    assert reasons["platform_twin"] == "same root as platform_drupal7, which is imported"
    assert {s["domain"] for s in plan["sites"]} == {"one.example.test", "two.example.test", "three.example.test"}
    command(str(drush))
    assert not Site.objects.filter(domain__startswith="path").exists()
    assert not Platform.objects.filter(path__startswith="/usr").exists()


def test_a_directory_that_is_not_one_or_cannot_be_read_is_refused(tmp_path: Path, local, monkeypatch) -> None:
    with pytest.raises(CommandError, match="not a directory"):
        command(str(tmp_path / "missing"))

    def refused(directory: Path) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("provision.aegir.read_contexts", refused)
    with pytest.raises(CommandError, match="Cannot read .*: Permission denied"):
        command(str(tmp_path), "--dry-run")
    assert not AuditEvent.objects.filter(action="aegir.imported").exists()


@pytest.mark.parametrize("db_engine", ["mysql", "postgresql"])
def test_sites_on_a_database_server_take_their_database_through_their_verify(db_engine, make_server, tmp_path,
                                                                            domains) -> None:
    """Aegir's sites live on MariaDB (or PostgreSQL): databases Harbormaster did not create. The
    import's confirmation lets each verify record its own, and never another record's."""
    from hosting.engine.worker import execute
    from hosting.operations import resources

    server = make_server(db_engine)
    install = make_aegir(tmp_path, None)
    install.server()
    install.platform("platform_d7")
    driver = resources.db_driver(server)
    install.site_on_server("db1.example.test", "platform_d7", driver, f"{domains.prefix}one", client="acme")
    install.site_on_server("db2.example.test", "platform_d7", driver, f"{domains.prefix}two")
    other = Platform.objects.create(name="other", server=server, path=str(tmp_path / "other"))
    Site.objects.create(domain="owner.example.test", platform=other, status=Site.ENABLED,
                        db_name=f"{domains.prefix}two", db_user=f"{domains.prefix}two")
    plan = plan_json(install)
    assert "belongs to owner.example.test" in skipped(plan)["db2.example.test"]
    command(str(install.drush))
    for task in Task.objects.order_by("pk"):
        execute(task.pk)
        task.refresh_from_db()
        assert task.state in ("succeeded", "warning"), log_of(task)
    site = Site.objects.get(domain="db1.example.test")
    assert (site.db_name, site.db_user, site.attention) == (f"{domains.prefix}one", f"{domains.prefix}one", "")
    # The platform's verify finds the skipped site on disk and records it as it records any site
    # it finds: without the database, which is another record's, and needing attention.
    taken = Site.objects.get(domain="db2.example.test")
    assert (taken.db_name, taken.aegir, bool(taken.attention)) == ("", {}, True)
