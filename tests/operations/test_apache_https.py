"""site.https with a real Apache (mod_ssl): a private apache2 listening for HTTP on Pebble's
validation port and for TLS on a free port, a certificate from a real Pebble, the front page
fetched over TLS by a client that trusts Pebble's root; `required` answers 301 on HTTP."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hosting.models import Certificate, Task
from tests.apache_server import (
    MODULE_DIR,
    Apache,
    main_config,
    need_apache,
    php_fpm,
    prepare,
    running,
    served_directory,
)
from tests.operations.conftest import log_of, run_task
from tests.operations.test_site_https import eventually, http_get, https_get
from tests.pebble import Pebble, free_port, pebble_server  # noqa: F401 - the fixture

TLS_MODULES = ["ssl"]


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    # Apache's children (www-data when run as root) must reach the data directory's challenge
    # files and the platforms: pytest's own tmp_path is private to root.
    with served_directory() as path:
        yield path


@pytest.fixture
def apache_tls(tmp_path: Path, pebble_server: Pebble) -> Iterator[tuple[Apache, str, int]]:  # noqa: F811
    binary = need_apache()
    missing = [m for m in TLS_MODULES if not (MODULE_DIR / f"mod_{m}.so").exists()]
    if missing:
        pytest.skip(f"Apache modules missing: {', '.join(missing)}")
    apache = prepare(binary, tmp_path / "web", vhosts=tmp_path / "data" / "vhosts")
    tls_port = free_port()
    apache.port = pebble_server.http_port
    extra = "\n".join(f"LoadModule {m}_module {MODULE_DIR}/mod_{m}.so" for m in TLS_MODULES)
    apache.main.write_text(main_config(apache.root, apache.vhosts, apache.port).replace(
        "IncludeOptional", f"{extra}\nListen 127.0.0.1:{tls_port}\nIncludeOptional"))
    with php_fpm(tmp_path / "web" / "fpm", str(tmp_path / "web" / "fpm" / "php.sock")) as php, running(apache):
        yield apache, php, tls_port


def test_it_serves_a_site_over_https_through_apache(apache_tls, pebble_server, make_server, make_platform,  # noqa: F811
                                                    domains, settings):
    from hosting.engine.worker import execute
    from hosting.inventory import add_site

    apache, php, tls_port = apache_tls
    settings.HARBORMASTER_ACME_DIRECTORY = pebble_server.directory
    settings.HARBORMASTER_ACME_CA_BUNDLE = str(pebble_server.cert)
    server = make_server("sqlite", http="apache", web_listen=f"127.0.0.1:{apache.port}",
                         web_tls_listen=f"127.0.0.1:{tls_port}", php_fastcgi=php,
                         web_main_config=str(apache.main), web_prefix=str(apache.root))
    server.full_clean()
    platform = make_platform(server)
    site, task = add_site(domains.new("apache"), platform)
    execute(task.pk)
    task.refresh_from_db()
    assert task.state == Task.SUCCEEDED, (task.summary, log_of(task))

    task = run_task(site, "https", {"mode": "required", "hsts": True})
    assert task.state == Task.SUCCEEDED, (task.summary, log_of(task), apache.error_log()[-2000:])
    assert Certificate.objects.get(site=site).last_ok
    trust = pebble_server.trust()

    def served() -> tuple[int, dict[str, str], str]:
        got = https_get(tls_port, site.domain, trust)
        assert got[0] == 200, got[:2]
        return got

    _, headers, body = eventually(served)
    assert f"Site name: {site.domain}" in body and headers["strict-transport-security"].startswith("max-age=")
    status, headers, _ = http_get(apache.port, site.domain, "/node/1")
    assert status == 301 and headers["location"] == f"https://{site.domain}:{tls_port}/node/1"

    # Disabled: the challenge path still answers (a renewal works), everything else is the 503 page.
    assert run_task(site, "disable").state == Task.SUCCEEDED
    token = Path(settings.HARBORMASTER_DATA_DIR) / "acme-challenge" / "probe"
    token.write_text("probe")
    token.chmod(0o644)
    apache.wait_for("/.well-known/acme-challenge/probe", site.domain, 200, "probe")
    apache.wait_for("/", site.domain, 503, "")

    def disabled_over_tls() -> tuple[int, dict[str, str], str]:
        got = https_get(tls_port, site.domain, trust)
        assert got[0] == 503, got[:2]
        return got

    assert "This site is disabled" in eventually(disabled_over_tls)[2]
