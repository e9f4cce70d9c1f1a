"""The cast of every test: three users (an admin, a member of client acme, an outsider who is a
member of client globex), a server, and the data directories kept inside tmp_path."""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def hm_dirs(settings, tmp_path: Path) -> Path:
    """Point the instance's data directory, roots and backups at tmp_path."""
    data = tmp_path / "data"
    (data / "backups").mkdir(parents=True)
    settings.HARBORMASTER_DATA_DIR = data
    settings.HARBORMASTER_ROOTS = [tmp_path.resolve()]
    settings.HARBORMASTER_BACKUP_DIR = data / "backups"
    return tmp_path


@pytest.fixture
def server(db):
    from hosting.models import Server

    return Server.objects.create(name="local", queue="local", hostname="localhost")


@pytest.fixture
def acme(db):
    from hosting.models import Client

    return Client.objects.create(name="acme", title="Acme Corp")


@pytest.fixture
def globex(db):
    from hosting.models import Client

    return Client.objects.create(name="globex", title="Globex")


@pytest.fixture
def admin_user(db, django_user_model):
    return django_user_model.objects.create_superuser("admin", "admin@example.test", "admin-pass-1")


def user_in(django_user_model, name: str, client, role: str):
    """A user NAME with password NAME-pass-1, holding ROLE in CLIENT."""
    from hosting.models import Membership

    user = django_user_model.objects.create_user(name, f"{name}@{client.name}.test", f"{name}-pass-1")
    Membership.objects.create(client=client, user=user, role=role)
    return user


@pytest.fixture
def member(db, django_user_model, acme):
    return user_in(django_user_model, "member", acme, "member")


@pytest.fixture
def outsider(db, django_user_model, globex):
    return user_in(django_user_model, "outsider", globex, "member")


@pytest.fixture(autouse=True)
def fresh_cache():
    """Each test starts with an empty cache: the dashboard reuses its figures for 2 s, which
    must not carry one test's data into the next."""
    from django.core.cache import cache

    cache.clear()
    yield


# The PostgreSQL pass (`make test-postgresql`) runs `-m "not any_control_db"`: it runs again only
# what can turn out differently on another control database (locking, transactions, advisory
# locks, select_for_update, the audit triggers, migrations, query counts, the engine's claim and
# reaper, the querysets of the panel and the API). A test whose outcome comes from provision, a
# web server, a site database, a subprocess, a template or pure logic is marked here, by file or
# directory (with the reason), or by `pytest.mark.any_control_db` on the test itself; it runs in
# the SQLite pass only. A parametrization over site-database engines (`engine`/`db_engine`: sqlite,
# mysql, postgresql) keeps its sqlite case: the engine matrix runs once, on the SQLite pass.
ANY_CONTROL_DB = {
    "tests/provision": "never touches the control database",
    "tests/e2e": "the browser flows; their views and API run here through the view and API tests",
    "tests/security/test_site_trust_database.py": "site databases, on every site database engine",
    "tests/security/test_login_behind_nginx.py": "nginx's proxy headers and gunicorn's socket",
    "tests/operations/test_nginx_site.py": "what a real nginx serves",
    "tests/operations/test_apache_site.py": "what a real Apache serves",
    "tests/operations/test_apache_https.py": "a real Apache and Pebble",
    "tests/operations/test_site_https.py": "a real nginx and Pebble",
    "tests/operations/test_site_https_upload.py": "certificate files and a real nginx",
    "tests/operations/test_acme_rate_limit.py": "an ACME server's answers",
    "tests/operations/test_site_aliases_nginx.py": "what a real nginx serves",
    "tests/operations/test_site_aliases_apache.py": "what a real Apache serves",
    "tests/operations/test_site_backup.py": "archives and site databases (the restore drill)",
    "tests/operations/test_backup_actions.py": "the backup store on disk",
    "tests/operations/test_backups_command.py": "the backup store on disk",
    "tests/operations/test_aegir_import.py": "Aegir's files, parsed and refused",
    "tests/security/test_backup_integrity.py": "damaged backup stores on disk",
    "tests/security/test_backup_integrity_links.py": "links in site directories and archives",
    "tests/security/test_site_trust_import.py": "hostile files in sites/",
    "tests/security/test_site_trust_leftovers.py": "files that killed restores left",
    "tests/security/test_site_trust_swaps.py": "links swapped into a site directory",
    "tests/security/test_child_environment.py": "the environment of the programs a task runs",
    "tests/hosting/test_cli_output.py": "its commands run on an embedded SQLite database of their own",
    "tests/hosting/test_config.py": "settings parsed from the environment",
    "tests/hosting/test_command_help.py": "--help texts",
    "tests/hosting/test_demo_commands.py": "the demo platform's files and stand-in drush",
    "tests/reliability/test_csp.py": "response headers and templates",
    "tests/operations/test_platform_build_ssh.py": "git over a real sshd with a deploy key",
    "tests/operations/test_offsite.py": "rclone, sshd and S3 copies of the backup store on disk",
    "tests/operations/test_backup_export.py": "archives streamed from the backup store",
}
SITE_ENGINE_PARAMS = ("engine", "db_engine")


def any_control_db(item: pytest.Item, root: Path) -> bool:
    path = Path(item.path).relative_to(root).as_posix()
    if any(path == name or path.startswith(name + "/") for name in ANY_CONTROL_DB):
        return True
    params = getattr(item, "callspec", None)
    return params is not None and any(params.params.get(name, "sqlite") != "sqlite" for name in SITE_ENGINE_PARAMS)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark what the PostgreSQL pass leaves out, before `-m` selects (tryfirst)."""
    for item in items:
        if any_control_db(item, config.rootpath):
            item.add_marker(pytest.mark.any_control_db)
