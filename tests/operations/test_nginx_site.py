"""End to end with a real web server: a private nginx master (own prefix, free 127.0.0.1 port)
and a private php-fpm on a unix socket, both under tmp_path and stopped by pid afterwards. A
site installed with the nginx driver serves its front page; disabled, it serves the 503 page."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from hosting.models import Task
from tests.operations.conftest import log_of
from tests.services import need_program

NGINX_CONF = """
user root;
daemon on;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/tmp/body;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    proxy_temp_path {prefix}/tmp/proxy;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    include {vhosts}/*.conf;
}}
"""

FPM_CONF = """
[global]
pid = {prefix}/php-fpm.pid
error_log = {prefix}/php-fpm.log
daemonize = yes

[site]
listen = {socket}
listen.mode = 0666
pm = static
pm.max_children = 2
clear_env = no
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(path: Path, what: str, timeout: float = 10.0) -> None:
    give_up = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > give_up:
            raise AssertionError(f"{what} did not start ({path} missing)")
        time.sleep(0.05)


def _stop(pid_file: Path) -> None:
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    give_up = time.monotonic() + 5
    while time.monotonic() < give_up:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)


@pytest.fixture
def web_stack(tmp_path: Path) -> Iterator[dict[str, object]]:
    nginx = need_program("nginx")
    fpm = need_program("php-fpm", "php-fpm8.4", "php-fpm8.3", "php-fpm8.2", "php-fpm8.1")
    prefix = tmp_path / "web"
    vhosts = tmp_path / "data" / "vhosts"
    for path in (prefix / "tmp", vhosts):
        path.mkdir(parents=True, exist_ok=True)
    # `include fastcgi_params` in a vhost is read relative to the main config's directory.
    shutil.copy("/etc/nginx/fastcgi_params", prefix / "fastcgi_params")
    conf = prefix / "nginx.conf"
    conf.write_text(NGINX_CONF.format(prefix=prefix, vhosts=vhosts))
    sock = prefix / "php.sock"
    (prefix / "php-fpm.conf").write_text(FPM_CONF.format(prefix=prefix, socket=sock))
    port = _free_port()
    try:
        subprocess.run([fpm, "--allow-to-run-as-root", "-y", str(prefix / "php-fpm.conf")], check=True,
                       capture_output=True, timeout=30)
        _wait_for(sock, "php-fpm")
        subprocess.run([nginx, "-p", f"{prefix}/", "-c", str(conf)], check=True, capture_output=True, timeout=30)
        _wait_for(prefix / "nginx.pid", "nginx")
        yield {"prefix": prefix, "conf": conf, "socket": sock, "port": port}
    finally:
        _stop(prefix / "nginx.pid")
        _stop(prefix / "php-fpm.pid")


def fetch(port: int, host: str, expect: int, timeout: float = 10.0) -> tuple[int, str]:
    """GET / with HOST, retried until it answers EXPECT (a reload brings up new workers)."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/", headers={"Host": host})
    give_up = time.monotonic() + timeout
    last: tuple[int, str] = (0, "")
    while time.monotonic() < give_up:
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                last = (response.status, response.read().decode())
        except urllib.error.HTTPError as exc:
            last = (exc.code, exc.read().decode())
        except OSError:
            last = (0, "")
        if last[0] == expect:
            return last
        time.sleep(0.1)
    return last


def test_it_serves_an_installed_site_through_nginx(web_stack, make_server, make_platform, domains, tmp_path):
    from hosting.engine.worker import execute
    from hosting.inventory import add_site
    from tests.operations.conftest import run_task

    port = web_stack["port"]
    server = make_server("sqlite", http="nginx", web_listen=f"127.0.0.1:{port}",
                         php_fastcgi=f"unix:{web_stack['socket']}", web_main_config=str(web_stack["conf"]),
                         web_prefix=str(web_stack["prefix"]))
    platform = make_platform(server)
    site, task = add_site(domains.new("web"), platform)
    execute(task.pk)
    task.refresh_from_db()
    assert task.state == Task.SUCCEEDED, (task.summary, log_of(task))
    assert "nginx" in log_of(task) and "-s reload" in log_of(task)

    status, body = fetch(port, site.domain, 200)
    assert status == 200, body
    assert f"served by sites/{site.domain}" in body and f"Site name: {site.domain}" in body

    assert run_task(site, "verify").state == Task.SUCCEEDED
    assert run_task(site, "disable").state == Task.SUCCEEDED
    status, body = fetch(port, site.domain, 503)
    assert status == 503 and "This site is disabled" in body
    assert run_task(site, "enable").state == Task.SUCCEEDED
    assert fetch(port, site.domain, 200)[0] == 200
