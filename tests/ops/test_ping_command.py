from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.registry import cluster_row

pytestmark = pytest.mark.django_db


@pytest.fixture
def server(server, hm_dirs):
    (hm_dirs / "dbs").mkdir()
    server.sqlite_dir = str(hm_dirs / "dbs")
    server.save()
    cluster_row(server.queue)  # its cluster beats
    return server


def test_it_lists_each_service_with_latency_and_exits_zero(server):
    out = io.StringIO()
    call_command("ping", stdout=out)
    text = out.getvalue()
    for name in ("control database", "broker", "workers of queue local", "database server of local",
                 "web server of local", "disk of local"):
        assert f"ok   {name}" in text
    assert " ms " in text


def test_it_says_fail_and_exits_one_when_a_server_is_down(server):
    server.http, server.web_listen = "nginx", "127.0.0.1:9"  # discard port: nothing listens
    server.save()
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("ping", stdout=out, stderr=err)
    assert raised.value.returncode == 1
    assert "FAIL web server of local" in err.getvalue()
    assert "ok   control database" in out.getvalue()


def test_it_answers_json(server):
    out = io.StringIO()
    call_command("ping", "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert data["ok"] is True
    assert {"name", "ok", "latency_ms", "detail", "group"} <= set(data["checks"][0])


@pytest.mark.slow
@pytest.mark.any_control_db  # its commands run on the embedded SQLite default, whatever the tests' database
def test_a_fresh_instance_pings_clean_until_a_server_needs_workers(tmp_path):
    """`make run` on a new machine: after `migrate` nothing exists that could be down (no server
    yet, so no queue needs a cluster; no SQLite directory yet, which the first site creates).
    Once a server is recorded, its queue needs a cluster, and `ping` says so until one runs."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.engine.clusters import BASE

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "hosting.settings", "HARBORMASTER_DATA_DIR": str(tmp_path / "var"),
           "HARBORMASTER_HEARTBEAT": "1", "HARBORMASTER_LOG_LEVEL": "WARNING"}
    env.pop("DATABASE_URL", None)  # the embedded default: a SQLite file in the data directory

    def manage(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(BASE / "manage.py"), *args], cwd=BASE, env=env,
                              capture_output=True, text=True, timeout=120)

    assert manage("migrate", "--no-input").returncode == 0
    fresh = manage("ping")
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert "no server is recorded yet" in fresh.stdout
    assert manage("shell", "-c", "from hosting.inventory import local_server; local_server()").returncode == 0
    assert not (tmp_path / "var" / "databases").exists()
    unserved = manage("ping")
    assert unserved.returncode == 1
    assert [line.split()[1:4] for line in unserved.stderr.splitlines() if line.startswith("FAIL")] == \
        [["workers", "of", "queue"]], unserved.stderr
    assert "no worker cluster serves queue local: none has registered" in unserved.stderr
    workers = subprocess.Popen([sys.executable, str(BASE / "manage.py"), "qcluster"], cwd=BASE, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        give_up = time.monotonic() + 30
        while (served := manage("ping")).returncode != 0 and time.monotonic() < give_up:
            time.sleep(0.5)
        assert served.returncode == 0, served.stdout + served.stderr
        assert "ok   workers of queue local" in served.stdout
    finally:
        os.killpg(workers.pid, signal.SIGKILL)
        workers.wait(timeout=10)
