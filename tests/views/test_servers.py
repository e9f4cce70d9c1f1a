from django.urls import reverse

from hosting.models import Server, Task
from tests.views.conftest import make_task


def test_it_lists_servers_to_an_admin(as_admin, server, platform):
    Server.objects.create(name="db2", queue="db2", hostname="db2.example.test")
    response = as_admin.get(reverse("server-list"))
    assert [(s.name, s.platform_count) for s in response.context["page"].rows] == [("db2", 0), ("local", 1)]


def test_it_lists_only_the_servers_a_member_uses(as_member, server, site):
    Server.objects.create(name="other", queue="other")
    assert [s.name for s in as_member.get(reverse("server-list")).context["page"].rows] == ["local"]


def test_it_hides_a_server_the_outsider_has_nothing_on(as_outsider, globex):
    hidden = Server.objects.create(name="secret", queue="secret")
    assert as_outsider.get(reverse("server-detail", args=[hidden.pk])).status_code == 404
    assert as_outsider.get(reverse("server-list")).context["page"].rows == []


def test_it_shows_the_server_with_its_platforms_and_tasks(as_admin, server, platform, site):
    task = make_task(site, "backup", "succeeded")
    response = as_admin.get(reverse("server-detail", args=[server.pk]))
    assert b"d10" in response.content and f"/tasks/{task.pk}/".encode() in response.content
    assert [b.kind for b in response.context["buttons"]] == ["verify", "replicate", "verify-remote"]
    assert all(b.reason.startswith("This server has no off-site remote") for b in response.context["buttons"][1:])


def test_it_shows_a_member_only_their_tasks_on_the_server(as_member, server, site, globex_site):
    make_task(globex_site, "verify", "failed")
    response = as_member.get(reverse("server-detail", args=[server.pk]))
    assert b"shop.globex.test" not in response.content and response.context["buttons"] == []


def test_it_queues_a_server_verify_and_refuses_a_second(as_admin, server):
    as_admin.post(reverse("server-task", args=[server.pk, "verify"]))
    assert Task.objects.filter(target_type="server").count() == 1
    again = as_admin.post(reverse("server-task", args=[server.pk, "verify"]), HTTP_HX_REQUEST="true")
    assert b"is queued on this server" in again.content
    assert Task.objects.filter(target_type="server").count() == 1


def test_it_refuses_a_server_task_to_a_member(as_member, server, site):
    assert as_member.post(reverse("server-task", args=[server.pk, "verify"])).status_code == 403
