"""What the engine writes and the audit trail are view-only in Django admin, for a superuser too:
no add, change or delete form answers, a POST changes nothing, and there is no bulk delete."""
from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from hosting import audit
from hosting.models import AuditEvent, Backup, Cluster, Lock, StoreCheck, Task, TaskLog, TaskStep


@pytest.fixture
def records(db, admin_user):
    task = Task.objects.create(kind="verify", target_type="server", target_label="web1", state=Task.RUNNING,
                               summary="original outcome")
    now = timezone.now()
    return {
        "task": task,
        "taskstep": TaskStep.objects.create(task=task, position=0, name="check"),
        "tasklog": TaskLog.objects.create(task=task, position=0, at=now, line="original line"),
        "lock": Lock.objects.create(key="server:1", task=task),
        "auditevent": audit.record(admin_user, "site.note", detail="who did what"),
        "cluster": Cluster.objects.create(host="web1", pid=4242, process_started=1.0, queue="local",
                                          started_at=now, beat_at=now),
        "storecheck": StoreCheck.objects.create(domain="example.test"),
        "backup": Backup.objects.create(domain="example.test", path="example.test/a.tar.zst", kind="manual"),
    }


NAMES = ["task", "taskstep", "tasklog", "lock", "auditevent", "cluster", "storecheck", "backup"]


def url(name: str, view: str, *args) -> str:
    return reverse(f"admin:hosting_{name}_{view}", args=args)


@pytest.mark.parametrize("name", NAMES)
def test_it_shows_the_list_and_a_read_only_detail(client, admin_user, records, name):
    client.force_login(admin_user)
    listing = client.get(url(name, "changelist"), {"q": "x"})
    assert listing.status_code == 200
    assert client.get(url(name, "changelist")).status_code == 200
    detail = client.get(url(name, "change", records[name].pk))
    assert detail.status_code == 200
    page = detail.content.decode()
    # The detail is a view: no save button, no delete link, no add link.
    assert 'name="_save"' not in page and url(name, "delete", records[name].pk) not in page
    assert url(name, "add") not in page


@pytest.mark.parametrize("name", NAMES)
def test_it_refuses_add_change_and_delete(client, admin_user, records, name):
    client.force_login(admin_user)
    obj = records[name]
    assert client.get(url(name, "add")).status_code == 403
    assert client.post(url(name, "add"), {"summary": "planted", "key": "site:1"}).status_code == 403
    assert client.get(url(name, "delete", obj.pk)).status_code == 403
    assert client.post(url(name, "delete", obj.pk), {"post": "yes"}).status_code == 403
    assert client.post(url(name, "change", obj.pk), {"summary": "forged", "state": "succeeded",
                                                      "detail": "forged", "line": "forged"}).status_code == 403
    assert type(obj).objects.filter(pk=obj.pk).exists()


def test_it_keeps_every_record_as_it_was(client, admin_user, records):
    client.force_login(admin_user)
    count = Lock.objects.count()
    client.post(url("lock", "add"), {"key": "site:99", "task": records["task"].pk})
    client.post(url("task", "change", records["task"].pk), {"state": "succeeded", "summary": "forged"})
    client.post(url("auditevent", "change", records["auditevent"].pk), {"detail": "forged"})
    records["task"].refresh_from_db()
    assert (records["task"].state, records["task"].summary) == (Task.RUNNING, "original outcome")
    assert AuditEvent.objects.get(pk=records["auditevent"].pk).detail == "who did what"
    assert Lock.objects.count() == count


@pytest.mark.parametrize("name", NAMES)
def test_it_offers_no_bulk_delete(client, admin_user, records, name):
    client.force_login(admin_user)
    obj = records[name]
    page = client.get(url(name, "changelist")).content.decode()
    assert "delete_selected" not in page
    response = client.post(url(name, "changelist"), {"action": "delete_selected", "_selected_action": [obj.pk],
                                                     "post": "yes"})
    assert response.status_code in (200, 302)
    assert type(obj).objects.filter(pk=obj.pk).exists()
