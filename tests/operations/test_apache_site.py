"""End to end with a real Apache: a private apache2 (own ServerRoot, main config, pid file and
logs, a free 127.0.0.1 port, only the modules the vhosts need) and a private php-fpm on a unix
socket, both children of the test and stopped afterwards whatever happens. A site installed
through the engine on a Server with http=apache serves its front page; disabled, the 503 page;
enabled, its front page again."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hosting.models import Task
from tests.apache_server import Apache, need_apache, php_fpm, prepare, running, served_directory
from tests.operations.conftest import log_of, run_task


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    # Everything of this test (data dir, roots, platforms, vhosts) lives where Apache's children
    # can reach it: as root they run as www-data, and pytest's own tmp_path is private to root.
    with served_directory() as path:
        yield path


@pytest.fixture
def web_stack(tmp_path: Path) -> Iterator[tuple[Apache, str]]:
    binary = need_apache()
    # The vhosts are where the Server record says (make_server in tests/operations/conftest.py).
    apache = prepare(binary, tmp_path / "web", vhosts=tmp_path / "data" / "vhosts")
    with php_fpm(tmp_path / "web" / "fpm", str(tmp_path / "web" / "fpm" / "php.sock")) as php, running(apache):
        yield apache, php


def test_it_serves_an_installed_site_through_apache(web_stack, make_server, make_platform, domains) -> None:
    from hosting.engine.worker import execute
    from hosting.inventory import add_site

    apache, php = web_stack
    server = make_server("sqlite", http="apache", web_listen=f"127.0.0.1:{apache.port}", php_fastcgi=php,
                         web_main_config=str(apache.main), web_prefix=str(apache.root))
    server.full_clean()  # the record as the admin and the API would accept it
    verify = run_task(server, "verify")
    assert verify.state == Task.SUCCEEDED, (verify.summary, log_of(verify))
    assert "apache accepts its configuration" in log_of(verify)

    platform = make_platform(server)
    site, task = add_site(domains.new("web"), platform)
    execute(task.pk)
    task.refresh_from_db()
    assert task.state == Task.SUCCEEDED, (task.summary, log_of(task))
    assert f"-f {apache.main} -t -D DUMP_RUN_CFG" in log_of(task) and "-k graceful" in log_of(task)

    body = apache.wait_for("/", site.domain, 200, f"served by sites/{site.domain}")
    assert f"Site name: {site.domain}" in body
    # A clean URL reaches the same front controller; another name reaches no site.
    apache.wait_for("/user/login?destination=/", site.domain, 200, f"served by sites/{site.domain}")
    assert apache.get("/", "nobody.example.test")[:2] == (404, "no site here")

    assert run_task(site, "verify").state == Task.SUCCEEDED
    assert run_task(site, "disable").state == Task.SUCCEEDED
    apache.wait_for("/", site.domain, 503, "This site is disabled")
    status, body, headers = apache.get("/node/1", site.domain)
    assert status == 503 and headers.get("Retry-After") == "3600" and "served by" not in body
    assert run_task(site, "enable").state == Task.SUCCEEDED
    apache.wait_for("/", site.domain, 200, f"served by sites/{site.domain}")
