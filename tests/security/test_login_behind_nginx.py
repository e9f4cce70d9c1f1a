"""The login throttle through the documented deployment: a private nginx with the proxy headers
of deploy/nginx-panel.conf, in front of gunicorn with deploy/gunicorn.conf.py on a unix socket
(where REMOTE_ADDR is empty), on the test database. Two clients on two loopback addresses: the
guesser's five wrong passwords must not lock out the real user."""
from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

import pytest

from hosting.models import AuditEvent
from tests.engine.clusters import BASE, database_url
from tests.security.interfaces_cast import *  # noqa: F401,F403
from tests.services import need_program

# The gunicorn process reads what the test wrote: committed rows, not a test transaction.
pytestmark = pytest.mark.django_db(transaction=True)

NGINX_CONF = """
user root;
daemon on;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    upstream harbormaster {{ server unix:{socket} fail_timeout=0; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://harbormaster;
{headers}
        }}
    }}
}}
"""


@pytest.fixture
def fast_passwords():
    """The gunicorn process checks passwords with the default hashers: no MD5 here."""


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _documented_headers() -> str:
    """The proxy_set_header lines of the documented nginx site, as they are there."""
    text = (BASE / "deploy" / "nginx-panel.conf").read_text()
    lines = re.findall(r"^\s*(proxy_set_header\s+[^;]+;)", text, re.M)
    assert any("X-Forwarded-For" in line for line in lines), "deploy/nginx-panel.conf forwards no address"
    return "\n".join(f"            {line}" for line in lines)


def _wait(check, what: str, timeout: float = 30.0) -> None:
    give_up = time.monotonic() + timeout
    while not check():
        if time.monotonic() > give_up:
            raise AssertionError(f"{what} did not start")
        time.sleep(0.05)


def _stop(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    give_up = time.monotonic() + 10
    while time.monotonic() < give_up:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)


@pytest.fixture
def proxied_panel(settings) -> Iterator[int]:
    nginx = need_program("nginx")
    # A short directory: a unix socket's path is limited to 108 bytes.
    prefix = Path(tempfile.mkdtemp(prefix="hm-proxy-"))
    socket_path = prefix / "gunicorn.sock"
    port = _free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "hosting.settings", "DATABASE_URL": database_url(),
           "HARBORMASTER_SECRET_KEY": settings.SECRET_KEY, "HARBORMASTER_DATA_DIR": str(settings.HARBORMASTER_DATA_DIR),
           "HARBORMASTER_ROOTS": ":".join(str(r) for r in settings.HARBORMASTER_ROOTS),
           "HARBORMASTER_ALLOWED_HOSTS": "127.0.0.1", "HARBORMASTER_LOGIN_ATTEMPTS": "5",
           "HARBORMASTER_TRUSTED_PROXIES": "unix"}
    log = open(prefix / "gunicorn.log", "wb")
    gunicorn = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", str(BASE / "deploy" / "gunicorn.conf.py"),
                                 "--bind", f"unix:{socket_path}", "--workers", "1", "--threads", "2",
                                 "hosting.wsgi:application"], cwd=BASE, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait(socket_path.exists, "gunicorn")
        conf = prefix / "nginx.conf"
        conf.write_text(NGINX_CONF.format(prefix=prefix, socket=socket_path, port=port, headers=_documented_headers()))
        subprocess.run([nginx, "-p", f"{prefix}/", "-c", str(conf)], check=True, capture_output=True, timeout=30)
        _wait((prefix / "nginx.pid").exists, "nginx")
        yield port
    finally:
        if (prefix / "nginx.pid").exists():
            _stop(int((prefix / "nginx.pid").read_text().strip()))
        _stop(gunicorn.pid)
        gunicorn.wait(timeout=10)
        log.close()
        if not os.environ.get("HM_KEEP"):
            shutil.rmtree(prefix, ignore_errors=True)


class Browser:
    """A client on its own loopback address (127.0.0.0/8 is all ours on Linux), keeping cookies."""

    def __init__(self, port: int, address: str) -> None:
        self.port, self.address = port, address
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: str = "") -> tuple[int, str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30, source_address=(self.address, 0))
        headers = {"Host": "127.0.0.1", "Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if body:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        for header in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        text = response.read().decode(errors="replace")
        conn.close()
        return response.status, text

    def login(self, username: str, password: str) -> int:
        status, page = self.request("GET", "/login/")
        assert status == 200, page[:500]
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        body = urlencode({"csrfmiddlewaretoken": token, "username": username, "password": password})
        return self.request("POST", "/login/", body)[0]


def test_a_guesser_elsewhere_does_not_lock_out_the_real_user_behind_nginx(proxied_panel, django_user_model):
    django_user_model.objects.create_user("bmgr", "bmgr@example.test", "bmgr-pass-1")
    guesser, user = Browser(proxied_panel, "127.0.0.5"), Browser(proxied_panel, "127.0.0.6")
    for name in ("bmgr", " bmgr", "bmgr\t", "\uff42\uff4d\uff47\uff52", "bmgr"):
        assert guesser.login(name, "wrong") == 200
    assert guesser.login("bmgr", "bmgr-pass-1") == 429
    assert user.login("bmgr", "bmgr-pass-1") == 302
    failures = AuditEvent.objects.filter(action="auth.login-failed")
    assert set(failures.values_list("object_label", "address")) == {("bmgr", "127.0.0.5")}
