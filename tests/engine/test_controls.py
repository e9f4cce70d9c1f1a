"""The human controls: permission-checked by one rule, audited, refused in the wrong state."""
from __future__ import annotations

import subprocess

import pytest
from django.core.exceptions import PermissionDenied

from hosting import controls
from hosting.actions import queue_task
from hosting.engine.claim import claim
from hosting.engine.owner import Owner
from hosting.engine.processes import mark_env
from hosting.engine.worker import execute
from hosting.models import AuditEvent, Lock, Membership, Task, TaskLog, TaskStep
from tests.engine.helpers import alive, steps

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    monkeypatch.setattr("hosting.engine.dispatch.dispatch", lambda task_id, queue: True)


@pytest.fixture
def viewer(django_user_model, acme):
    user = django_user_model.objects.create_user("viewer", "viewer@acme.test", "viewer-pass-1")
    Membership.objects.create(client=acme, user=user, role=Membership.VIEWER)
    return user


def _audited(action: str, task: Task) -> bool:
    return AuditEvent.objects.filter(action=action, object_id=str(task.pk)).exists()


def _paused(site, record=None) -> Task:
    task = queue_task(site, "install", args=steps(
        {"name": "a", "sh": "true", "undo": "exit 3"}, {"name": "b", "sh": "exit 1"}, {"name": "c", "sh": "true"}))
    assert execute(task.pk) == Task.PAUSED
    return Task.objects.get(pk=task.pk)


def test_it_lets_admins_do_everything_and_members_only_cancel_and_retry(site, admin_user, member, outsider, viewer):
    task = queue_task(site, "backup")
    for action in controls.CONTROLS:
        assert controls.can_control(admin_user, task, action)
    assert {a for a in controls.CONTROLS if controls.can_control(member, task, a)} == {"cancel", "retry"}
    assert not any(controls.can_control(u, task, a) for u in (outsider, viewer, None) for a in controls.CONTROLS)


def test_it_refuses_an_outsider_and_changes_nothing(site, outsider):
    task = queue_task(site, "backup")
    with pytest.raises(PermissionDenied):
        controls.cancel(task, by=outsider)
    assert Task.objects.get(pk=task.pk).state == Task.QUEUED


def test_it_cancels_a_queued_task_at_once(site, member):
    task = queue_task(site, "backup")
    task = controls.cancel(task, by=member)
    assert task.state == Task.CANCELLED and task.summary == "Cancelled by member before it started."
    assert _audited("task.cancel", task)
    assert execute(task.pk) == "not queued (cancelled)"


def test_it_asks_the_worker_of_a_running_task_to_cancel(site, member):
    task = queue_task(site, "backup")
    claim(task.pk, Owner.current())
    task = controls.cancel(task, by=member)
    assert task.state == Task.RUNNING and task.cancel_requested and task.cancel_reason == "Cancelled by member"


def test_it_force_stops_a_running_task_releasing_locks_and_killing_its_processes(site, admin_user):
    task = queue_task(site, "backup")
    owner = Owner.current()
    claim(task.pk, owner)
    child = subprocess.Popen(["sleep", "60"], env=mark_env(task.pk, owner), start_new_session=True)
    try:
        task = controls.force_stop(task, by=admin_user)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    assert task.state == Task.CANCELLED and task.summary == "Force-stopped by admin."
    assert not Lock.objects.exists() and not alive(child.pid)
    assert TaskLog.objects.filter(task=task, level="warning", line__startswith="Force-stopped by admin").exists()
    assert _audited("task.force_stop", task)


def test_it_retries_with_the_same_arguments(site, member):
    task = queue_task(site, "backup", args={"sleep": 0})
    Task.objects.filter(pk=task.pk).update(state=Task.FAILED)
    task.refresh_from_db()
    new = controls.retry(task, by=member)
    assert new.pk != task.pk and new.retry_of_id == task.pk and new.args == {"sleep": 0}
    assert new.state == Task.QUEUED and _audited("task.retry", task)


def test_it_resumes_a_paused_task_from_its_failed_step(site, admin_user):
    task = _paused(site)
    assert (list(TaskStep.objects.filter(task=task).values_list("state", flat=True))
            == ["undo-failed", "failed", "pending"])
    task.args = steps({"name": "a", "sh": "true", "undo": "exit 3"}, {"name": "b", "sh": "true"},
                      {"name": "c", "sh": "true"})
    Task.objects.filter(pk=task.pk).update(args=task.args)  # the admin fixed the cause
    task = controls.resume(task, by=admin_user)
    assert task.state == Task.QUEUED and Lock.objects.filter(task=task).exists()
    assert execute(task.pk) == Task.SUCCEEDED
    assert list(TaskStep.objects.filter(task=task).values_list("state", flat=True)) == ["done", "done", "done"]
    assert _audited("task.resume", task)


def test_it_skips_the_failed_step_and_ends_with_a_warning(site, admin_user):
    # a cannot be undone, so b's failure pauses the task.
    task = queue_task(site, "install", args=steps(
        {"name": "a", "sh": "true", "reversible": False}, {"name": "b", "sh": "exit 1"}, {"name": "c", "sh": "true"}))
    assert execute(task.pk) == Task.PAUSED
    task = controls.skip(Task.objects.get(pk=task.pk), by=admin_user)
    assert execute(task.pk) == Task.WARNING
    assert list(TaskStep.objects.filter(task=task).values_list("state", flat=True)) == ["done", "skipped", "done"]
    assert Task.objects.get(pk=task.pk).summary == "Done with warnings (skipped: B)."


def test_it_aborts_a_paused_task_and_releases_its_locks(site, admin_user):
    task = controls.abort(_paused(site), by=admin_user)
    assert task.state == Task.FAILED and task.summary.startswith("Aborted by admin while paused: ")
    assert not Lock.objects.exists() and _audited("task.abort", task)


def test_it_refuses_controls_in_the_wrong_state(site, admin_user):
    task = queue_task(site, "backup")
    with pytest.raises(controls.ControlRefused, match="only a paused task can be resumed"):
        controls.resume(task, by=admin_user)
    with pytest.raises(controls.ControlRefused, match="only a task that has ended can be retried"):
        controls.retry(task, by=admin_user)
    with pytest.raises(controls.ControlRefused, match="not running. Cancel it instead"):
        controls.force_stop(task, by=admin_user)
    controls.cancel(task, by=admin_user)
    with pytest.raises(controls.ControlRefused, match="already ended"):
        controls.cancel(task, by=admin_user)


def test_it_force_unlocks_for_admins_only_with_a_warning(site, admin_user, member):
    task = queue_task(site, "backup")
    claim(task.pk, Owner.current())
    key = f"site:{site.pk}"
    with pytest.raises(PermissionDenied):
        controls.force_unlock(key, by=member)
    controls.force_unlock(key, by=admin_user)
    assert not Lock.objects.exists()
    assert TaskLog.objects.filter(task=task, level="warning", line__contains="force-unlock").exists()
    assert AuditEvent.objects.filter(action="lock.force_unlock").exists()
    with pytest.raises(controls.ControlRefused, match="Nothing holds"):
        controls.force_unlock(key, by=admin_user)


def test_it_lists_the_controls_a_user_may_use_now(site, admin_user, member):
    task = queue_task(site, "backup")
    assert controls.allowed_controls(member, task) == ["cancel"]
    claim(task.pk, Owner.current())
    task.refresh_from_db()
    assert controls.allowed_controls(admin_user, task) == ["cancel", "force-stop"]
