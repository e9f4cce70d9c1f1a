"""server.verify: the database server answers, the web server accepts its config, disk space."""
from __future__ import annotations

from hosting.models import Server, Task
from tests.operations.conftest import log_of


def test_it_verifies_a_server(local, run):
    task = run(local, "verify")
    assert task.state in (Task.SUCCEEDED, Task.WARNING), log_of(task)
    log = log_of(task)
    assert "answers in" in log and "GiB free" in log
    assert Server.objects.get(pk=local.pk).verified_at is not None


def test_it_fails_when_the_database_server_is_unreachable(make_server, run, engine):
    if engine == "sqlite":
        server = make_server("sqlite", sqlite_dir="/proc/harbormaster-nowhere")
        expected = "outside the configured roots"
    else:
        server = make_server(engine, db_port=1)
        expected = "Cannot reach the database server"
    task = run(server, "verify")
    assert task.state == Task.FAILED and expected in task.summary
