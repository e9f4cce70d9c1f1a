"""Fixtures of the operations tests: a platform with sites of two clients."""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def platform(server, tmp_path: Path):
    from hosting.models import Platform

    root = tmp_path / "platform"
    root.mkdir()
    return Platform.objects.create(name="p1", server=server, path=str(root), status="enabled")


@pytest.fixture
def make_site(platform):
    from hosting.models import Site

    def make(domain: str, client=None, status: str = "enabled"):
        return Site.objects.create(domain=domain, platform=platform, client=client, status=status)
    return make


@pytest.fixture
def site(make_site, acme):
    return make_site("www.acme.test", acme)
