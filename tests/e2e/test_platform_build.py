"""An administrator builds a platform from a Git repository in the panel: the form, the build
task run by a real worker cluster (git clone of a tag of a local bare repository, verify), and
the platform's page showing it enabled with its commit; then the next version from another tag."""
from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from hosting.models import Platform, Task
from tests.e2e.conftest import wait_for
from tests.gitrepos import drupal_repository, git
from tests.services import need_program

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_an_admin_builds_a_platform_from_git_then_its_next_version(page, live_server, workers, e2e_dirs, tmp_path):
    from hosting.inventory import local_server

    need_program("git")
    bare, work = drupal_repository(tmp_path / "repos")
    local_server()
    workers.start()

    page.goto(f"{live_server.url}/platforms/")
    page.get_by_role("link", name="New platform from Git").click()
    page.fill("input[name=repository]", str(bare))
    page.fill("input[name=ref]", "v1")
    page.get_by_role("button", name="Build platform").click()
    page.wait_for_url("**/platforms/*/?new=*")
    expect(page.locator("main")).to_contain_text("Build from Git queued as")
    platform = Platform.objects.get(name="shop-v1")
    build = wait_for(lambda: Task.objects.filter(platform=platform, kind="build", state__in=Task.FINAL).first(), 90,
                     "the build to end")
    assert build.state == Task.SUCCEEDED, build.summary
    # The page reloads itself when the watched task ends.
    expect(page.locator("h1")).to_contain_text("enabled", timeout=15_000)
    expect(page.locator("#git-commit")).to_have_text(git("rev-parse", "v1^{commit}", cwd=work))
    expect(page.locator("main")).to_contain_text("10.3.1")

    page.get_by_role("link", name="Build the next version").click()
    page.fill("input[name=ref]", "v2")
    page.get_by_role("button", name="Build").click()
    page.wait_for_url("**/platforms/*/?new=*")
    second = Platform.objects.get(name="shop-v2")
    wait_for(lambda: Platform.objects.filter(pk=second.pk, status="enabled").exists(), 90, "the second build")
    page.goto(f"{live_server.url}/platforms/{second.pk}/")
    expect(page.locator("main")).to_contain_text("10.3.2")
    assert Path(second.path).is_dir() and Path(second.path).parent == Path(platform.path).parent
