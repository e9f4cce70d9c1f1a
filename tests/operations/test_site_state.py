"""site.disable, site.enable and site.login-reset."""
from __future__ import annotations

import pytest

from hosting.models import Site, Task
from tests.operations.conftest import log_of

pytestmark = pytest.mark.parametrize("engine", ["sqlite"])


def test_it_disables_and_enables_a_site(installed, run, tmp_path):
    site = installed()
    vhost = tmp_path / "data" / "vhosts" / f"{site.domain}.conf"
    own = vhost.read_text()
    task = run(site, "disable")
    assert task.state == Task.SUCCEEDED, log_of(task)
    site.refresh_from_db()
    assert site.status == Site.DISABLED
    assert "return 503" in vhost.read_text() and site.domain in vhost.read_text()
    assert (tmp_path / "data" / "vhosts" / "harbormaster-pages" / "site-disabled.html").is_file()
    task = run(site, "enable")
    assert task.state == Task.SUCCEEDED, log_of(task)
    site.refresh_from_db()
    assert site.status == Site.ENABLED and vhost.read_text() == own


def test_it_rolls_the_vhost_back_when_recording_fails(installed, run, settings, tmp_path):
    site = installed()
    vhost = tmp_path / "data" / "vhosts" / f"{site.domain}.conf"
    own = vhost.read_text()
    settings.HARBORMASTER_FAULTS = {"site.disable": "record"}
    task = run(site, "disable")
    assert task.state == Task.FAILED
    site.refresh_from_db()
    assert site.status == Site.ENABLED and vhost.read_text() == own


def test_it_gives_the_login_link_only_to_the_task_result(installed, run, admin_user):
    site = installed()
    task = run(site, "login-reset", by=admin_user)
    assert task.state == Task.SUCCEEDED, log_of(task)
    url = task.result["private"]["login_url"]
    assert url.startswith(f"http://{site.domain}/user/reset/1/")
    assert url not in log_of(task) and url not in task.summary
    assert task.created_by == admin_user
