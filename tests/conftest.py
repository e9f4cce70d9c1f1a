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
