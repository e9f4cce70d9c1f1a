"""Starting platform builds from the panel, the API and the command line, and the signed push
webhook: who may, what is recorded, and that a missing or wrong signature queues nothing, a
replayed push of a built commit or of a ref already queued queues nothing more. Tasks stay
queued rows here (tests/operations/test_platform_build.py runs them)."""
from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client as HttpClient
from django.urls import reverse

from tests.gitrepos import drupal_repository
from tests.services import need_program


@pytest.fixture
def bare(hm_dirs, tmp_path: Path) -> str:
    need_program("git")
    return str(drupal_repository(tmp_path / "repos")[0])


def builds():
    from hosting.models import Task

    return list(Task.objects.filter(kind="build").order_by("pk"))


@pytest.fixture
def built(bare, server):
    """A platform built from BARE at v1 (its record as the build leaves it), with a webhook."""
    from hosting.models import Platform

    return Platform.objects.create(name="shop-v1", server=server, path=str(Path(bare).parent / "x"),
                                   status="enabled", repository=bare, git_ref="v1", git_commit="a" * 40,
                                   webhook_secret="s" * 64)


def test_the_panel_form_records_the_platform_and_queues_its_build(client, admin_user, bare, server):
    client.force_login(admin_user)
    assert client.get(reverse("platform-new-git")).status_code == 200
    response = client.post(reverse("platform-new-git"), {"repository": bare, "ref": "v1", "name": "", "server": ""})
    assert response.status_code == 302
    (task,) = builds()
    assert task.platform.name == "shop-v1" and task.platform.repository == bare and task.args["ref"] == "v1"
    assert response.url.endswith(f"/platforms/{task.platform_id}/?new={task.pk}")
    page = client.get(response.url).content.decode()
    assert bare in page and "not built yet" in page


def test_the_panel_form_says_why_a_ref_is_refused(client, admin_user, bare):
    client.force_login(admin_user)
    response = client.post(reverse("platform-new-git"), {"repository": bare, "ref": "--upload-pack=touch x"})
    assert response.status_code == 400 and "must not start with" in response.content.decode()
    response = client.post(reverse("platform-new-git"), {"repository": "ext::sh -c id", "ref": "main"})
    assert response.status_code == 400 and builds() == []


def test_members_may_not_build(client, member, bare, built):
    client.force_login(member)
    assert client.get(reverse("platform-new-git")).status_code in (403, 404)
    assert client.post(reverse("platform-next", args=[built.pk]), {"ref": "v2"}).status_code in (403, 404)
    assert builds() == []


def test_the_next_version_copies_the_repository_secret_and_clients(client, admin_user, built, acme):
    built.clients.set([acme])
    client.force_login(admin_user)
    response = client.post(reverse("platform-next", args=[built.pk]), {"ref": "v2", "name": "shop-two"})
    assert response.status_code == 302
    (task,) = builds()
    new = task.platform
    assert (new.name, new.git_ref, new.repository) == ("shop-two", "v2", built.repository)
    assert new.webhook_secret == built.webhook_secret and list(new.clients.all()) == [acme]


def test_the_api_and_the_command_line_start_builds(admin_user, bare, built):
    from tests.tenancy.conftest import api_client

    api = api_client(admin_user)
    answer = api.post("/api/v1/platforms/build", {"repository": bare, "ref": "main"}, content_type="application/json")
    assert answer.status_code == 202, answer.content
    assert (answer.json()["type"], answer.json()["target_type"]) == ("build", "platform")
    answer = api.post(f"/api/v1/platforms/{built.pk}/next", {"ref": "v2"}, content_type="application/json")
    assert answer.status_code == 202
    shown = api.get(f"/api/v1/platforms/{built.pk}/build").json()
    assert shown["ref"] == "v1" and shown["webhook"]
    assert shown["webhook_url"].endswith(f"/hooks/platforms/{built.pk}/build")
    assert built.webhook_secret not in json.dumps(shown)
    bad = api.post("/api/v1/platforms/build", {"repository": bare, "ref": "-x"}, content_type="application/json")
    assert bad.status_code == 400
    out = StringIO()
    call_command("platform", "build", f"file://{bare}", "v1", "--name", "from-cli", stdout=out)
    assert "Platform from-cli recorded; build queued as task" in out.getvalue()
    call_command("platform", "next", "shop-v1", "v2", stdout=out)
    assert [t.platform.git_ref for t in builds()] == ["main", "v2", "v1", "v2"]


def _push(client: HttpClient, platform, body: dict, secret: str | None = None, signature: str | None = None):
    from hosting.platformbuild import sign

    raw = json.dumps(body).encode()
    headers = {}
    if secret is not None or signature is not None:
        headers["HTTP_X_HARBORMASTER_SIGNATURE"] = signature if signature is not None else sign(secret or "", raw)
    return client.post(reverse("platform-webhook", args=[platform.pk]), raw, content_type="application/json",
                       **headers)


def test_the_webhook_refuses_a_missing_or_wrong_signature(built):
    web = HttpClient(enforce_csrf_checks=True)
    assert _push(web, built, {"ref": "refs/heads/main"}).status_code == 401
    assert _push(web, built, {"ref": "refs/heads/main"}, secret="wrong").status_code == 403
    assert _push(web, built, {"ref": "refs/heads/main"}, signature="sha256=").status_code == 403
    assert builds() == []


def test_the_webhook_queues_a_build_once_and_not_for_a_built_commit(built):
    web = HttpClient(enforce_csrf_checks=True)
    push = {"ref": "refs/heads/main", "after": "b" * 40}
    first = _push(web, built, push, secret=built.webhook_secret)
    assert first.status_code == 202, first.content
    # The same push again (a replay, or a second push before the build started): nothing more.
    again = _push(web, built, push, secret=built.webhook_secret)
    assert again.status_code == 200 and "queued already" in again.json()["detail"]
    assert len(builds()) == 1 and builds()[0].platform.git_ref == "main"
    assert builds()[0].created_by_label == "webhook"
    # A replayed push of the commit the platform was built from builds nothing.
    replay = _push(web, built, {"ref": "refs/tags/v1", "after": "a" * 40}, secret=built.webhook_secret)
    assert replay.status_code == 200 and "built already" in replay.json()["detail"]
    deleted = _push(web, built, {"ref": "refs/heads/old", "deleted": True}, secret=built.webhook_secret)
    assert deleted.status_code == 200 and "nothing to build" in deleted.json()["detail"]
    hostile = _push(web, built, {"ref": "--upload-pack=touch /tmp/x"}, secret=built.webhook_secret)
    assert hostile.status_code == 400 and len(builds()) == 1


def test_a_platform_without_a_webhook_secret_has_no_webhook(built):
    built.webhook_secret = ""
    built.save()
    assert _push(HttpClient(), built, {"ref": "main"}, secret="").status_code == 404
    assert builds() == []


def test_the_task_of_a_failed_build_still_shows_after_its_record_is_gone(client, admin_user, bare, server):
    from hosting.platformbuild import start_build

    platform, task = start_build(admin_user, repository=bare, ref="v1", name="gone")
    platform.delete()  # what the build's undo does
    client.force_login(admin_user)
    page = client.get(reverse("task-detail", args=[task.pk]))
    assert page.status_code == 200 and "gone" in page.content.decode()
    assert client.get(reverse("platform-list")).status_code == 200
