"""The Apache driver against a real Apache of its own (tests/apache_server.py: private ServerRoot,
main config, pid file, logs and 127.0.0.1 port, stopped after each test), and for PHP a private
php-fpm: what is served, what is refused, the 503 page, and the old files back when `-t` fails."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from provision.errors import ProvisionError
from provision.runner import Runner
from provision.web import VhostSpec, WebConfig, WebServer, web_server_for
from provision.web.templates import APACHE_SITE
from tests.apache_server import Apache, free_port, need_apache, php_fpm, prepare, running, served_directory


@dataclass
class Served:
    apache: Apache
    web: WebServer
    base: Path
    log: list[str]


def driver(apache: Apache, log: list[str], **fields) -> WebServer:  # type: ignore[no-untyped-def]
    values = {"listen": (f"127.0.0.1:{apache.port}",), **fields}
    config = WebConfig("apache", vhost_dir=apache.vhosts, binary=apache.binary, main_config=apache.main,
                       prefix=apache.root, **values)
    return web_server_for(config, Runner(lambda level, line: log.append(line)))


@pytest.fixture
def served() -> Iterator[Served]:
    binary = need_apache()
    with served_directory() as base:
        apache = prepare(binary, base)
        log: list[str] = []
        with running(apache):
            yield Served(apache, driver(apache, log), base, log)


def site(base: Path, text: str = "hello", php: str = "127.0.0.1:9") -> VhostSpec:
    docroot = base / "platform" / "web"
    (docroot / "sites" / "example.test" / "files").mkdir(parents=True, exist_ok=True)
    (docroot / "hello.txt").write_text(text)
    return VhostSpec("Example.TEST", ["www.example.test"], docroot, docroot / "sites" / "example.test", php)


def test_it_serves_a_site_then_the_disabled_page_then_the_site_again(served: Served) -> None:
    apache, web = served.apache, served.web
    path = web.write_vhost(site(served.base, "hello from example.test"))
    assert path == apache.vhosts / "example.test.conf"
    apache.wait_for("/hello.txt", "example.test", 200, "hello from example.test")
    apache.wait_for("/hello.txt", "www.example.test", 200, "hello from example.test")
    assert any("-t -D DUMP_RUN_CFG" in line for line in served.log)
    assert any("-k graceful" in line for line in served.log)

    web.disable("example.test")
    assert web.is_disabled("example.test")
    apache.wait_for("/hello.txt", "www.example.test", 503, "This site is disabled")
    for path in ("/", "/node/1", "/site-disabled.html", "/index.php"):
        status, body, headers = apache.get(path, "example.test")
        assert (status, headers.get("Retry-After")) == (503, "3600") and "This site is disabled" in body
        assert headers.get("Content-Type", "").startswith("text/html")
    web.disable("example.test")  # idempotent

    web.enable("example.test")
    assert not web.is_disabled("example.test")
    apache.wait_for("/hello.txt", "example.test", 200, "hello from example.test")
    assert apache.get("/hello.txt", "other.test")[:2] == (404, "no site here")


def test_it_updates_a_disabled_site_without_enabling_it(served: Served) -> None:
    served.web.write_vhost(site(served.base, "one"))
    served.web.disable("example.test")
    spec = site(served.base, "one")
    served.web.write_vhost(VhostSpec(spec.domain, ["new.example.test"], spec.docroot, spec.site_dir))
    served.apache.wait_for("/", "new.example.test", 503, "This site is disabled")
    served.web.enable("example.test")
    served.apache.wait_for("/hello.txt", "new.example.test", 200, "one")


def test_it_puts_the_old_vhost_back_when_apache_refuses_the_new_one(served: Served) -> None:
    apache, web = served.apache, served.web
    good = site(served.base, "still the old config")
    web.write_vhost(good)
    before = web.vhost_path("example.test").read_text()
    apache.wait_for("/hello.txt", "example.test", 200, "still the old config")

    broken = driver(apache, served.log, template=APACHE_SITE.replace(
        "    DirectoryIndex", "    bogus_directive on\n    DirectoryIndex"))
    with pytest.raises(ProvisionError) as caught:
        broken.write_vhost(good)
    assert "bogus_directive" in str(caught.value) and "previous configuration is back" in str(caught.value)
    assert web.vhost_path("example.test").read_text() == before
    # No temporary or kept-aside file is left behind.
    assert sorted(p.name for p in apache.vhosts.iterdir()) == [".harbormaster.lock", "example.test.conf",
                                                               "harbormaster-logs"]
    web.test()  # the configuration on disk is valid again
    apache.wait_for("/hello.txt", "example.test", 200, "still the old config")


def test_it_keeps_the_disabled_page_when_the_sites_own_vhost_is_refused_on_enable(served: Served) -> None:
    web = served.web
    web.write_vhost(site(served.base))
    web.disable("example.test")
    broken = driver(served.apache, served.log,
                    template=APACHE_SITE.replace("    ServerAlias", "    Bogus x\n    ServerAlias"))
    broken.write_vhost(site(served.base))  # kept aside only: it is not loaded while disabled
    with pytest.raises(ProvisionError, match="previous configuration is back"):
        broken.enable("example.test")
    assert web.is_disabled("example.test")
    served.apache.wait_for("/", "example.test", 503, "This site is disabled")


def test_it_removes_a_vhost(served: Served) -> None:
    served.web.write_vhost(site(served.base, "here"))
    served.web.disable("example.test")
    served.web.remove_vhost("example.test")
    assert not served.web.has_vhost("example.test") and not served.web.is_disabled("example.test")
    served.web.remove_vhost("example.test")  # idempotent
    served.apache.wait_for("/hello.txt", "example.test", 404, "no site here")


@pytest.mark.parametrize("php", ["127.0.0.1:9000", "[::1]:9000", "php.internal:9000", "unix:/run/php/php-fpm.sock"])
def test_apache_accepts_every_form_of_the_rendered_vhosts(php: str) -> None:
    binary = need_apache()
    with served_directory() as base:
        apache = prepare(binary, base)  # not started: `-t` needs no running server
        web = driver(apache, [], listen=(f"127.0.0.1:{apache.port}", "*:8080", "[::1]:8081", "8082"))
        spec = VhostSpec("example.test", ["www.example.test", "bücher.example"], base / "web",
                         base / "web" / "sites" / "example.test", php)
        (apache.vhosts / "example.test.conf").write_text(web.render_site(spec))
        (apache.vhosts / "disabled.test.conf").write_text(web.render_disabled("disabled.test", ["disabled.test"]))
        web.test()
        (apache.vhosts / "broken.test.conf").write_text(web.render_site(spec).replace("</VirtualHost>", ""))
        with pytest.raises(ProvisionError, match="VirtualHost"):
            web.test()


def test_it_does_not_start_an_apache_that_is_not_running() -> None:
    # `apache2 -k graceful` would start it: a task must not leave a web server behind.
    binary = need_apache()
    with served_directory() as base:
        apache = prepare(binary, base)
        web = driver(apache, [])
        with pytest.raises(ProvisionError, match="Apache is not running"):
            web.write_vhost(site(base))
        assert web.has_vhost("example.test")  # tested and kept: the next reload serves it
        assert not (apache.root / "run" / "apache2.pid").exists()
        with pytest.raises(OSError):
            apache.get("/", "example.test")


PROBE_PHP = "<?php echo 'php ran: ', basename(__FILE__), ' proxy=[', $_SERVER['HTTP_PROXY'] ?? '', ']';"


def test_it_runs_php_through_fpm_and_serves_only_what_drupal_serves(served: Served) -> None:
    apache, base = served.apache, served.base
    with php_fpm(base / "fpm", f"127.0.0.1:{free_port()}") as address:
        spec = site(base, "static", php=address)
        docroot = spec.docroot
        files = {
            "index.php": PROBE_PHP, "update.php": PROBE_PHP, "core/install.php": PROBE_PHP,
            "core/modules/m/deep.php": PROBE_PHP, "vendor/x/v.php": PROBE_PHP,
            "sites/example.test/files/evil.php": PROBE_PHP, "sites/example.test/files/a.css": "css",
            "sites/example.test/private/p.txt": "private", "sites/example.test/settings.php": PROBE_PHP,
            ".env": "secret", ".git/config": "secret", "core/core.services.yml": "yml",
            "composer.json": "{}", "modules/m/m.module": "<?php", "index.php.bak": "old",
            "robots.txt": "robots",
        }
        for name, text in files.items():
            (docroot / name).parent.mkdir(parents=True, exist_ok=True)
            (docroot / name).write_text(text)
        served.web.write_vhost(spec)
        apache.wait_for("/", "example.test", 200, "php ran: index.php")
        expected = {
            "/": (200, "php ran: index.php proxy=[]"),
            "/node/1?page=2": (200, "php ran: index.php"),  # the front controller answers clean URLs
            "/sites/example.test/files/styles/thumbnail/x.png": (200, "php ran: index.php"),
            "/update.php": (200, "php ran: update.php"),
            "/core/install.php": (200, "php ran: install.php"),
            "/robots.txt": (200, "robots"),
            "/sites/example.test/files/a.css": (200, "css"),
            "/core/modules/m/deep.php": (403, ""),
            "/sites/example.test/files/evil.php": (403, ""),
            "/sites/example.test/files/evil.php/x": (403, ""),
            "/sites/example.test/settings.php": (403, ""),
            "/sites/example.test/private/p.txt": (403, ""),
            "/vendor/x/v.php": (404, ""),
            "/.env": (403, ""), "/.git/config": (403, ""),
            "/core/core.services.yml": (403, ""), "/composer.json": (403, ""),
            "/modules/m/m.module": (403, ""), "/index.php.bak": (403, ""),
        }
        for path, (status, text) in expected.items():
            got, body, _ = apache.get(path, "www.example.test", {"Proxy": "http://attacker.test:3128"})
            assert got == status and text in body, (path, got, body[:200])
            assert "secret" not in body and "private" not in body and "<?php" not in body
        headers = apache.get("/sites/example.test/files/a.css", "example.test")[2]
        assert "max-age=31536000" in headers.get("Cache-Control", "")
