"""Two sites racing for one alias: both tasks pass the start's check (neither has the name yet),
and the claim under hosting.sitenames' lock lets exactly one of them have it. The loser fails
with its record, settings.php and vhost as they were; its log says "taken" and names the holder
only on the administrators' detail lines. Run on SQLite and, with DATABASE_URL, on PostgreSQL
(the advisory lock)."""
from __future__ import annotations

import threading

import pytest
from django.db import connection

from hosting.engine.worker import execute
from hosting.models import Site, Task, TaskLog
from hosting.operations import resources
from hosting.starting import start_task
from tests.operations.conftest import log_of


@pytest.mark.parametrize("engine", ["sqlite"])
def test_one_of_two_racing_sites_gets_the_alias(installed, domains):
    first, second = installed(), installed()
    alias = f"shared.{first.domain}"
    tasks = [start_task("cli:test", site, "alias-add", {"alias": alias}) for site in (first, second)]
    barrier = threading.Barrier(2)

    def run(task_id: int) -> None:
        try:
            barrier.wait(timeout=10)
            execute(task_id)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(t.pk,)) for t in tasks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for task in tasks:
        task.refresh_from_db()
    states = sorted(t.state for t in tasks)
    assert states == [Task.FAILED, Task.SUCCEEDED], [(t.state, t.summary, log_of(t)) for t in tasks]
    winner, loser = sorted(tasks, key=lambda t: t.state != Task.SUCCEEDED)
    assert Site.objects.get(pk=winner.site_id).aliases == [alias]
    lost = Site.objects.get(pk=loser.site_id)
    assert lost.aliases == []
    assert f"{alias} is taken: another site answers to it." in log_of(loser)
    detail = loser.log.filter(level=TaskLog.DETAIL).values_list("line", flat=True)
    assert any(Site.objects.get(pk=winner.site_id).domain in line for line in detail)
    vhost = resources.web_server(lost.platform.server, None).vhost_path(lost.domain)  # type: ignore[arg-type]
    assert alias not in vhost.read_text()
    assert alias not in (resources.site_dir(lost) / "settings.php").read_text()


@pytest.mark.parametrize("engine", ["sqlite"])
def test_a_failing_step_puts_the_record_and_settings_back(installed, domains, settings):
    site = installed()
    before = (resources.site_dir(site) / "settings.php").read_text()
    settings.HARBORMASTER_FAULTS = {"site.alias-add": "vhost"}
    task = start_task("cli:test", site, "alias-add", {"alias": f"a.{site.domain}"})
    execute(task.pk)
    task.refresh_from_db()
    site.refresh_from_db()
    assert task.state == Task.FAILED, log_of(task)
    assert site.aliases == []
    assert (resources.site_dir(site) / "settings.php").read_text() == before
    assert "The site's record is back as it was." in log_of(task)


@pytest.mark.parametrize("engine", ["sqlite"])
def test_a_disabled_site_gets_its_alias_and_stays_disabled(installed, run):
    site = installed()
    assert run(site, "disable").state == Task.SUCCEEDED
    site.refresh_from_db()
    alias = f"a.{site.domain}"
    task = start_task("cli:test", site, "alias-add", {"alias": alias})
    execute(task.pk)
    task.refresh_from_db()
    assert task.state == Task.SUCCEEDED, log_of(task)
    web = resources.web_server(site.platform.server, None)  # type: ignore[arg-type]
    assert web.is_disabled(site.domain)
    shown = web.vhost_path(site.domain).read_text()
    assert "is disabled" in shown and alias in shown  # the 503 page answers the alias too
    assert alias in web.site_vhost_path(site.domain).read_text()  # the site's own vhost, kept aside
