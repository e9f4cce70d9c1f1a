from hosting.models import AuditEvent, Site, Task


def test_it_lists_only_the_clients_sites(api_as, member, site, globex_site):
    body = api_as(member).get("/api/v1/sites").json()
    assert [s["domain"] for s in body["items"]] == ["www.acme.test"]
    assert body["has_next"] is False and body["page"] == 1


def test_it_answers_404_for_another_clients_site(api_as, outsider, site):
    response = api_as(outsider).get(f"/api/v1/sites/{site.pk}")
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "message": "Not found."}


def test_it_queues_a_backup_and_audits_it_with_the_token_and_address(api_as, member, site):
    response = api_as(member).post(f"/api/v1/sites/{site.pk}/tasks", {"type": "backup"},
                                   content_type="application/json")
    assert response.status_code == 202, response.content
    task = Task.objects.get(pk=response.json()["id"])
    assert task.kind == "backup" and task.created_by == member
    event = AuditEvent.objects.get(action="task.queued", object_id=str(task.pk))
    assert event.actor_label == "member via token ci-deploy" and event.address == "203.0.113.9"


def test_it_refuses_a_write_with_a_read_token(api_as, member, site):
    response = api_as(member, "read").post(f"/api/v1/sites/{site.pk}/tasks", {"type": "backup"},
                                           content_type="application/json")
    assert response.status_code == 403 and response.json()["code"] == "read_only_token"


def test_it_answers_400_for_an_unknown_type(api_as, member, site):
    response = api_as(member).post(f"/api/v1/sites/{site.pk}/tasks", {"type": "nope"}, content_type="application/json")
    assert response.status_code == 400 and response.json()["code"] == "bad_input"


def test_it_answers_409_when_a_task_is_active_on_the_site(api_as, member, site, task_factory):
    task_factory(site, "verify", "running")
    response = api_as(member).post(f"/api/v1/sites/{site.pk}/tasks", {"type": "backup"},
                                   content_type="application/json")
    assert response.status_code == 409 and response.json()["code"] == "conflict"


def test_it_creates_a_site_and_queues_its_install(api_as, member, platform, acme):
    response = api_as(member).post("/api/v1/sites", {"domain": "new.acme.test", "platform": platform.pk},
                                   content_type="application/json")
    assert response.status_code == 201, response.content
    site = Site.objects.get(domain="new.acme.test")
    assert site.client == acme and Task.objects.filter(site=site, kind="install").exists()


def test_it_refuses_a_profile_the_platforms_verify_did_not_find(api_as, member, platform):
    platform.profiles = ["standard"]
    platform.save(update_fields=["profiles"])
    api = api_as(member)
    assert api.get(f"/api/v1/platforms/{platform.pk}").json()["profiles"] == ["standard"]
    response = api.post("/api/v1/sites", {"domain": "new.acme.test", "platform": platform.pk,
                                                     "profile": "minimal"}, content_type="application/json")
    assert response.status_code == 400 and "no install profile 'minimal'" in response.json()["message"]
    assert not Site.objects.filter(domain="new.acme.test").exists()


def test_a_member_of_two_clients_must_name_the_new_sites_client(api_as, member, platform, globex):
    from hosting.models import Membership

    Membership.objects.create(client=globex, user=member, role="member")
    response = api_as(member).post("/api/v1/sites", {"domain": "new.acme.test", "platform": platform.pk},
                                   content_type="application/json")
    assert response.status_code == 400 and response.json()["message"] == "Name the client of the new site."


def test_it_serves_the_task_log_after_a_position(api_as, member, site_task):
    body = api_as(member).get(f"/api/v1/tasks/{site_task.pk}/log?after=0").json()
    assert [line["line"] for line in body["lines"]] == ["line 1 of acme", "line 2 of acme"]
    assert body["next_after"] == 2 and body["finished"] is True


def test_it_shows_steps_and_allowed_controls(api_as, member, site_task):
    body = api_as(member).get(f"/api/v1/tasks/{site_task.pk}").json()
    assert body["steps"][0]["name"] == "dump" and body["controls"] == []  # succeeded: no Retry offered


def test_it_cancels_a_queued_task(api_as, member, site, task_factory):
    task = task_factory(site, "backup", "queued")
    response = api_as(member).post(f"/api/v1/tasks/{task.pk}/cancel")
    assert response.status_code == 200, response.content
    assert response.json()["state"] == "cancelled"


def test_it_refuses_a_control_that_does_not_apply_with_409(api_as, member, site_task):
    response = api_as(member).post(f"/api/v1/tasks/{site_task.pk}/cancel")
    assert response.status_code == 409 and response.json()["code"] == "conflict"


def test_it_needs_a_token(client, site):
    response = client.get("/api/v1/sites")
    assert response.status_code == 401 and response.json()["code"] == "unauthenticated"


def test_it_serves_the_openapi_schema_without_a_token(client):
    schema = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/sites/{site_id}/tasks" in schema["paths"]


def test_it_lets_an_admin_force_unlock_and_hides_locks_of_others(api_as, admin_user, outsider, site_task):
    from hosting.models import Lock

    lock = Lock.objects.create(key=f"site:{site_task.site_id}", task=site_task)
    theirs = api_as(outsider)
    assert theirs.get("/api/v1/locks").json()["items"] == []
    assert theirs.post(f"/api/v1/locks/{lock.pk}/force-unlock").status_code == 404
    response = api_as(admin_user).post(f"/api/v1/locks/{lock.pk}/force-unlock")
    assert response.status_code == 200 and response.json()["key"] == lock.key
    assert not Lock.objects.exists()
