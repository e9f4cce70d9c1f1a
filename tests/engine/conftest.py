"""Fixtures of the engine's tests: nodes to run tasks on, a controlled database clock, the
scripted operations, and real `manage.py qcluster` worker clusters."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.engine.clusters import ClusterFactory


@pytest.fixture(autouse=True)
def engine_settings(settings):
    settings.HARBORMASTER_EXTRA_OPERATIONS = ["tests.engine.ops"]
    settings.HARBORMASTER_HEARTBEAT = 0.5
    settings.HARBORMASTER_MAX_ATTEMPTS = 3
    return settings


@pytest.fixture
def platform(server, tmp_path: Path):
    from hosting.models import Platform

    root = tmp_path / "platform"
    root.mkdir()
    return Platform.objects.create(name="p1", server=server, path=str(root), status="enabled")


@pytest.fixture
def make_site(platform):
    from hosting.models import Site

    def make(domain: str, client=None, on=None):
        return Site.objects.create(domain=domain, platform=on or platform, client=client, status="enabled")
    return make


@pytest.fixture
def site(make_site, acme):
    return make_site("www.acme.test", acme)


@pytest.fixture
def record(tmp_path: Path) -> Path:
    """The file the scripted operations append `rec` lines to."""
    return tmp_path / "record.txt"


class Clock:
    """The database clock, under the test's control: heartbeats, claims and reapers read it."""

    def __init__(self) -> None:
        self.now = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    from django.db.models import DateTimeField, Value

    from hosting.engine import clock as engine_clock

    fixed = Clock()
    monkeypatch.setattr(engine_clock, "db_now", lambda: fixed.now)
    monkeypatch.setattr(engine_clock, "now_expr", lambda: Value(fixed.now, output_field=DateTimeField()))
    return fixed


@pytest.fixture
def clusters(transactional_db, tmp_path: Path):
    """Start real qcluster processes on the test database; every one is killed in teardown."""
    factory = ClusterFactory(tmp_path)
    try:
        yield factory
    finally:
        factory.kill_all()


@pytest.fixture
def cluster(clusters, server):
    """One cluster serving the `local` queue."""
    return clusters.start("local")
