"""Aliases and redirects of a site served by a real nginx (the private nginx and php-fpm of
test_nginx_site.py), through the engine: see tests/operations/domains_scenario.py."""
from __future__ import annotations

from hosting.engine.worker import execute
from hosting.inventory import add_site
from hosting.models import Task
from tests.operations import domains_scenario as scenario
from tests.operations.conftest import log_of
from tests.operations.test_nginx_site import web_stack  # noqa: F401 - the fixture


def _site(web_stack, make_server, make_platform, domains, tmp_path):  # noqa: F811
    port = web_stack["port"]
    # A default server: a name no vhost holds gets this 404, not the first site's pages.
    vhosts = tmp_path / "data" / "vhosts"
    (vhosts / "00-default.conf").write_text(
        f"server {{ listen 127.0.0.1:{port} default_server; server_name _; return 404 'no site here'; }}\n")
    server = make_server("sqlite", http="nginx", web_listen=f"127.0.0.1:{port}",
                         php_fastcgi=f"unix:{web_stack['socket']}", web_main_config=str(web_stack["conf"]),
                         web_prefix=str(web_stack["prefix"]))
    site, task = add_site(domains.new("web"), make_platform(server))
    execute(task.pk)
    task.refresh_from_db()
    assert task.state == Task.SUCCEEDED, (task.summary, log_of(task))
    return site, scenario.getter(port), vhosts


def test_it_adds_redirects_and_removes_aliases_on_nginx(web_stack, make_server, make_platform, domains,  # noqa: F811
                                                        tmp_path):
    site, get, _ = _site(web_stack, make_server, make_platform, domains, tmp_path)
    assert scenario.serves(site)(scenario.until(get, site.domain, "/", scenario.serves(site)))
    assert not scenario.serves(site)(get(f"alias.{site.domain}", "/"))
    scenario.check_aliases_and_redirects(site, get)


def test_it_rolls_back_what_nginx_refuses(web_stack, make_server, make_platform, domains, tmp_path):  # noqa: F811
    site, get, vhosts = _site(web_stack, make_server, make_platform, domains, tmp_path)
    assert scenario.serves(site)(scenario.until(get, site.domain, "/", scenario.serves(site)))
    scenario.check_refused_configuration_rolls_back(site, vhosts, get, "server { this is not nginx }\n")
