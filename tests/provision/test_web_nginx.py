"""The nginx driver against a real nginx master of its own (prefix, pid file, logs and port
in tmp_path), stopped by pid after each test."""
from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from provision.errors import ProvisionError
from provision.runner import Runner
from provision.web import VhostSpec, WebConfig, WebServer, web_server_for
from provision.web.templates import NGINX_SITE
from tests.services import need_program


@dataclass
class Nginx:
    port: int
    web: WebServer
    prefix: Path
    log: list[str]

    def get(self, path: str, host: str) -> tuple[int, str]:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", headers={"Host": host})
        try:
            with opener.open(request, timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def wait_for(self, path: str, host: str, status: int, text: str) -> str:
        """A reload is asynchronous: old workers answer until the new ones took over."""
        give_up = time.monotonic() + 5
        while True:
            got = self.get(path, host)
            if got[0] == status and text in got[1]:
                return got[1]
            if time.monotonic() > give_up:
                raise AssertionError(f"expected {status} with {text!r}, got {got}")
            time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main_config(prefix: Path, vhosts: Path, port: int) -> str:
    # Workers run as the test's user: the files under tmp_path are readable to it only.
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n" if os.geteuid() == 0 else ""
    temp = "\n".join(f"    {kind}_temp_path {prefix}/tmp/{kind};"
                     for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return f"""{user}worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
{temp}
    types {{ text/html html; text/plain txt; }}
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port} default_server;
        location / {{ return 404 "no site here"; }}
    }}
    include {vhosts}/*.conf;
}}
"""


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[Nginx]:
    binary = need_program("nginx")
    prefix = tmp_path / "nginx"
    vhosts = prefix / "vhosts"
    for sub in ("conf", "tmp", "vhosts"):
        (prefix / sub).mkdir(parents=True)
    if Path("/etc/nginx/fastcgi_params").exists():
        shutil.copy("/etc/nginx/fastcgi_params", prefix / "conf" / "fastcgi_params")
    else:
        (prefix / "conf" / "fastcgi_params").write_text("")
    main = prefix / "conf" / "nginx.conf"
    port = free_port()
    main.write_text(main_config(prefix, vhosts, port))
    log: list[str] = []
    config = WebConfig("nginx", vhost_dir=vhosts, listen=(f"127.0.0.1:{port}",), binary=binary,
                       main_config=main, prefix=prefix,
                       extra_args=("-e", str(prefix / "error.log")))
    # The master daemonises: this returns once it forked; it is stopped below by its pid.
    subprocess.run([binary, "-e", str(prefix / "error.log"), "-p", f"{prefix}/", "-c", str(main)],
                   check=True, timeout=10, capture_output=True)
    pid_file = prefix / "nginx.pid"
    give_up = time.monotonic() + 5
    while not pid_file.exists() and time.monotonic() < give_up:
        time.sleep(0.02)
    pid = int(pid_file.read_text())
    try:
        yield Nginx(port, web_server_for(config, Runner(lambda level, line: log.append(line))),
                    prefix, log)
    finally:
        stop(pid)


def stop(pid: int) -> None:
    try:
        master = psutil.Process(pid)
        master.send_signal(signal.SIGTERM)  # fast shutdown: the workers go with the master
        # Not our child (it daemonised): it is gone once it is a zombie waiting for init.
        give_up = time.monotonic() + 5
        while master.status() != psutil.STATUS_ZOMBIE:
            if time.monotonic() > give_up:
                master.kill()
                break
            time.sleep(0.01)
    except psutil.NoSuchProcess:
        pass


def site(tmp_path: Path, text: str) -> VhostSpec:
    docroot = tmp_path / "platform" / "web"
    (docroot / "sites" / "example.test").mkdir(parents=True, exist_ok=True)
    (docroot / "hello.txt").write_text(text)
    return VhostSpec("Example.TEST", ["www.example.test"], docroot,
                     docroot / "sites" / "example.test", "127.0.0.1:9")


def test_it_serves_a_site_then_the_disabled_page_then_the_site_again(nginx: Nginx,
                                                                     tmp_path: Path) -> None:
    path = nginx.web.write_vhost(site(tmp_path, "hello from example.test"))
    assert path == nginx.prefix / "vhosts" / "example.test.conf"
    nginx.wait_for("/hello.txt", "example.test", 200, "hello from example.test")
    nginx.wait_for("/hello.txt", "www.example.test", 200, "hello from example.test")
    assert any(" -t " in line for line in nginx.log) and any("reload" in line for line in nginx.log)

    nginx.web.disable("example.test")
    assert nginx.web.is_disabled("example.test")
    nginx.wait_for("/hello.txt", "www.example.test", 503, "This site is disabled")
    nginx.wait_for("/", "example.test", 503, "This site is disabled")
    nginx.web.disable("example.test")  # idempotent

    nginx.web.enable("example.test")
    assert not nginx.web.is_disabled("example.test")
    nginx.wait_for("/hello.txt", "example.test", 200, "hello from example.test")


def test_it_updates_a_disabled_site_without_enabling_it(nginx: Nginx, tmp_path: Path) -> None:
    nginx.web.write_vhost(site(tmp_path, "one"))
    nginx.web.disable("example.test")
    spec = site(tmp_path, "one")
    nginx.web.write_vhost(VhostSpec(spec.domain, ["new.example.test"], spec.docroot, spec.site_dir))
    nginx.wait_for("/", "new.example.test", 503, "This site is disabled")
    nginx.web.enable("example.test")
    nginx.wait_for("/hello.txt", "new.example.test", 200, "one")


def test_it_puts_the_old_vhost_back_when_nginx_refuses_the_new_one(nginx: Nginx,
                                                                    tmp_path: Path) -> None:
    good = site(tmp_path, "still the old config")
    nginx.web.write_vhost(good)
    before = nginx.web.vhost_path("example.test").read_text()
    nginx.wait_for("/hello.txt", "example.test", 200, "still the old config")

    broken = WebConfig(**{**nginx.web.config.__dict__,
                          "template": NGINX_SITE.replace("index index.php",
                                                         "bogus_directive on;\n    index index.php")})
    with pytest.raises(ProvisionError) as caught:
        web_server_for(broken, nginx.web.runner).write_vhost(good)
    assert "bogus_directive" in str(caught.value) and "previous configuration is back" in str(caught.value)
    assert nginx.web.vhost_path("example.test").read_text() == before
    # No temporary or kept-aside file is left behind (the log directory is the vhosts' own).
    assert sorted(p.name for p in (nginx.prefix / "vhosts").iterdir()) == [".harbormaster.lock",
                                                                         "example.test.conf", "harbormaster-logs"]
    nginx.web.test()  # the configuration on disk is valid again
    nginx.wait_for("/hello.txt", "example.test", 200, "still the old config")


def test_it_removes_a_vhost(nginx: Nginx, tmp_path: Path) -> None:
    nginx.web.write_vhost(site(tmp_path, "here"))
    nginx.web.disable("example.test")
    nginx.web.remove_vhost("example.test")
    assert not nginx.web.has_vhost("example.test") and not nginx.web.is_disabled("example.test")
    nginx.web.remove_vhost("example.test")  # idempotent
    nginx.wait_for("/hello.txt", "example.test", 404, "no site here")
