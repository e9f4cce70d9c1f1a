from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from hosting.models import AuditEvent, Lock, TaskLog
from tests.views.conftest import make_task


def hold(target, key, **fields):
    task = make_task(target, "backup", "running", **fields)
    return Lock.objects.create(key=key, task=task)


def test_it_lists_who_holds_what_since_when(as_admin, site, globex_site):
    lock = hold(site, f"site:{site.pk}")
    hold(globex_site, f"site:{globex_site.pk}")
    response = as_admin.get(reverse("lock-list"))
    body = response.content.decode()
    assert f"site:{site.pk}" in body and f"site:{globex_site.pk}" in body
    assert f"/tasks/{lock.task_id}/" in body and "web1 pid 4242" in body
    assert reverse("lock-unlock", args=[lock.pk]) in body


def test_it_shows_a_member_only_locks_of_their_tasks_and_no_unlock(as_member, site, globex_site):
    mine = hold(site, f"site:{site.pk}")
    theirs = hold(globex_site, f"site:{globex_site.pk}")
    response = as_member.get(reverse("lock-list"))
    assert [r["lock"].pk for r in response.context["rows"]] == [mine.pk]
    assert b"Force-unlock" not in response.content
    assert as_member.get(reverse("lock-unlock", args=[mine.pk])).status_code == 403
    assert as_member.post(reverse("lock-unlock", args=[theirs.pk]), {"dead": "on"}).status_code == 403


def test_it_shows_an_outsider_none_of_acmes_locks(as_outsider, site):
    hold(site, f"site:{site.pk}")
    assert as_outsider.get(reverse("lock-list")).context["rows"] == []


def test_it_warns_before_force_unlocking(as_admin, site):
    lock = hold(site, f"site:{site.pk}", heartbeat_at=timezone.now() - timedelta(minutes=2))
    body = as_admin.get(reverse("lock-unlock", args=[lock.pk])).content.decode()
    assert "Unlocking a resource held by a running task can corrupt it; only do this if the task is dead." in body
    assert "silent" in body


def test_it_force_unlocks_only_when_ticked(as_admin, admin_user, site):
    lock = hold(site, f"site:{site.pk}")
    refused = as_admin.post(reverse("lock-unlock", args=[lock.pk]), {})
    assert refused.status_code == 400 and Lock.objects.filter(pk=lock.pk).exists()
    as_admin.post(reverse("lock-unlock", args=[lock.pk]), {"dead": "on"})
    assert not Lock.objects.filter(pk=lock.pk).exists()
    assert AuditEvent.objects.filter(action="lock.force_unlock", actor=admin_user).exists()
    assert TaskLog.objects.filter(task_id=lock.task_id, line__contains="force-unlock").exists()


def test_it_answers_the_poll_with_the_table_only(as_admin, site):
    hold(site, f"site:{site.pk}")
    response = as_admin.get(reverse("lock-list"), {"part": "results"}, HTTP_HX_REQUEST="true")
    assert response.content.lstrip().startswith(b'<div id="results"')
