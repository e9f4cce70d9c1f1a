"""Fixtures of the reliability tests: the instance's directories under tmp_path, and real
`qcluster` processes running the instance's own task types on them (killed in teardown)."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engine.clusters import ClusterFactory


@pytest.fixture
def worker_env(hm_dirs: Path, settings) -> dict[str, str]:
    """The clusters use the test's directories and the panel's key (broker messages are signed)."""
    return {
        "DJANGO_SETTINGS_MODULE": "hosting.settings",
        "HARBORMASTER_DATA_DIR": str(settings.HARBORMASTER_DATA_DIR),
        "HARBORMASTER_ROOTS": str(hm_dirs.resolve()),
        "HARBORMASTER_BACKUP_DIR": str(settings.HARBORMASTER_BACKUP_DIR),
        "HARBORMASTER_SECRET_KEY": settings.SECRET_KEY,
    }


@pytest.fixture
def real_clusters(transactional_db, tmp_path: Path) -> Iterator[ClusterFactory]:
    factory = ClusterFactory(tmp_path)
    try:
        yield factory
    finally:
        factory.kill_all()
