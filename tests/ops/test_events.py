from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.core import mail
from django.utils import timezone

from hosting import events
from hosting.models import NotificationPreference, Task, Webhook

pytestmark = pytest.mark.django_db


class Receiver:
    """A webhook receiver on 127.0.0.1 in a thread; the test stops it."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.received.append((dict(self.headers), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass
        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def receiver():
    r = Receiver()
    try:
        yield r
    finally:
        r.stop()


def make_task(site, **fields) -> Task:
    return Task.objects.create(kind="backup", target_type="site", site=site, platform=site.platform,
                               server=site.platform.server, client=site.client, target_label=site.domain, **fields)


def lines(caplog) -> list[dict]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "harbormaster.tasks"]


def test_it_sees_each_change_once_and_leaves_the_log_lines_to_the_engine(site, caplog):
    """The engine writes each change's line as it happens (hosting.engine.statelog, tested in
    tests/engine/test_statelog.py); the watcher, a minute late, must not write a second one."""
    caplog.set_level(logging.INFO, logger="harbormaster.tasks")
    task = make_task(site)
    assert events.poll() == 1
    assert events.poll() == 0  # nothing changed, nothing seen
    now = timezone.now()
    Task.objects.filter(pk=task.pk).update(state=Task.RUNNING, started_at=now)
    assert events.poll() == 1
    Task.objects.filter(pk=task.pk).update(state=Task.SUCCEEDED, finished_at=now + timedelta(seconds=12.5))
    assert events.poll() == 1
    assert lines(caplog) == []


def test_it_notifies_a_failure_by_signed_webhook_and_email(site, admin_user, member, outsider, receiver, settings):
    settings.HARBORMASTER_BASE_URL = "https://panel.example.com"
    Webhook.objects.create(name="ops", url=receiver.url, secret="s3cret-hook")
    NotificationPreference.objects.create(user=member, events=["task.failed"])
    NotificationPreference.objects.create(user=outsider, events=["task.failed"])  # not acme's
    task = make_task(site, state=Task.FAILED, finished_at=timezone.now(), summary="database unreachable")
    events.poll()

    assert len(receiver.received) == 1
    headers, body = receiver.received[0]
    expected = "sha256=" + hmac.new(b"s3cret-hook", body, hashlib.sha256).hexdigest()
    assert headers["X-Harbormaster-Signature"] == expected
    assert headers["X-Harbormaster-Event"] == "task.failed"
    payload = json.loads(body)
    assert payload | {"time": None} == {
        "event": "task.failed", "task": task.pk, "type": "site.backup", "target": "www.acme.test",
        "state": "failed", "summary": "database unreachable", "client": "acme", "time": None,
        "url": f"https://panel.example.com/tasks/{task.pk}/"}
    assert payload["time"].endswith("Z")
    # The admin (no preferences: everything) and acme's member; not globex's outsider.
    assert sorted(mail.outbox[0].to) == ["admin@example.test", "member@acme.test"]
    assert "database unreachable" in mail.outbox[0].body
    events.poll()
    assert len(receiver.received) == 1 and len(mail.outbox) == 1  # once per change


def test_it_notifies_a_pause_only_to_those_who_chose_it(site, admin_user, member, receiver):
    NotificationPreference.objects.create(user=admin_user, events=["task.failed"])
    NotificationPreference.objects.create(user=member, events=["task.paused"])
    Webhook.objects.create(name="failures", url=receiver.url, secret="x" * 10, events=["task.failed"])
    make_task(site, state=Task.PAUSED, summary="worker lost during step archive")
    events.poll()
    assert receiver.received == []
    assert [m.to for m in mail.outbox] == [["member@acme.test"]]


def test_it_keeps_other_clients_webhooks_out(site, globex, receiver):
    Webhook.objects.create(name="globex", url=receiver.url, secret="x" * 10, client=globex)
    make_task(site, state=Task.FAILED, finished_at=timezone.now())
    events.poll()
    assert receiver.received == []


def test_it_survives_a_receiver_that_is_down(site, caplog):
    Webhook.objects.create(name="dead", url="http://127.0.0.1:9/hook", secret="x" * 10)
    make_task(site, state=Task.FAILED, finished_at=timezone.now())
    assert events.poll() == 1
    assert "webhook dead" in caplog.text


def test_it_never_reports_one_change_twice_when_two_watchers_race(site):
    task = make_task(site)
    assert events.claim_change(task) is None
    assert events.claim_change(task) is False
    task.state = Task.RUNNING
    assert events.claim_change(task) == Task.QUEUED
    assert events.claim_change(task) is False


def test_it_has_a_logger_configured_for_json_lines_on_stdout(settings):
    config = settings.LOGGING
    assert config["loggers"]["harbormaster.tasks"]["handlers"] == ["task_events"]
    assert config["handlers"]["task_events"]["stream"] == "ext://sys.stdout"
