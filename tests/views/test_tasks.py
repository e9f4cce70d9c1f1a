import csv
import io
from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from hosting.models import AuditEvent, Task, TaskLog
from tests.views.conftest import make_task


def test_it_lists_every_task_to_an_admin(as_admin, site_task, globex_task):
    rows = as_admin.get(reverse("task-list")).context["page"].rows
    assert {t.pk for t in rows} == {site_task.pk, globex_task.pk}


def test_it_lists_only_the_members_tasks(as_member, site_task, globex_task):
    response = as_member.get(reverse("task-list"))
    assert [t.pk for t in response.context["page"].rows] == [site_task.pk]
    assert b"globex" not in response.content


def test_it_lists_only_the_outsiders_tasks(as_outsider, site_task, globex_task):
    assert [t.pk for t in as_outsider.get(reverse("task-list")).context["page"].rows] == [globex_task.pk]


def test_it_filters_by_state_type_target_client_user_and_dates(as_admin, admin_user, site, globex_site, acme):
    old = make_task(site, "backup", "failed", by=admin_user)
    Task.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=10))
    new = make_task(site, "verify", "succeeded")
    other = make_task(globex_site, "verify", "succeeded", by=admin_user)

    def ids(**params):
        return {t.pk for t in as_admin.get(reverse("task-list"), params).context["page"].rows}

    assert ids(state="failed") == {old.pk}
    assert ids(kind="verify") == {new.pk, other.pk}
    assert ids(target="GLOBEX") == {other.pk}
    assert ids(client=acme.pk) == {old.pk, new.pk}
    assert ids(user="admin") == {old.pk, other.pk}
    today = timezone.localdate()
    assert ids(since=str(today)) == {new.pk, other.pk}
    assert ids(until=str(today - timedelta(days=5))) == {old.pk}
    assert ids(site=site.pk) == {old.pk, new.pk}


def test_it_shows_a_bad_date_range_next_to_the_field(as_admin):
    response = as_admin.get(reverse("task-list"), {"since": "2030-01-02", "until": "2030-01-01"})
    assert b"The end date is before the start date." in response.content


def test_it_exports_the_filtered_list_as_csv(as_admin, admin_user, site, globex_site):
    done = make_task(site, "backup", "succeeded", by=admin_user)
    make_task(globex_site, "verify", "failed")
    response = as_admin.get(reverse("task-export"), {"kind": "backup"})
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["id", "type", "target", "state", "user", "created", "started", "finished", "duration"]
    assert len(rows) == 2
    assert rows[1][:5] == [str(done.pk), "site.backup", "www.acme.test", "succeeded", "admin"]
    assert rows[1][8] == "25.0"


def test_it_exports_only_the_members_tasks(as_member, site_task, globex_task):
    body = b"".join(as_member.get(reverse("task-export")).streaming_content).decode()
    assert "www.acme.test" in body and "globex" not in body


def test_it_keeps_formulas_out_of_the_export(as_admin, django_user_model, site):
    evil = django_user_model.objects.create_user("=cmd", password="x-pass-1234")
    make_task(site, "backup", "succeeded", by=evil)
    body = b"".join(as_admin.get(reverse("task-export")).streaming_content).decode()
    assert ",'=cmd," in body


def test_it_cancels_the_selected_tasks(as_member, member, site, globex_site):
    mine = make_task(site, "backup", "queued")
    theirs = make_task(globex_site, "backup", "queued")
    listing = as_member.get(reverse("task-list"))
    assert listing.context["cancellable"] == {mine.pk}
    response = as_member.post(reverse("task-bulk-cancel"), {"ids": [mine.pk, theirs.pk], "back": "state=queued"})
    assert response["Location"] == reverse("task-list") + "?state=queued"
    assert Task.objects.get(pk=mine.pk).state == Task.CANCELLED
    assert Task.objects.get(pk=theirs.pk).state == Task.QUEUED  # not visible to the member: untouched
    assert AuditEvent.objects.filter(action="task.cancel", actor=member).count() == 1


def test_it_asks_a_running_task_to_stop_when_cancelled(as_admin, site):
    running = make_task(site, "backup", "running")
    as_admin.post(reverse("task-bulk-cancel"), {"ids": [running.pk]})
    running.refresh_from_db()
    assert running.state == Task.RUNNING and running.cancel_requested


def test_it_shows_steps_log_and_controls(as_member, site_task):
    response = as_member.get(reverse("task-detail", args=[site_task.pk]))
    body = response.content.decode()
    assert "Dump the database" in body and "line 2 of acme" in body
    assert [a for a, _ in response.context["controls"]] == []  # a succeeded task is not offered Retry
    assert 'id="log-poller"' not in body  # a finished task is not polled


def test_it_hides_the_task_from_an_outsider(as_outsider, site_task):
    assert as_outsider.get(reverse("task-detail", args=[site_task.pk])).status_code == 404
    assert as_outsider.get(reverse("task-log", args=[site_task.pk])).status_code == 404
    assert as_outsider.get(reverse("task-log-text", args=[site_task.pk])).status_code == 404


def test_it_shows_the_owner_heartbeat_and_a_poller_while_running(as_admin, site):
    task = make_task(site, "backup", "running", current_step="dump")
    body = as_admin.get(reverse("task-detail", args=[task.pk])).content.decode()
    assert "web1 · pid 4242" in body and "Heartbeat" in body
    assert f'hx-get="/tasks/{task.pk}/log/?after=-1"' in body
    # A running task: lines within 1 s (the 400 ms start again after each answer: about 0.5 s apart).
    assert "every 400ms" in body and "hm-visible from:document" in body
    assert "No log lines yet." in body  # the placeholder until the first line


def test_it_says_why_a_queued_task_waits(as_admin, site):
    holder = make_task(site, "backup", "running")
    waiting = make_task(site, "verify", "queued",
                        waiting_reason=f"waiting for task #{holder.pk} holding site:{site.pk}", waiting_on=holder)
    body = as_admin.get(reverse("task-detail", args=[waiting.pk])).content.decode()
    assert f"waiting for task #{holder.pk} holding site:{site.pk}" in body
    assert f'href="/tasks/{holder.pk}/">see #{holder.pk}' in body


def test_it_streams_the_lines_after_the_last_one_seen(as_admin, site):
    task = make_task(site, "backup", "running")
    for i in range(5):
        TaskLog.objects.create(task=task, position=i, at=timezone.now(), line=f"row {i}")
    response = as_admin.get(reverse("task-log", args=[task.pk]), {"after": 2}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert "row 2" not in body and "row 3" in body and "row 4" in body
    assert f"/tasks/{task.pk}/log/?after=4" in body  # the next poll asks for what comes after
    assert 'id="task-live" hx-swap-oob="true"' in body  # state, steps and controls refresh too
    assert "<html" not in body


def test_it_stops_polling_once_the_task_has_ended(as_admin, site_task):
    body = as_admin.get(reverse("task-log", args=[site_task.pk]), {"after": 2}).content.decode()
    assert "log-poller" not in body and "succeeded" in body


def test_it_opens_a_long_log_at_its_end(as_admin, site):
    task = make_task(site, "backup", "succeeded")
    TaskLog.objects.bulk_create([TaskLog(task=task, position=i, at=timezone.now(), line=f"row {i}")
                                 for i in range(600)])
    response = as_admin.get(reverse("task-detail", args=[task.pk]))
    assert response.context["before"] == 100 and b"row 599" in response.content and b">row 99<" not in response.content
    text = b"".join(as_admin.get(reverse("task-log-text", args=[task.pk])).streaming_content).decode()
    assert text.count("\n") == 600


def test_it_shows_the_login_link_only_to_who_asked(as_member, as_admin, member, site):
    url = "https://www.acme.test/user/reset/1/abc/login"
    task = make_task(site, "login-reset", "succeeded", by=member, result={"private": {"login_url": url}})
    assert url.encode() in as_member.get(reverse("task-detail", args=[task.pk])).content
    assert url.encode() not in as_admin.get(reverse("task-detail", args=[task.pk])).content
    assert url.encode() not in as_admin.get(reverse("task-log", args=[task.pk])).content


def test_it_shows_a_member_no_admin_controls(as_member, site):
    task = make_task(site, "migrate", "paused")
    assert as_member.get(reverse("task-detail", args=[task.pk])).context["controls"] == []
    assert as_member.post(reverse("task-control", args=[task.pk, "abort"])).status_code == 403


def test_it_shows_the_paused_controls_to_an_admin(as_admin, site):
    task = make_task(site, "migrate", "paused")
    response = as_admin.get(reverse("task-detail", args=[task.pk]))
    assert response.context["controls"] == [("resume", False), ("skip", True), ("abort", True)]


def test_it_aborts_a_paused_task_after_confirmation(as_admin, admin_user, site):
    task = make_task(site, "migrate", "paused", summary="worker lost during step copy")
    page = as_admin.get(reverse("task-control", args=[task.pk, "abort"]))
    assert b"not rolled back" in page.content
    as_admin.post(reverse("task-control", args=[task.pk, "abort"]))
    task.refresh_from_db()
    assert task.state == Task.FAILED
    assert AuditEvent.objects.filter(action="task.abort", actor=admin_user).exists()


def test_it_force_stops_a_running_task(as_admin, site):
    task = make_task(site, "backup", "running")
    page = as_admin.get(reverse("task-control", args=[task.pk, "force-stop"]))
    assert b"without rolling back" in page.content
    as_admin.post(reverse("task-control", args=[task.pk, "force-stop"]))
    assert Task.objects.get(pk=task.pk).state == Task.CANCELLED


def test_it_retries_into_a_new_task(as_member, site_task):
    response = as_member.post(reverse("task-control", args=[site_task.pk, "retry"]))
    new = Task.objects.get(retry_of=site_task)
    assert response["Location"] == reverse("task-detail", args=[new.pk])


def test_it_says_when_a_control_no_longer_applies(as_admin, site_task):
    response = as_admin.post(reverse("task-control", args=[site_task.pk, "cancel"]), follow=True)
    assert b"has already ended" in response.content


def test_it_refuses_another_clients_task_control(as_outsider, site):
    task = make_task(site, "backup", "queued")
    assert as_outsider.post(reverse("task-control", args=[task.pk, "cancel"])).status_code == 404
    assert Task.objects.get(pk=task.pk).state == Task.QUEUED


def test_it_offers_retry_only_on_an_unsuccessful_task_whose_site_still_exists(as_admin, site):
    def buttons(task):
        return as_admin.get(reverse("task-detail", args=[task.pk])).content.decode()

    failed = make_task(site, "backup", "failed")
    assert ">Retry</button>" in buttons(failed)
    assert ">Retry</button>" not in buttons(make_task(site, "backup", "succeeded"))
    site.status = "deleted"
    site.save(update_fields=["status"])
    assert ">Retry</button>" not in buttons(failed)
