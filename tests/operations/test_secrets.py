"""Site database passwords live in settings.php and on the database server only: never in a
task log, summary, step error, task result or audit event, whatever the task types did."""
from __future__ import annotations

import json

import pytest

from hosting.models import AuditEvent, Backup, Site, Task, TaskLog, TaskStep
from tests.operations.conftest import site_db


@pytest.mark.parametrize("engine", ["mysql", "postgresql"])
def test_it_keeps_site_passwords_out_of_every_record(installed, run, make_platform, local, domains, settings):
    site = installed()
    other = make_platform(local, "p2")
    assert run(site, "clone", {"domain": domains.new("clone")}).state == Task.SUCCEEDED
    assert run(site, "migrate", {"platform": other.pk}).state == Task.SUCCEEDED
    assert run(site, "backup").state == Task.SUCCEEDED
    settings.HARBORMASTER_FAULTS = {"site.restore": "record", "site.delete": "purge"}
    assert run(site, "restore", {"backup": Backup.objects.filter(kind="manual").first().pk}).state == Task.FAILED
    assert run(site, "delete").state == Task.FAILED
    assert run(site, "verify").state == Task.SUCCEEDED
    passwords = [site_db(s)[0].password for s in Site.objects.all()]
    assert len(passwords) == 2 and all(len(p) > 20 for p in passwords)
    recorded = "\n".join([
        *TaskLog.objects.values_list("line", flat=True),
        *Task.objects.values_list("summary", flat=True),
        *(json.dumps(r) for r in Task.objects.values_list("result", flat=True)),
        *(json.dumps(a) for a in Task.objects.values_list("args", flat=True)),
        *TaskStep.objects.values_list("error", flat=True),
        *(json.dumps([e.before, e.after, e.detail]) for e in AuditEvent.objects.all()),
        *(json.dumps(b.manifest) for b in Backup.objects.all()),
    ])
    assert "[secret]" in recorded  # drush's --db-url was logged, redacted
    for password in passwords:
        assert password not in recorded
