"""The API does what its documents say: every curl example of README's "JSON API" section is run
as written (real curl, against the live server), and every argument style the README, the
schemas' docstrings and the OpenAPI document name is tried."""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from hosting.api import api
from hosting.models import Backup, Task
from tests.services import need_program
from tests.tenancy.conftest import api_client
from tests.views.conftest import make_task

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_api_section() -> str:
    text = README.read_text()
    return text[text.index("## JSON API"):text.index("\n## ", text.index("## JSON API") + 1)]


def readme_curls() -> list[str]:
    block = re.search(r"```sh\n(.*?)```", readme_api_section(), re.S).group(1)
    return [line for line in block.replace("\\\n", " ").splitlines() if line.startswith("curl ")]


def test_the_readme_shows_calls_to_try():
    assert len(readme_curls()) >= 3


@pytest.mark.django_db(transaction=True)
def test_every_curl_example_of_the_readme_works_as_written(live_server, admin_user, site, settings):
    """Ids in the examples are the README's (42, 7): they are mapped to this world's, and
    localhost:8000 to the live server; nothing else of a command is changed."""
    curl = need_program("curl")
    task = make_task(site, "verify", "succeeded")
    token = api_client(admin_user).defaults["HTTP_AUTHORIZATION"].removeprefix("Bearer ")
    host = live_server.url.removeprefix("http://")
    problems = []
    for command in readme_curls():
        line = (command.replace("localhost:8000", host).replace("/sites/42/", f"/sites/{site.pk}/")
                .replace("/tasks/7/", f"/tasks/{task.pk}/"))
        assert line.startswith("curl ")
        done = subprocess.run(["bash", "-c", f"{curl} -s -w '\\n%{{http_code}}' {line[5:]}"], capture_output=True,
                              text=True, timeout=30, env={**os.environ, "TOKEN": token})
        Task.objects.filter(state=Task.QUEUED).update(state=Task.CANCELLED)  # each example on its own
        body, _, status = done.stdout.rpartition("\n")
        if not status.startswith("2") or not isinstance(json.loads(body or "null"), dict):
            problems.append(f"{command}\n  -> {status} {body[:300]}")
    assert not problems, "\n".join(problems)


def _styles(kind: str, arguments: dict) -> list[dict]:
    """The two ways TaskIn's docstring offers: beside the type, or under "args"."""
    return [{"type": kind, **arguments}, {"type": kind, "args": arguments}]


@pytest.mark.parametrize("style", [0, 1])
def test_both_documented_argument_styles_queue_the_same_task(style, admin_user, site, platform, other_platform):
    client = api_client(admin_user)
    backup = Backup.objects.create(site=site, domain=site.domain, client=site.client, path="/b.tar.zst", size=1)
    other_platform.clients.set([site.client])
    calls = [("clone", {"domain": f"copy{style}.acme.test", "platform": platform.pk},
              {"domain": f"copy{style}.acme.test", "platform": platform.pk}),
             ("migrate", {"platform": other_platform.pk}, {"platform": other_platform.pk}),
             ("restore", {"backup": backup.pk}, {"backup": backup.pk}),
             ("delete", {"confirm": site.domain}, {})]
    for kind, arguments, stored in calls:
        answer = client.post(f"/api/v1/sites/{site.pk}/tasks", _styles(kind, arguments)[style],
                             content_type="application/json")
        assert answer.status_code == 202, (kind, answer.json())
        assert answer.json()["args"] == stored
        Task.objects.filter(pk=answer.json()["id"]).update(state=Task.CANCELLED)  # make room for the next


def test_the_schema_documents_what_the_api_accepts():
    schema = api.get_openapi_schema()
    task_in = schema["components"]["schemas"]["TaskIn"]
    assert task_in["additionalProperties"] is True and "args" in task_in["properties"]
    for word in ('"args"', "clone", "migrate", "restore", "confirm"):
        assert word in task_in["description"]
    retry = schema["paths"]["/api/v1/tasks/{task_id}/retry"]["post"]
    assert retry["requestBody"]["required"] is False and "confirm" in retry["description"]
    # Bounds of ids and pages are written as OpenAPI reads them (minimum/maximum).
    page = next(p for p in schema["paths"]["/api/v1/sites"]["get"]["parameters"] if p["name"] == "page")
    assert page["schema"]["minimum"] == 1 and "ge" not in page["schema"]
    # The README names the same argument styles and the retry's confirmation.
    readme = readme_api_section()
    for phrase in ('"args"', '"confirm"', "/retry"):
        assert phrase in readme, phrase
