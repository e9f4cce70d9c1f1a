"""Each vhost's own access and error log, written by a real nginx and a real Apache and read
back by provision.logtail: the request's line with its status, the status filter, the disabled
page's requests, and a log directory inside a docroot refused."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from provision import logtail
from provision.errors import ProvisionError
from provision.web import VhostSpec, WebConfig
from tests.provision.test_web_apache import Served, served  # noqa: F401 - the fixture
from tests.provision.test_web_apache import site as apache_site
from tests.provision.test_web_nginx import Nginx, nginx  # noqa: F401 - the fixture
from tests.provision.test_web_nginx import site as nginx_site


def lines_of(path: Path, wanted: str, **filters: str) -> list[str]:
    """The log is written when the request ends: wait a little for the line."""
    give_up = time.monotonic() + 5
    while True:
        found = logtail.tail(path, 50, **filters).lines  # type: ignore[arg-type]
        if any(wanted in line for line in found) or time.monotonic() > give_up:
            return found
        time.sleep(0.05)


def test_nginx_writes_the_sites_own_logs(nginx: Nginx, tmp_path: Path) -> None:  # noqa: F811
    spec = nginx_site(tmp_path, "hello")
    (spec.docroot / "index.php").write_text("<?php\n")
    nginx.web.write_vhost(spec)
    nginx.wait_for("/hello.txt", "example.test", 200, "hello")
    # index.php: no PHP-FPM there (502). Until the reload's old worker is gone it may answer with
    # the default server (404, in the main log): wait for the new vhost's answer.
    nginx.wait_for("/missing.txt?<script>", "www.example.test", 502, "")
    access, error = nginx.web.config.site_logs("example.test")
    assert access == nginx.prefix / "vhosts" / "harbormaster-logs" / "example.test.access.log"
    found = lines_of(access, "/missing.txt")
    assert any('"GET /hello.txt HTTP/1.1" 200 ' in line for line in found)
    assert [logtail.status_of(line) for line in lines_of(access, "/missing", status="5xx")] == ["502"]
    assert lines_of(access, "x", status="200") and all('" 200 ' in line for line in lines_of(access, "x", status="200"))
    assert any("connect() failed" in line for line in lines_of(error, "connect() failed"))
    nginx.web.disable("example.test")
    nginx.wait_for("/", "example.test", 503, "This site is disabled")
    assert any('"GET / HTTP/1.1" 503 ' in line for line in lines_of(access, '"GET / HTTP/1.1" 503'))


def test_apache_writes_the_sites_own_logs(served: Served) -> None:  # noqa: F811
    served.web.write_vhost(apache_site(served.base, "hello"))
    served.apache.wait_for("/hello.txt", "example.test", 200, "hello")
    served.apache.get("/.git/config", "example.test")  # refused: 403
    access, error = served.web.config.site_logs("example.test")
    assert access.parent == served.apache.vhosts / "harbormaster-logs"
    found = lines_of(access, "/.git/config")
    assert any('"GET /hello.txt HTTP/1.1" 200 ' in line for line in found)
    assert [line.split('"')[1] for line in lines_of(access, "/.git", status="403")] == ["GET /.git/config HTTP/1.1"]
    assert error.exists()


def test_a_log_directory_inside_a_docroot_is_refused(tmp_path: Path) -> None:
    spec = nginx_site(tmp_path, "x")
    config = WebConfig("nginx", vhost_dir=tmp_path / "vhosts", log_dir=spec.docroot / "sites" / "logs")
    with pytest.raises(ProvisionError, match="inside the docroot"):
        config.site_logs(spec.domain, spec.docroot)
    from provision.runner import Runner
    from provision.web import web_server_for

    with pytest.raises(ProvisionError, match="inside the docroot"):
        web_server_for(config, Runner(lambda level, line: None)).render_site(
            VhostSpec(spec.domain, [], spec.docroot, spec.site_dir))
    with pytest.raises(ProvisionError, match="log directory"):
        assert WebConfig("nginx", vhost_dir=tmp_path, log_dir=Path("/var/log/a b")).logs
