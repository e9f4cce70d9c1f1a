"""A site moved on disk is reconciled, and a site found on two platforms waits for a human.

Before: a platform verify that found sites/<domain> recorded on another platform only warned,
whether the recorded platform still held it or not; a site moved by hand stayed recorded where
it no longer was (every task on it failed), and a copy on two platforms was never flagged."""
from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from hosting.engine.worker import execute
from hosting.models import AuditEvent, Lock, Site, Task
from tests.operations.conftest import (
    _ops,  # noqa: F401 - autouse: data dirs, transactional db
    log_of,
    rows,
    site_paths,
    write_rows,
)

pytestmark = pytest.mark.parametrize("engine", ["sqlite"])


def copy_to(site: Site, platform, *, move: bool) -> Path:
    _, source = site_paths(site)
    target = Path(platform.docroot) / "sites" / site.domain
    (shutil.move if move else shutil.copytree)(source, target)
    return target


def test_the_record_follows_a_site_moved_by_hand(installed, make_platform, local, run):
    site = installed()
    write_rows(site, ["still here"])
    other = make_platform(local, "p2")
    copy_to(site, other, move=True)
    task = run(other, "verify")
    assert task.state == Task.SUCCEEDED, log_of(task)
    assert "the record follows the site here" in log_of(task)
    site.refresh_from_db()
    assert site.platform_id == other.pk and not site.attention
    event = AuditEvent.objects.get(action="site.moved", object_id=str(site.pk))
    assert event.before == {"platform": "p1"} and event.after == {"platform": "p2"}
    verify = Task.objects.get(site=site, kind="verify", state=Task.QUEUED)
    execute(verify.pk)
    verify.refresh_from_db()
    assert verify.state in (Task.SUCCEEDED, Task.WARNING), log_of(verify)
    assert "/p2/" in Path(site_paths(site)[1]).as_posix()
    assert rows(site, "hm_drill") == [("0", "still here")]


def test_it_leaves_a_site_with_a_running_task_alone(installed, make_platform, local, run):
    site = installed()
    other = make_platform(local, "p2")
    copy_to(site, other, move=True)
    holder = Task.objects.create(kind="backup", target_type="site", site=site, platform=site.platform,
                                 server=local, state=Task.RUNNING, target_label=site.domain)
    Lock.objects.create(key=f"site:{site.pk}", task=holder)
    task = run(other, "verify")
    assert task.state == Task.WARNING and f"task #{holder.pk} holds the site" in log_of(task)
    assert Site.objects.get(pk=site.pk).platform_id == site.platform_id


@pytest.mark.parametrize("keep", ["recorded", "other"])
def test_a_site_on_two_platforms_waits_for_an_administrator(installed, make_platform, local, run, keep,
                                                            admin_user, member, client):
    from hosting.actions import TaskRefused, queue_task

    site = installed()
    Site.objects.filter(pk=site.pk).update(client=member.memberships.get().client)
    first = site.platform
    other = make_platform(local, "p2")
    copy = copy_to(site, other, move=False)
    (copy / "files" / "only-in-the-copy.txt").write_text("copy\n")
    task = run(other, "verify")
    assert task.state == Task.WARNING and "which still holds it" in log_of(task)
    site.refresh_from_db()
    assert site.attention_platform_id == other.pk and "both hold" in site.attention_detail
    assert "Another platform holds a copy" in site.attention
    with pytest.raises(TaskRefused):
        queue_task(site, "backup")
    # Members see it, and may not decide.
    client.force_login(member)
    assert "Another platform holds a copy" in client.get(f"/sites/{site.pk}/").content.decode()
    chosen, loser = (first, other) if keep == "recorded" else (other, first)
    assert client.post(f"/sites/{site.pk}/resolve-duplicate/", {"platform": chosen.pk}).status_code == 403
    # The administrator decides with one click.
    client.force_login(admin_user)
    assert "Which copy is the site?" in client.get(f"/sites/{site.pk}/").content.decode()
    response = client.post(f"/sites/{site.pk}/resolve-duplicate/", {"platform": chosen.pk})
    assert response.status_code == 302
    verify = Task.objects.get(site=site, kind="verify", state=Task.QUEUED)
    assert verify.args == {"set_aside": loser.pk}
    execute(verify.pk)
    verify.refresh_from_db()
    assert verify.state in (Task.SUCCEEDED, Task.WARNING), log_of(verify)
    site.refresh_from_db()
    assert site.platform_id == chosen.pk and site.attention == "" and site.attention_platform_id is None
    _, directory = site_paths(site)
    assert (directory / "files" / "only-in-the-copy.txt").exists() == (keep == "other")
    assert not (Path(loser.docroot) / "sites" / site.domain).exists()
    assert len(list((Path(loser.docroot) / "sites").glob(f".set-aside-{site.domain}-*"))) == 1
    assert AuditEvent.objects.filter(action="site.duplicate_resolved", object_id=str(site.pk)).exists()
    # Platform verifies of both platforms find nothing to flag any more.
    for platform in (first, other):
        again = run(platform, "verify")
        assert again.state == Task.SUCCEEDED, log_of(again)
    assert Site.objects.get(pk=site.pk).attention == ""


def test_the_api_and_the_command_resolve_too(installed, make_platform, local, run, admin_user, member):
    from django.core.management import call_command

    from tests.tenancy.conftest import api_client

    site = installed()
    other = make_platform(local, "p2")
    copy_to(site, other, move=False)
    run(other, "verify")
    url = f"/api/v1/sites/{site.pk}/resolve-duplicate"
    refused = api_client(member).post(url, {"platform": other.pk}, content_type="application/json")
    assert refused.status_code in (403, 404)
    admin = api_client(admin_user)
    assert admin.get(f"/api/v1/sites/{site.pk}").json()["attention_platform"] == other.pk
    assert admin.post(url, {"platform": 99999}, content_type="application/json").status_code == 404
    out = io.StringIO()
    call_command("site", "resolve-duplicate", site.domain, "--platform", "p2", stdout=out)
    assert "the copy on p2 is the site" in out.getvalue()
    site.refresh_from_db()
    assert site.platform_id == other.pk
    # Asked again while the verify is queued: refused with the reason, through the API.
    response = admin.post(url, {"platform": other.pk}, content_type="application/json")
    assert response.status_code == 409, response.content
