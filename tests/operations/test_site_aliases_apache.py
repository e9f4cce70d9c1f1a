"""Aliases and redirects of a site served by a real Apache (tests/apache_server.py, with its
default vhost answering "no site here"), through the engine: see domains_scenario.py."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hosting.engine.worker import execute
from hosting.inventory import add_site
from hosting.models import Task
from tests.apache_server import served_directory
from tests.operations import domains_scenario as scenario
from tests.operations.conftest import log_of
from tests.operations.test_apache_site import web_stack  # noqa: F401 - the fixture


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    # Where Apache's children (www-data) can read the platform (see test_apache_site.py).
    with served_directory() as path:
        yield path


def _site(web_stack, make_server, make_platform, domains):  # noqa: F811
    apache, php = web_stack
    server = make_server("sqlite", http="apache", web_listen=f"127.0.0.1:{apache.port}", php_fastcgi=php,
                         web_main_config=str(apache.main), web_prefix=str(apache.root))
    site, task = add_site(domains.new("web"), make_platform(server))
    execute(task.pk)
    task.refresh_from_db()
    assert task.state == Task.SUCCEEDED, (task.summary, log_of(task))
    return site, scenario.getter(apache.port), apache


def test_it_adds_redirects_and_removes_aliases_on_apache(web_stack, make_server, make_platform, domains):  # noqa: F811
    site, get, _ = _site(web_stack, make_server, make_platform, domains)
    assert scenario.serves(site)(scenario.until(get, site.domain, "/", scenario.serves(site)))
    assert get(f"alias.{site.domain}", "/")[2] == "no site here"
    scenario.check_aliases_and_redirects(site, get)


def test_it_rolls_back_what_apache_refuses(web_stack, make_server, make_platform, domains, tmp_path):  # noqa: F811
    site, get, apache = _site(web_stack, make_server, make_platform, domains)
    assert scenario.serves(site)(scenario.until(get, site.domain, "/", scenario.serves(site)))
    scenario.check_refused_configuration_rolls_back(site, apache.vhosts, get, "<VirtualHost\n")
