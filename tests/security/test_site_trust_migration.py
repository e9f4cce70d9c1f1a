"""Records written before sites owned their recorded database: migration 0006 leaves MariaDB and
PostgreSQL records working as they were, and takes the database fields away from the records a
hostile settings.php could have planted (an import sharing a live site's database) and from
imported SQLite records (whose file name says nothing about where the file is), marking them as
needing attention until their next verify."""
from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("hosting", "0005_clusters")]
AFTER = [("hosting", "0006_site_trust")]


@pytest.fixture
def executor(transactional_db):
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    yield executor
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_it_makes_records_from_before_safe(executor):
    apps = executor.loader.project_state(BEFORE).apps
    Server, Platform, Site = (apps.get_model("hosting", m) for m in ("Server", "Platform", "Site"))
    mysql = Server.objects.create(name="db1", queue="db1", db_engine="mysql")
    lite = Server.objects.create(name="lite", queue="lite", db_engine="sqlite")
    p1 = Platform.objects.create(name="p1", server=mysql, path="/srv/p1", status="enabled")
    p2 = Platform.objects.create(name="p2", server=lite, path="/srv/p2", status="enabled")

    def site(domain, platform, **fields):
        return Site.objects.create(domain=domain, platform=platform, status="enabled", **fields).pk

    victim = site("victim.test", p1, db_name="victim_db", db_user="victim_user")
    planted = site("evil.test", p1, db_name="victim_db", db_user="evil_user", imported=True)
    alone = site("alone.test", p1, db_name="alone_db", db_user="alone_user", imported=True)
    lite_import = site("lite.test", p2, db_name=".ht.sqlite", imported=True)
    lite_install = site("made.test", p2, db_name="made_test")
    gone = site("gone.test", p1, db_name="alone_db", db_user="gone_user", imported=True)
    Site.objects.filter(pk=gone).update(status="deleted")

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    Site = executor.loader.project_state(AFTER).apps.get_model("hosting", "Site")
    after = {s.pk: s for s in Site.objects.all()}
    for pk in (victim, alone, lite_install):
        assert after[pk].attention == "" and after[pk].db_name, after[pk].domain
    assert (after[alone].db_name, after[alone].db_user) == ("alone_db", "alone_user")
    assert (after[planted].db_name, after[planted].db_user) == ("", "")
    assert "victim.test" in after[planted].attention
    assert after[lite_import].db_name == "" and "verify the site" in after[lite_import].attention
    assert after[gone].db_name == "alone_db"  # deleted records are history: left as they were
