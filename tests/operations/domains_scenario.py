"""What a site's domain tasks must do to a real web server, whichever it is (nginx or Apache):
an alias serves the site, removed it does not; aliases in redirect mode and the www. counterpart
answer 301 with the domain in Location; a refused configuration puts the record, settings.php
and the vhost back. Shared by test_site_aliases_nginx.py and test_site_aliases_apache.py."""
from __future__ import annotations

import http.client
import time
from collections.abc import Callable
from pathlib import Path

from hosting.engine.worker import execute
from hosting.models import Site, Task
from hosting.operations import resources
from hosting.starting import start_task
from provision.settings_php import php_string, trusted_host_pattern
from tests.operations.conftest import log_of

Answer = tuple[int, str, str]  # status, Location, body


def getter(port: int) -> Callable[[str, str], Answer]:
    def get(host: str, path: str = "/") -> Answer:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("GET", path, headers={"Host": host})
            response = conn.getresponse()
            return response.status, response.getheader("Location") or "", response.read().decode(errors="replace")
        finally:
            conn.close()
    return get


def until(get: Callable[[str, str], Answer], host: str, path: str, wanted: Callable[[Answer], bool]) -> Answer:
    """GET until the answer is WANTED (a reload brings up new workers), or the last answer."""
    give_up = time.monotonic() + 10
    answer: Answer = (0, "", "")
    while time.monotonic() < give_up:
        try:
            answer = get(host, path)
        except OSError:
            answer = (0, "", "")
        if wanted(answer):
            return answer
        time.sleep(0.1)
    return answer


def start(site: Site, kind: str, **data: str) -> Task:
    task = start_task("cli:test", site, kind, data)
    execute(task.pk)
    task.refresh_from_db()
    site.refresh_from_db()
    return task


def pattern(name: str) -> str:
    """NAME's trusted_host_patterns entry as settings.php holds it."""
    return php_string(trusted_host_pattern(name))


def settings_text(site: Site) -> str:
    return (resources.site_dir(site) / "settings.php").read_text()


def serves(site: Site) -> Callable[[Answer], bool]:
    return lambda a: a[0] == 200 and f"served by sites/{site.domain}" in a[2]


def check_aliases_and_redirects(site: Site, get: Callable[[str, str], Answer]) -> None:
    alias = f"alias.{site.domain}"
    task = start(site, "alias-add", alias=alias)
    assert task.state == Task.SUCCEEDED, (task.summary, log_of(task))
    assert site.aliases == [alias]
    assert pattern(alias) in settings_text(site)  # trusted_host_patterns
    assert serves(site)(until(get, alias, "/", serves(site))), get(alias, "/")

    # Aliases redirect: 301 to the domain, path and query kept.
    task = start(site, "redirects", alias_mode="redirect", www_redirect="to-bare")
    assert task.state == Task.SUCCEEDED, (task.summary, log_of(task))
    assert (site.alias_mode, site.www_redirect) == ("redirect", "to-bare")
    moved = until(get, alias, "/node/1?page=2", lambda a: a[0] == 301)
    assert moved[:2] == (301, f"http://{site.domain}/node/1?page=2"), moved
    www = until(get, f"www.{site.domain}", "/x", lambda a: a[0] == 301)
    assert www[:2] == (301, f"http://{site.domain}/x"), www
    assert serves(site)(get(site.domain, "/"))  # the domain itself still serves

    # Back to serving, then the alias removed: it no longer reaches the site.
    assert start(site, "redirects", alias_mode="serve", www_redirect="").state == Task.SUCCEEDED
    assert serves(site)(until(get, alias, "/", serves(site)))
    task = start(site, "alias-remove", alias=alias)
    assert task.state == Task.SUCCEEDED, (task.summary, log_of(task))
    assert site.aliases == []
    gone = until(get, alias, "/", lambda a: not serves(site)(a) and a[0] != 0)
    assert not serves(site)(gone), gone
    assert pattern(alias) not in settings_text(site)


def check_refused_configuration_rolls_back(site: Site, vhost_dir: Path, get: Callable[[str, str], Answer],
                                           broken: str) -> None:
    """A configuration the server's own test refuses (BROKEN, another file in the vhost
    directory): the task fails, and the record, settings.php and the vhost are as they were."""
    web_file = vhost_dir / f"{site.domain}.conf"
    vhost_before, settings_before = web_file.read_text(), settings_text(site)
    junk = vhost_dir / "zz-broken.conf"
    junk.write_text(broken)
    try:
        task = start(site, "alias-add", alias=f"new.{site.domain}")
    finally:
        junk.unlink()
    assert task.state == Task.FAILED, (task.summary, log_of(task))
    assert "previous configuration is back" in log_of(task)
    assert site.aliases == []
    assert web_file.read_text() == vhost_before
    assert settings_text(site) == settings_before
    assert serves(site)(get(site.domain, "/"))
