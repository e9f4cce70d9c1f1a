"""Vhost files without a running nginx: what the template writes, what it refuses, the `none`
driver, and the roll-back when the configuration test fails (a stand-in test command)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from provision.errors import InvalidDomain, ProvisionError
from provision.runner import Runner
from provision.web import VhostSpec, WebConfig, web_server_for


def spec(tmp_path: Path, *aliases: str, php: str = "unix:/run/php/php8.2-fpm.sock") -> VhostSpec:
    docroot = tmp_path / "platforms" / "d10" / "web"
    return VhostSpec("Example.COM.", list(aliases), docroot, docroot / "sites" / "example.com", php)


def none_server(tmp_path: Path, log: list[str] | None = None):  # type: ignore[no-untyped-def]
    sink = log if log is not None else []
    return web_server_for(WebConfig("none", vhost_dir=tmp_path / "vhosts", listen=("80", "[::]:80")),
                          Runner(lambda level, line: sink.append(line)))


def test_it_writes_names_docroot_and_php_into_the_vhost(tmp_path: Path) -> None:
    log: list[str] = []
    web = none_server(tmp_path, log)
    path = web.write_vhost(spec(tmp_path, "www.example.com", "EXAMPLE.com", "bücher.example"))
    text = path.read_text()
    assert path == tmp_path / "vhosts" / "example.com.conf" and web.has_vhost("example.com")
    assert text.startswith("# harbormaster-vhost: example.com www.example.com xn--bcher-kva.example\n")
    assert "    server_name example.com www.example.com xn--bcher-kva.example;\n" in text
    assert f"    root {tmp_path}/platforms/d10/web;\n" in text
    assert "    listen 80;\n    listen [::]:80;\n" in text
    assert "fastcgi_pass unix:/run/php/php8.2-fpm.sock;" in text
    assert "try_files $uri /index.php?$query_string;" in text  # nginx's own $ survive the template
    assert "%%" not in text
    assert log == []  # `none` never runs anything


@pytest.mark.parametrize("alias", ["bad;alias.com", "a.com; include /etc/passwd", "x.com\nserver {",
                                   "*.example.com", "../etc", "a b.com"])
def test_it_refuses_an_alias_the_template_cannot_hold(tmp_path: Path, alias: str) -> None:
    with pytest.raises(InvalidDomain):
        spec(tmp_path, alias)
    assert not (tmp_path / "vhosts").exists()


@pytest.mark.parametrize("php", ["127.0.0.1:9000; evil", "unix:/run/x sock", "host", "9000"])
def test_it_refuses_a_fastcgi_address_that_is_not_one(tmp_path: Path, php: str) -> None:
    with pytest.raises(ProvisionError, match="FastCGI"):
        spec(tmp_path, php=php)


@pytest.mark.parametrize("docroot", ["relative/web", "/srv/a b/web", "/srv/$host/web", "/srv/x;y",
                                     "/srv/../etc", '/srv/"q"'])
def test_it_refuses_a_docroot_a_config_cannot_hold(docroot: str) -> None:
    with pytest.raises(ProvisionError, match="docroot"):
        VhostSpec("example.com", [], Path(docroot), Path(docroot) / "sites" / "example.com")


def test_it_refuses_a_site_dir_outside_the_docroot(tmp_path: Path) -> None:
    with pytest.raises(ProvisionError, match="not inside the docroot"):
        VhostSpec("example.com", [], tmp_path / "web", tmp_path / "elsewhere")


def test_it_swaps_the_vhost_for_the_disabled_one_and_back(tmp_path: Path) -> None:
    web = none_server(tmp_path)
    web.write_vhost(spec(tmp_path, "www.example.com"))
    own = web.vhost_path("example.com").read_text()
    web.disable("example.com")
    disabled = web.vhost_path("example.com").read_text()
    assert "return 503;" in disabled and "server_name example.com www.example.com;" in disabled
    assert (tmp_path / "vhosts" / "example.com.conf.site").read_text() == own
    assert (tmp_path / "vhosts" / "harbormaster-pages" / "site-disabled.html").exists()
    web.enable("example.com")
    assert web.vhost_path("example.com").read_text() == own and not web.is_disabled("example.com")
    web.enable("example.com")  # idempotent
    web.remove_vhost("example.com")
    assert not web.has_vhost("example.com") and not list((tmp_path / "vhosts").glob("example*"))


def test_it_says_when_there_is_nothing_to_disable(tmp_path: Path) -> None:
    with pytest.raises(ProvisionError, match="no vhost to disable"):
        none_server(tmp_path).disable("example.com")
    with pytest.raises(ProvisionError, match="no vhost to enable"):
        none_server(tmp_path).enable("example.com")


FAKE_TEST = """
import pathlib, sys
for conf in pathlib.Path(sys.argv[1]).glob("*.conf"):
    if "bogus" in conf.read_text():
        sys.stderr.write(f'nginx: [emerg] unknown directive "bogus" in {conf}:3\\n')
        sys.exit(1)
"""


def test_it_rolls_back_every_file_when_the_config_test_fails(tmp_path: Path) -> None:
    vhosts = tmp_path / "vhosts"
    log: list[str] = []
    runner = Runner(lambda level, line: log.append(line))
    base = dict(vhost_dir=vhosts, test_argv=(sys.executable, "-c", FAKE_TEST, str(vhosts)),
                reload_argv=(sys.executable, "-c", "print('reloaded')"))
    web = web_server_for(WebConfig("nginx", **base), runner)  # type: ignore[arg-type]
    web.write_vhost(spec(tmp_path, "www.example.com"))
    before = {p.name: p.read_text() for p in vhosts.glob("example.com*")}
    assert log.count("reloaded") == 1

    broken = web_server_for(WebConfig("nginx", template="# harbormaster-vhost: %%names\nbogus;\n",
                                      **base), runner)  # type: ignore[arg-type]
    with pytest.raises(ProvisionError, match=r'previous configuration is back.*unknown directive "bogus"'):
        broken.write_vhost(spec(tmp_path))
    assert {p.name: p.read_text() for p in vhosts.glob("example.com*")} == before
    assert not [p.name for p in vhosts.iterdir() if p.name.startswith(".example")]
    assert log.count("reloaded") == 1  # a refused change is never reloaded


def test_it_skips_test_and_reload_when_nothing_changes(tmp_path: Path) -> None:
    log: list[str] = []
    web = web_server_for(WebConfig("nginx", vhost_dir=tmp_path / "v",
                                   test_argv=(sys.executable, "-c", "print('tested')"),
                                   reload_argv=(sys.executable, "-c", "print('reloaded')")),
                         Runner(lambda level, line: log.append(line)))
    web.write_vhost(spec(tmp_path))
    web.write_vhost(spec(tmp_path))
    assert log.count("tested") == 1 and log.count("reloaded") == 1


def test_it_names_a_bad_placeholder_in_an_operator_template(tmp_path: Path) -> None:
    web = web_server_for(WebConfig("none", vhost_dir=tmp_path / "v", template="server_name %%nmaes;"),
                         Runner(lambda level, line: None))
    with pytest.raises(ProvisionError, match="nmaes"):
        web.write_vhost(spec(tmp_path))


def test_it_keeps_a_site_disabled_when_its_own_vhost_fails_on_enable(tmp_path: Path) -> None:
    vhosts = tmp_path / "vhosts"
    base = dict(vhost_dir=vhosts, test_argv=(sys.executable, "-c", FAKE_TEST, str(vhosts)),
                reload_argv=(sys.executable, "-c", "pass"))
    runner = Runner(lambda level, line: None)
    web_server_for(WebConfig("nginx", **base), runner).write_vhost(spec(tmp_path))  # type: ignore[arg-type]
    web_server_for(WebConfig("nginx", **base), runner).disable("example.com")  # type: ignore[arg-type]
    # While disabled the site's own vhost is not loaded, so a broken one is only kept aside...
    broken = web_server_for(WebConfig("nginx", template="# harbormaster-vhost: %%names\nbogus;\n",
                                      **base), runner)  # type: ignore[arg-type]
    broken.write_vhost(spec(tmp_path))
    # ...and enabling it is refused, leaving the disabled page in place.
    with pytest.raises(ProvisionError, match="previous configuration is back"):
        broken.enable("example.com")
    assert broken.is_disabled("example.com")
    assert "return 503;" in broken.vhost_path("example.com").read_text()
