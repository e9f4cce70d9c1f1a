"""A new task type is one catalogue entry and one operation: TOUCH below is declared in this file
only, with its form, its refusal rule and its operation, and with nothing else changed it gets
a button on the site's page, starts from the panel, the API and the command line with its
arguments checked by its form, is refused by its rule (a disabled button, a 409, a CLI error),
is held to its role, and runs."""
from __future__ import annotations

from io import StringIO

import pytest
from django import forms
from django.core.management import CommandError, call_command
from django.core.management.base import SystemCheckError
from django.urls import reverse

from hosting import catalogue
from hosting.catalogue import MEMBER, NO_QUOTA, SITE, TaskType
from hosting.catalogue.checks import catalogue_errors
from hosting.catalogue.refusals import site_installed
from hosting.engine.steps import Plan, Step
from hosting.forms import SiteTaskForm
from hosting.models import Task
from tests.tenancy.conftest import api_client


class TouchForm(SiteTaskForm):
    note = forms.CharField(max_length=20)

    def task_args(self) -> dict[str, str]:
        return {"note": self.cleaned_data["note"]}


def refuse_disabled(situation, kind: str) -> str:
    if situation.target.status == "disabled":
        return "A disabled site cannot be touched."
    return site_installed(situation, kind)


def touch_plan(task: Task) -> Plan:
    return Plan([Step("touch", lambda ctx: ctx.info(f"touched: {task.args['note']}"))])


TOUCH = TaskType(SITE, "touch", "Touch", 60, True, MEMBER, NO_QUOTA, form=TouchForm, refusal=refuse_disabled,
                 build=touch_plan, arguments=True, explain="Touches the site, leaving a note in the log.")


@pytest.fixture(autouse=True)
def touch():
    with catalogue.registered(TOUCH):
        yield TOUCH


def disable(site) -> None:
    site.status = "disabled"
    site.save(update_fields=["status"])


def test_it_passes_the_catalogue_check():
    assert catalogue_errors() == []


def test_it_fails_the_check_for_an_entry_that_lacks_a_part():
    broken = TaskType(SITE, "broken", "Broken", 60, True, "nobody", NO_QUOTA, form="hosting.forms.NoSuchForm",
                      refusal=refuse_disabled, build=lambda: None, confirm=True, danger=False)
    with catalogue.registered(broken):
        found = " ".join(e.msg for e in catalogue_errors())
        with pytest.raises(SystemCheckError, match="harbormaster.E020"):
            call_command("check")
    assert "site.broken" in found and "role 'nobody'" in found and "NoSuchForm" in found
    assert "build" in found and "says nothing there" in found


def test_it_shows_a_button_and_its_page(as_member, site):
    page = as_member.get(reverse("site-detail", args=[site.pk]))
    assert "touch" in [b.kind for b in page.context["buttons"]]
    assert reverse("site-task", args=[site.pk, "touch"]) in page.content.decode()
    form = as_member.get(reverse("site-task", args=[site.pk, "touch"]))
    assert form.status_code == 200 and b"leaving a note" in form.content and b'name="note"' in form.content


def test_it_starts_from_the_panel_and_runs(as_member, site, member):
    answer = as_member.post(reverse("site-task", args=[site.pk, "touch"]), {"note": "hello"})
    task = Task.objects.get(kind="touch")
    assert answer.status_code == 302 and task.args == {"note": "hello"} and task.created_by == member
    from hosting.engine import worker

    worker.execute(task.pk)
    task.refresh_from_db()
    assert task.state == Task.SUCCEEDED
    assert task.log.filter(line="touched: hello").exists()


def test_it_is_refused_in_the_panel_by_its_rule(as_member, site):
    disable(site)
    page = as_member.get(reverse("site-detail", args=[site.pk]))
    assert next(b for b in page.context["buttons"] if b.kind == "touch").reason == "A disabled site cannot be touched."
    answer = as_member.post(reverse("site-task", args=[site.pk, "touch"]), {"note": "hello"})
    assert answer.status_code == 409 and not Task.objects.exists()


def test_it_starts_through_the_api_with_its_form(site, member):
    api = api_client(member)
    url = f"/api/v1/sites/{site.pk}/tasks"
    bad = api.post(url, {"type": "touch"}, content_type="application/json")
    assert bad.status_code == 400 and "note" in bad.json()["message"]
    good = api.post(url, {"type": "touch", "note": "hi"}, content_type="application/json")
    assert good.status_code == 202 and good.json()["args"] == {"note": "hi"}


def test_it_is_refused_through_the_api_by_its_rule(site, member):
    disable(site)
    answer = api_client(member).post(f"/api/v1/sites/{site.pk}/tasks", {"type": "touch", "note": "hi"},
                                     content_type="application/json")
    assert answer.status_code == 409 and answer.json()["message"] == "A disabled site cannot be touched."


def test_it_is_held_to_its_role(site, acme, django_user_model):
    from tests.conftest import user_in

    viewer = user_in(django_user_model, "viewer", acme, "viewer")
    answer = api_client(viewer).post(f"/api/v1/sites/{site.pk}/tasks", {"type": "touch", "note": "hi"},
                                     content_type="application/json")
    assert answer.status_code == 403 and not Task.objects.exists()


def test_it_starts_and_is_refused_on_the_command_line(site):
    out = StringIO()
    call_command("tasks", "create", "touch", "--site", site.domain, "--arg", "note=cli", stdout=out)
    assert Task.objects.get(pk=int(out.getvalue())).args == {"note": "cli"}
    Task.objects.all().delete()
    with pytest.raises(CommandError, match="note"):
        call_command("tasks", "create", "touch", "--site", site.domain, stdout=StringIO())
    disable(site)
    with pytest.raises(CommandError, match="A disabled site cannot be touched."):
        call_command("tasks", "create", "touch", "--site", site.domain, "--arg", "note=cli", stdout=StringIO())
