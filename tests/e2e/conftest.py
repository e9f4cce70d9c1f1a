"""End-to-end tests: headless Chromium against the panel on pytest-django's live server, with a
real `manage.py qcluster` worker cluster (the engine's ClusterFactory) running the real task
types on a Drupal-shaped demo platform, all on the test database."""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.engine.clusters import ClusterFactory
from tests.services import need_program

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ADMIN_PASSWORD = "admin-pass-1"


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    executable = need_program("chromium")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop on this thread while the browser lives; Django
    # would then refuse the tests' database calls as "async". The tests are synchronous:
    # nothing of theirs runs on that loop. Only while the browser lives, not for other tests.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            try:
                yield browser
            finally:
                browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def e2e_dirs(hm_dirs: Path, settings) -> Path:
    data = Path(settings.HARBORMASTER_DATA_DIR)
    for name in ("databases", "vhosts", "platforms"):
        (data / name).mkdir(exist_ok=True)
    return hm_dirs


@pytest.fixture
def worker_env(e2e_dirs: Path, settings) -> dict[str, str]:
    """The cluster runs the instance's own settings and task types on the test's directories."""
    return {
        "DJANGO_SETTINGS_MODULE": "hosting.settings",
        "HARBORMASTER_DATA_DIR": str(settings.HARBORMASTER_DATA_DIR),
        "HARBORMASTER_ROOTS": str(e2e_dirs.resolve()),
        "HARBORMASTER_BACKUP_DIR": str(settings.HARBORMASTER_BACKUP_DIR),
        # Broker messages are signed: the cluster must sign and check with the panel's key (its
        # own data directory would otherwise give it a key of its own).
        "HARBORMASTER_SECRET_KEY": settings.SECRET_KEY,
    }


class Workers:
    """Clusters of the `local` queue, started when the test asks (some open a page first);
    every one is killed in teardown."""

    def __init__(self, factory: ClusterFactory, env: dict[str, str]) -> None:
        self.factory = factory
        self.env = env

    def start(self) -> Any:
        return self.factory.start("local", env=self.env)

    def stop_all(self) -> None:
        for cluster in self.factory.started:
            cluster.kill()
            cluster.proc.wait(timeout=10)


@pytest.fixture
def workers(transactional_db, tmp_path: Path, worker_env: dict[str, str]) -> Iterator[Workers]:
    factory = ClusterFactory(tmp_path)
    try:
        yield Workers(factory, worker_env)
    finally:
        factory.kill_all()


def wait_for(check: Callable[[], Any], timeout: float = 30, what: str = "condition") -> Any:
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture
def demo(workers, e2e_dirs: Path, settings, admin_user) -> dict[str, Any]:
    """A demo platform with two sites, verified by the real cluster (which imports the sites)."""
    from hosting.inventory import add_platform, local_server
    from hosting.models import Platform, Site, Task
    from provision.demo import make_platform

    data = Path(settings.HARBORMASTER_DATA_DIR)
    root = make_platform(data / "platforms" / "d10", drupal=10, sites=2, db_dir=data / "databases")
    local_server()
    platform, _ = add_platform("d10", str(root), by=admin_user, adopt_databases=True)
    workers.start()
    wait_for(lambda: Site.objects.count() == 2 and not Task.objects.filter(state__in=Task.ACTIVE).exists()
             and Task.objects.count() == 3, 60, "the platform verify and the imported sites' verifies")
    assert set(Task.objects.values_list("state", flat=True)) <= {Task.SUCCEEDED, Task.WARNING}, \
        list(Task.objects.values_list("kind", "state", "summary"))
    return {"platform": Platform.objects.get(pk=platform.pk), "root": root, "workers": workers,
            "site": Site.objects.get(domain="site1.example.test")}


@pytest.fixture
def page(chromium, live_server, admin_user) -> Iterator[Any]:
    """A 1280 px browser page logged in as the admin through the login form."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", admin_user.username)
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    try:
        yield page
    finally:
        context.close()
