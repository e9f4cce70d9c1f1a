from __future__ import annotations

import io
import json
import tarfile
from datetime import datetime
from pathlib import Path

import pytest
from django.core.management import call_command

from hosting.models import ApiToken, Task, TaskLog, Webhook
from hosting.models.api import digest

pytestmark = pytest.mark.django_db

PLANTED = {
    "secret_key": "planted-secret-key-0123456789abcdef0123456789abcdef",
    "db": "planted-db-password-77",
    "redis": "planted-redis-password-88",
    "server": "planted-server-admin-pw-99",
    "webhook": "planted-webhook-secret-11",
    "email": "planted-email-password-22",
    "token": "planted-api-token-secret-33",
    "env": "planted-env-password-44",
    "log": "planted-log-password-55",
}


def extract(path: Path) -> dict[str, str]:
    with tarfile.open(path) as tar:
        return {m.name.split("/", 1)[1]: tar.extractfile(m).read().decode() for m in tar.getmembers()}


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_it_writes_every_part_and_leaks_no_secret(settings, monkeypatch, tmp_path, server, admin_user, site):
    settings.SECRET_KEY = PLANTED["secret_key"]
    settings.DATABASES = {"default": {**settings.DATABASES["default"], "PASSWORD": PLANTED["db"]}}
    settings.REDIS_URL = f"redis://:{PLANTED['redis']}@127.0.0.1:6399/0"
    settings.EMAIL_HOST_PASSWORD = PLANTED["email"]
    monkeypatch.setenv("DATABASE_URL", f"postgresql://hm:{PLANTED['env']}@db.example/hm")
    monkeypatch.setenv("HARBORMASTER_SOMETHING_TOKEN", PLANTED["env"])
    server.db_admin_password = PLANTED["server"]
    server.save()
    Webhook.objects.create(name="ops", url="https://hooks.example/x", secret=PLANTED["webhook"])
    ApiToken.objects.create(user=admin_user, name="ci", prefix="hm_abcdefgh", token_hash=digest(PLANTED["token"]))
    task = Task.objects.create(kind="verify", target_type="site", site=site, target_label=site.domain,
                               state=Task.FAILED, summary="it broke")
    TaskLog.objects.create(task=task, position=1, at=task.created_at, line=f"mysql --password={PLANTED['log']} failed")
    TaskLog.objects.create(task=task, position=2, at=task.created_at, line=f"connecting as admin:{PLANTED['server']}")
    queued = Task.objects.create(kind="backup", target_type="site", site=site, target_label=site.domain, server=server)

    out = tmp_path / "bundle.tar.gz"
    call_command("debug_bundle", "-o", str(out), stdout=io.StringIO())
    files = extract(out)
    assert {"versions.json", "settings.json", "tasks.json", "queues.json", "nodes.json", "status.json",
            "failed-task-logs.txt", "README.txt"} <= set(files)
    everything = "\n".join(files.values())
    for name, secret in PLANTED.items():
        assert secret not in everything, name
    assert digest(PLANTED["token"]) not in everything
    # ...while what a reader needs is still there.
    versions = json.loads(files["versions.json"])
    assert versions["Django"] and versions["django-q2"] and versions["psutil"] and versions["python"]
    assert "mysql --password=[redacted] failed" in files["failed-task-logs.txt"]
    assert f"#{task.pk} site.verify {site.domain}: failed: it broke" in files["failed-task-logs.txt"]
    tasks = json.loads(files["tasks.json"])
    assert tasks["by_state"] == {"failed": 1, "queued": 1}
    # Each active task in the API's shape, with machine times, beside what only the engine knows.
    (active,) = tasks["active"]
    assert active["task"]["id"] == queued.pk and active["engine"]["queue"] == server.queue
    assert datetime.fromisoformat(active["task"]["created_at"]) == queued.created_at
    assert active["task"]["created_at"].endswith("+00:00") and "." in active["task"]["created_at"]
    assert json.loads(files["settings.json"])["settings"]["HARBORMASTER_QUEUE"] == "local"
    assert out.stat().st_mode & 0o777 == 0o600
