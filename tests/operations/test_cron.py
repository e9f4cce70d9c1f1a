"""Cron for every site (hosting.cron): the spread over the interval, the sites it skips, runs
through the engine with the stand-in drush as a real subprocess, the compact records that replace
the task rows, the failure streak's notification and the per-server cron cap."""
from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core import mail
from django.core.management import call_command

from hosting import cron
from hosting.engine import fairness
from hosting.engine.worker import execute
from hosting.models import AuditEvent, CronRun, Lock, Site, SiteCron, Task
from tests.operations.conftest import log_of

pytestmark = pytest.mark.parametrize("engine", ["sqlite"])
BASE = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def _in_slot(site: Site) -> datetime:
    """A moment just inside SITE's current hourly slot."""
    return cron.slot_start(site.pk, 60, BASE) + timedelta(seconds=30)


def _run_queued() -> list[Task]:
    tasks = list(cron.scheduled_runs().filter(state=Task.QUEUED))
    for task in tasks:
        execute(task.pk)
        task.refresh_from_db()
    return tasks


def test_the_start_times_spread_over_the_interval(settings, engine):
    settings.HARBORMASTER_CRON_MIN_INTERVAL = 15
    per_minute = Counter(int(cron.offset(pk, timedelta(hours=1)).total_seconds() // 60) for pk in range(1, 1001))
    assert len(per_minute) == 60  # every minute of the hour has some
    assert max(per_minute.values()) < 35  # 1,000 sites: about 17 a minute, never hundreds
    # Stable: the same site keeps its place.
    assert cron.offset(42, timedelta(hours=1)) == cron.offset(42, timedelta(hours=1))
    # A site never run is due only when its slot comes round, once per interval.
    due = sum(cron.is_due(pk, None, BASE) for pk in range(1, 1001))
    assert 0 < due < 80


def test_the_interval_is_the_sites_own_the_default_or_off(settings, engine):
    settings.HARBORMASTER_CRON_INTERVAL, settings.HARBORMASTER_CRON_MIN_INTERVAL = 60, 15
    assert cron.interval_of(None) == 60
    assert cron.interval_of(SiteCron(interval=0)) == 0
    assert cron.interval_of(SiteCron(interval=5)) == 15  # never under the administrator's minimum
    assert cron.parse_interval("default") is None and cron.parse_interval("0") == 0
    for bad in ("5", "-1", "hourly", "99999"):
        with pytest.raises(ValueError):
            cron.parse_interval(bad)
    assert not cron.is_due(1, SiteCron(interval=0), BASE)


def test_it_runs_due_sites_and_keeps_a_compact_record(installed):
    site = installed()
    result = cron.tick(_in_slot(site))
    assert len(result.queued) == 1
    (task,) = _run_queued()
    assert task.state == Task.SUCCEEDED, log_of(task)
    assert "Cron run completed." in log_of(task)
    assert cron.tick(_in_slot(site) + timedelta(seconds=60)).queued == []  # once per slot
    assert not Task.objects.filter(pk=task.pk).exists()  # folded into its record
    run = CronRun.objects.get(site=site)
    assert run.outcome == SiteCron.OK and run.log == "" and run.duration > 0
    # Audit: one event for the tick that queued it, none for the run itself.
    assert not AuditEvent.objects.filter(action="task.queued", after__kind="cron").exists()
    (event,) = AuditEvent.objects.filter(action="cron.tick")
    assert event.after["queued"] == 1 and event.actor_label == "system:schedule" and event.client is None
    state = SiteCron.objects.get(site=site)
    assert state.last_outcome == SiteCron.OK and state.failures == 0 and state.last_duration == run.duration
    # The next slot, an hour on, runs it again.
    assert len(cron.tick(_in_slot(site) + timedelta(hours=1)).queued) == 1


def test_it_skips_disabled_busy_and_locked_sites(installed, run):
    quiet, busy, locked, disabled = installed(), installed(), installed(), installed()
    assert run(disabled, "disable").state == Task.SUCCEEDED
    holder = Task.objects.create(target_type="site", kind="verify", site=busy, state=Task.RUNNING)
    other = Task.objects.create(target_type="site", kind="backup", site=quiet, state=Task.SUCCEEDED)
    Lock.objects.create(key=f"site:{locked.pk}", task=other)
    for site in (quiet, busy, locked, disabled):
        SiteCron.objects.create(site=site, queued_at=BASE - timedelta(days=1))  # all overdue
    result = cron.tick(BASE)
    queued = set(Task.objects.filter(pk__in=result.queued).values_list("site_id", flat=True))
    assert queued == {quiet.pk}
    assert result.skipped_busy == 2
    holder.state = Task.SUCCEEDED
    holder.save()
    Lock.objects.all().delete()
    queued = set(Task.objects.filter(pk__in=cron.tick(BASE).queued).values_list("site_id", flat=True))
    assert queued == {busy.pk, locked.pk}  # they run once free, within the same slot


def test_failures_in_a_row_notify_once_and_show(installed, platform, settings, admin_user):
    settings.HARBORMASTER_CRON_FAILURES = 3
    site = installed()
    (Path(platform.path) / ".standin").mkdir(exist_ok=True)
    (Path(platform.path) / ".standin" / "fail-core:cron").write_text("PHP Fatal error: the mail queue broke\n")
    mail.outbox.clear()
    for hour in range(4):
        assert cron.tick(_in_slot(site) + timedelta(hours=hour)).queued
        (task,) = _run_queued()
        assert task.state == Task.FAILED
    cron.fold()
    state = SiteCron.objects.get(site=site)
    assert state.failures == 4 and state.alerted and state.last_outcome == SiteCron.FAILED
    assert [m.subject for m in mail.outbox if "cron.failing" in m.subject] == \
        [f"[Harbormaster] cron.failing: site.cron {site.domain}"]
    assert "failed 3 times in a row" in mail.outbox[-1].body
    assert "the mail queue broke" in CronRun.objects.filter(site=site).latest("started_at").log
    assert list(cron.failing()) == [state]
    # Audited: each tick names the sites whose runs failed, and the streak once, on the site.
    ticks = AuditEvent.objects.filter(action="cron.tick").order_by("pk")
    assert [e.after["failed_sites"] for e in ticks] == [[], [site.domain], [site.domain], [site.domain]]
    (streak,) = AuditEvent.objects.filter(action="cron.failing")
    assert streak.object_id == str(site.pk) and streak.after == {"failures": 3} and streak.client == site.client
    assert not AuditEvent.objects.filter(action="task.queued", after__kind="cron").exists()
    # A good run ends the streak.
    (Path(platform.path) / ".standin" / "fail-core:cron").unlink()
    cron.tick(_in_slot(site) + timedelta(hours=5))
    _run_queued()
    cron.fold()
    state.refresh_from_db()
    assert state.failures == 0 and not state.alerted and list(cron.failing()) == []


def test_history_is_bounded(installed, settings):
    settings.HARBORMASTER_CRON_HISTORY = 3
    site = installed()
    for hour in range(5):
        cron.tick(_in_slot(site) + timedelta(hours=hour))
        _run_queued()
    cron.fold()
    assert CronRun.objects.filter(site=site).count() == 3
    assert cron.scheduled_runs().count() == 0


def test_cron_has_its_own_cap_per_server_and_never_blocks_a_backup(installed, settings):
    settings.HARBORMASTER_CRON_CONCURRENCY = 1
    settings.HARBORMASTER_SERVER_CONCURRENCY = 4
    a, b = installed(), installed()
    Task.objects.create(target_type="site", kind="cron", site=a, server=a.platform.server, state=Task.RUNNING)
    waiting = Task.objects.create(target_type="site", kind="cron", site=b, server=b.platform.server,
                                  state=Task.QUEUED, waited_at=BASE)
    reason, _, _ = fairness.obstacle(waiting)
    assert reason and "cron runs, their limit" in reason
    backup = Task.objects.create(target_type="site", kind="backup", site=b, server=b.platform.server,
                                 state=Task.QUEUED, waited_at=BASE)
    assert fairness.obstacle(backup)[0] is None
    assert waiting.pk not in fairness.fair_picks(a.platform.server.pk, 3)


def test_the_command_line_runs_and_shows_cron(installed, capsys):
    site = installed()
    call_command("cron", "set", site.domain, "--interval", "30")
    assert "every 30 minutes" in capsys.readouterr().out
    call_command("cron", "run", "--site", site.domain)
    assert "cron queued as task" in capsys.readouterr().out
    # A run an operator asked for is audited like any task (the scheduler's are counted per tick).
    (queued,) = AuditEvent.objects.filter(action="task.queued", after__kind="cron")
    assert queued.after["kind"] == "cron" and queued.actor_label.startswith("cli:")
    _run_queued()
    call_command("cron", "run")
    assert "Folded 1 finished runs" in capsys.readouterr().out
    call_command("cron", "status", "--platform", site.platform.name)
    out = capsys.readouterr().out
    assert site.domain in out and "30 min" in out and "\tok\t" in out
    from django.core.management.base import CommandError
    with pytest.raises(CommandError, match="between"):
        call_command("cron", "set", site.domain, "--interval", "1")


def test_the_fold_takes_finished_runs_in_batches_once_each(installed):
    a, b = installed(), installed()
    server = a.platform.server
    finished = BASE - timedelta(minutes=1)
    runs = [Task.objects.create(target_type="site", kind="cron", site=site, server=server, args={"scheduled": True},
                                target_label=site.domain, state=state, started_at=BASE - timedelta(minutes=2),
                                finished_at=finished)
            for site, state in [(a, Task.SUCCEEDED), (b, Task.FAILED), (a, Task.SUCCEEDED), (b, Task.SUCCEEDED),
                                (a, Task.FAILED)]]
    still = Task.objects.create(target_type="site", kind="cron", site=a, server=server, args={"scheduled": True},
                                state=Task.RUNNING)
    assert cron._fold(batch=2) == (5, [b.domain, a.domain])
    assert cron._fold(batch=2) == (0, [])  # nothing twice
    assert sorted(CronRun.objects.values_list("task_id_was", flat=True)) == sorted(t.pk for t in runs)
    assert list(Task.objects.filter(kind="cron").values_list("pk", flat=True)) == [still.pk]
    assert SiteCron.objects.get(site=a).failures == 1 and SiteCron.objects.get(site=b).failures == 0
