"""Apache vhost files without a running Apache: what the templates write, what they refuse, and
which program the driver runs (stand-ins for apache2ctl and apache2 on PATH record their
arguments and answer as Apache does)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from provision.errors import ProvisionError
from provision.runner import Runner
from provision.web import VhostSpec, WebConfig, web_server_for
from provision.web.apache import ApacheServer, php_handler, vhost_addresses


def spec(tmp_path: Path, *aliases: str, php: str = "unix:/run/php/php8.2-fpm.sock") -> VhostSpec:
    docroot = tmp_path / "platforms" / "d10" / "web"
    return VhostSpec("Example.COM.", list(aliases), docroot, docroot / "sites" / "example.com", php)


def apache(tmp_path: Path, log: list[str] | None = None, **fields) -> ApacheServer:  # type: ignore[no-untyped-def]
    sink = log if log is not None else []
    values = {"vhost_dir": tmp_path / "vhosts", "test_argv": (sys.executable, "-c", "pass"),
              "reload_argv": (sys.executable, "-c", "pass"), **fields}
    web = web_server_for(WebConfig("apache", **values), Runner(lambda level, line: sink.append(line)))
    assert isinstance(web, ApacheServer)
    return web


def test_it_writes_names_addresses_docroot_and_php_into_the_virtualhost(tmp_path: Path) -> None:
    web = apache(tmp_path, listen=("80", "[::]:8080", "127.0.0.1:8081"))
    path = web.write_vhost(spec(tmp_path, "www.example.com", "EXAMPLE.com", "bücher.example"))
    text = path.read_text()
    assert path == tmp_path / "vhosts" / "example.com.conf"
    assert text.startswith("# harbormaster-vhost: example.com www.example.com xn--bcher-kva.example\n")
    assert "<VirtualHost *:80 [::]:8080 127.0.0.1:8081>\n" in text
    assert "    ServerName example.com\n" in text
    assert "    ServerAlias example.com www.example.com xn--bcher-kva.example\n" in text
    docroot = tmp_path / "platforms" / "d10" / "web"
    assert f'    DocumentRoot "{docroot}"\n' in text and f'    <Directory "{docroot}">\n' in text
    assert 'SetHandler "proxy:unix:/run/php/php8.2-fpm.sock|fcgi://localhost"' in text
    assert "RequestHeader unset Proxy early" in text and "AllowOverride None" in text
    assert "RewriteCond %{REQUEST_FILENAME} !-f" in text  # Apache's own %{...} survive the template
    assert "%%" not in text and text.count("<VirtualHost") == 1 and text.rstrip().endswith("</VirtualHost>")


@pytest.mark.parametrize(("address", "handler"), [
    ("127.0.0.1:9000", "proxy:fcgi://127.0.0.1:9000"),
    ("php.internal:9001", "proxy:fcgi://php.internal:9001"),
    ("[::1]:9000", "proxy:fcgi://[::1]:9000"),
    ("unix:/run/php/fpm.sock", "proxy:unix:/run/php/fpm.sock|fcgi://localhost"),
])
def test_it_hands_php_to_fpm_over_tcp_or_a_socket(tmp_path: Path, address: str, handler: str) -> None:
    assert php_handler(address) == handler
    text = apache(tmp_path).render_site(spec(tmp_path, php=address))
    assert f'SetHandler "{handler}"' in text


@pytest.mark.parametrize(("listen", "addresses"), [
    (("80",), "*:80"), (("*:80", "80"), "*:80"), (("[::]:80", "0.0.0.0:80"), "[::]:80 0.0.0.0:80"),
    (("web1.example.net:8080",), "web1.example.net:8080"), (("127.0.0.1", "[::1]"), "127.0.0.1:80 [::1]:80"),
])
def test_it_turns_listen_values_into_virtualhost_addresses(listen: tuple[str, ...], addresses: str) -> None:
    assert vhost_addresses(listen) == addresses


@pytest.mark.parametrize("listen", ["80 default_server", "443 ssl", "[::1] 80", "80>", "a_b:80", "1:2:3",
                                    "127.0.0.1:80:80", "[::1]:"])
def test_it_refuses_a_listen_value_a_virtualhost_cannot_take(tmp_path: Path, listen: str) -> None:
    with pytest.raises(ProvisionError, match="VirtualHost|listen address"):
        apache(tmp_path, listen=(listen,))
    assert not (tmp_path / "vhosts").exists()  # refused before anything was written


def test_it_swaps_the_vhost_for_the_503_one_and_back(tmp_path: Path) -> None:
    web = apache(tmp_path, listen=("127.0.0.1:8080",))
    web.write_vhost(spec(tmp_path, "www.example.com"))
    own = web.vhost_path("example.com").read_text()
    web.disable("example.com")
    disabled = web.vhost_path("example.com").read_text()
    assert disabled.startswith("# harbormaster-vhost: example.com www.example.com\n")
    assert "<VirtualHost 127.0.0.1:8080>" in disabled and "ServerAlias example.com www.example.com" in disabled
    pages = tmp_path / "vhosts" / "harbormaster-pages"
    assert f'DocumentRoot "{pages}"' in disabled and "ErrorDocument 503 /site-disabled.html" in disabled
    assert "RewriteRule ^ - [R=503]" in disabled and 'Header always set Retry-After "3600"' in disabled
    assert "SetHandler" not in disabled and "%%" not in disabled  # nothing of the site is served
    assert (pages / "site-disabled.html").exists() and web.is_disabled("example.com")
    assert (tmp_path / "vhosts" / "example.com.conf.site").read_text() == own
    web.enable("example.com")
    assert web.vhost_path("example.com").read_text() == own and not web.is_disabled("example.com")


def test_it_names_a_bad_placeholder_in_an_operator_template(tmp_path: Path) -> None:
    web = apache(tmp_path, template="# harbormaster-vhost: %%names\n<VirtualHost %%adresses>\n")
    with pytest.raises(ProvisionError, match="adresses"):
        web.write_vhost(spec(tmp_path))


# Stand-ins for apache2ctl and apache2: they record their arguments, answer `-t -D DUMP_RUN_CFG`
# with the PidFile line Apache prints, and fail the test when a vhost holds "bogus"; apache2
# without -f fails as Debian's does without the variables of /etc/apache2/envvars.
STAND_IN = """#!{python}
import os, pathlib, sys
with open({calls!r}, "a") as calls:
    calls.write(os.path.basename(sys.argv[0]) + " " + " ".join(sys.argv[1:]) + "\\n")
if os.path.basename(sys.argv[0]) == "apache2" and "-f" not in sys.argv:
    sys.stderr.write("AH00111: Config variable ${{APACHE_RUN_DIR}} is not defined\\n")
    sys.exit(1)
if "-t" in sys.argv:
    for conf in pathlib.Path({vhosts!r}).glob("*.conf"):
        if "bogus" in conf.read_text():
            sys.stderr.write(f"AH00526: Syntax error on line 3 of {{conf}}:\\n"
                             "Invalid command 'bogus', perhaps misspelled or defined by a module "
                             "not included in the server configuration\\n")
            sys.exit(1)
    if "DUMP_RUN_CFG" in sys.argv:
        print('ServerRoot: "/etc/apache2"')
        print('PidFile: "{pid_file}"')
"""


@pytest.fixture
def stand_ins(tmp_path: Path) -> dict[str, Path]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    paths = {"calls": tmp_path / "calls.txt", "pid_file": tmp_path / "apache2.pid", "vhosts": tmp_path / "vhosts"}
    for name in ("apache2ctl", "apache2"):
        program = bin_dir / name
        program.write_text(STAND_IN.format(python=sys.executable, calls=str(paths["calls"]),
                                           vhosts=str(paths["vhosts"]), pid_file=paths["pid_file"]))
        program.chmod(0o755)
    paths["bin"] = bin_dir
    return paths


def driven(stand_ins: dict[str, Path], **fields) -> ApacheServer:  # type: ignore[no-untyped-def]
    runner = Runner(lambda level, line: None, env={"PATH": f"{stand_ins['bin']}:{os.environ['PATH']}"})
    web = web_server_for(WebConfig("apache", vhost_dir=stand_ins["vhosts"], **fields), runner)
    assert isinstance(web, ApacheServer)
    return web


def calls(stand_ins: dict[str, Path]) -> list[str]:
    return stand_ins["calls"].read_text().splitlines()


def test_it_drives_the_system_apache_through_apache2ctl(tmp_path: Path, stand_ins) -> None:
    stand_ins["pid_file"].write_text(f"{os.getpid()}\n")  # a live process: this one
    driven(stand_ins).write_vhost(spec(tmp_path))
    assert calls(stand_ins) == ["apache2ctl -t -D DUMP_RUN_CFG", "apache2ctl -k graceful"]


def test_it_drives_a_private_apache_with_its_main_config_and_server_root(tmp_path: Path, stand_ins) -> None:
    stand_ins["pid_file"].write_text(f"{os.getpid()}\n")
    main, root = tmp_path / "apache" / "apache2.conf", tmp_path / "apache"
    driven(stand_ins, main_config=main, prefix=root, extra_args=("-D", "HARBORMASTER")).write_vhost(spec(tmp_path))
    assert calls(stand_ins) == [f"apache2 -D HARBORMASTER -d {root} -f {main} -t -D DUMP_RUN_CFG",
                                f"apache2 -D HARBORMASTER -d {root} -f {main} -k graceful"]


def test_it_does_not_start_an_apache_that_is_not_running(tmp_path: Path, stand_ins) -> None:
    # `-k graceful` would start one, outside its service manager: the change is kept (it passed
    # the test) and the task is told to try again once Apache runs.
    web = driven(stand_ins)
    with pytest.raises(ProvisionError, match="Apache is not running") as caught:
        web.write_vhost(spec(tmp_path))
    assert caught.value.permanent is False and "written and valid" in str(caught.value)
    assert calls(stand_ins) == ["apache2ctl -t -D DUMP_RUN_CFG"]
    assert web.has_vhost("example.com")


def test_it_rolls_back_and_says_which_modules_when_the_test_fails(tmp_path: Path, stand_ins) -> None:
    stand_ins["pid_file"].write_text(f"{os.getpid()}\n")
    driven(stand_ins).write_vhost(spec(tmp_path))
    before = {p.name: p.read_text() for p in stand_ins["vhosts"].glob("example.com*")}
    broken = driven(stand_ins, template="# harbormaster-vhost: %%names\nbogus on\n")
    with pytest.raises(ProvisionError, match=r"(?s)previous configuration is back.*Invalid command 'bogus'"
                                             r".*a2enmod rewrite headers proxy_fcgi"):
        broken.write_vhost(spec(tmp_path))
    assert {p.name: p.read_text() for p in stand_ins["vhosts"].glob("example.com*")} == before
    assert calls(stand_ins).count("apache2ctl -k graceful") == 1  # a refused change is never reloaded


def test_it_says_how_to_run_the_system_apache_when_apache2_lacks_its_envvars(tmp_path: Path, stand_ins) -> None:
    with pytest.raises(ProvisionError, match=r"(?s)APACHE_RUN_DIR.*through apache2ctl"):
        driven(stand_ins, binary="apache2").write_vhost(spec(tmp_path))
    assert not driven(stand_ins).has_vhost("example.com")
