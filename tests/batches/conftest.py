"""Fixtures of the batch migrate tests: the operations' fixtures (a server with SQLite site
databases, Drupal-shaped platforms, installed sites) and `drive`, which runs every queued task
in this process, as workers would, until none is left."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.operations.conftest import (  # noqa: F401  (fixtures)
    _ops,
    domains,
    installed,
    local,
    make_platform,
    make_server,
    platform,
    run,
)


@pytest.fixture
def engine() -> str:
    return "sqlite"


@pytest.fixture
def target(local, make_platform):
    """A second platform of the server, whose code brings one pending database update."""
    made = make_platform(local, "p2")
    (Path(made.path) / ".standin").mkdir()
    (Path(made.path) / ".standin" / "pending-updates").write_text("system_update_10400\n")
    return made


@pytest.fixture
def quick_site(platform, domains):
    """An installed site made directly on disk and in the records (what site.install leaves,
    without its drush run): the batch tests need many, and fast."""
    from hosting.models import Site
    from provision.demo import add_site
    from provision.paths import safe_name

    def make(on=None):
        on = on or platform
        domain = domains.new()
        add_site(Path(on.docroot), domain, drupal=10, db_dir=on.server.sqlite_dir)
        return Site.objects.create(domain=domain, platform=on, status=Site.ENABLED, db_name=safe_name(domain, 48))

    return make


def drive(limit: int | None = None) -> int:
    """Run queued tasks in id order until none is left (or LIMIT ran); returns how many ran."""
    from hosting.engine.worker import execute
    from hosting.models import Task

    ran = 0
    while ran < (limit or 10_000):
        pk = Task.objects.filter(state=Task.QUEUED).order_by("pk").values_list("pk", flat=True).first()
        if pk is None:
            return ran
        execute(pk)
        ran += 1
    if limit is None:
        raise AssertionError("tasks kept coming")
    return ran


def fail_for(platform, domain: str, command: str = "updatedb", text: str = "injected: updatedb broke\n") -> None:
    """Make the stand-in drush's COMMAND fail on PLATFORM for DOMAIN only."""
    faults = Path(platform.path) / ".standin"
    faults.mkdir(exist_ok=True)
    (faults / f"fail-{command}@{domain}").write_text(text)


def bootstraps(site) -> bool:
    """Does the stand-in drush say the site works where its record puts it?"""
    import subprocess

    from hosting.operations import resources

    site.refresh_from_db()
    root = resources.platform_root(site.platform)
    done = subprocess.run([str(root / "vendor" / "bin" / "drush"), f"--root={resources.docroot(site.platform)}",
                           f"--uri={site.domain}", "status", "--field=bootstrap"],
                          capture_output=True, text=True, check=False)
    return done.stdout.strip() == "Successful"


from tests.tenancy.conftest import api_as  # noqa: E402,F401  (fixture)
