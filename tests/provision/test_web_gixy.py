"""gixy (PyPI gixy-ng), a static analyser for nginx configurations, on what Harbormaster writes
(a site's vhost, a disabled site's vhost) and what deploy/ ships: no high-severity finding. Before
issue 23 it found two in every site vhost: the protected-files regex (ReDoS) and server_tokens."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from provision.runner import Runner
from provision.web import VhostSpec, WebConfig, web_server_for
from tests.services import need_program
from tests.web_probe import old_nginx_site

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def gixy(config: Path) -> list[dict[str, str]]:
    """gixy's findings for CONFIG, as its JSON report lists them."""
    beside = Path(sys.executable).with_name("gixy")  # installed with the test extras
    program = str(beside) if beside.exists() else need_program("gixy")
    done = subprocess.run([program, "-f", "json", str(config)], capture_output=True, text=True, timeout=120)
    # Exit status 1 means "found something"; anything else that is not a report is a failure.
    assert done.returncode in (0, 1), done.stdout + done.stderr
    assert "CRITICAL" not in done.stderr, done.stderr  # a regex it could not parse is not checked
    return json.loads(done.stdout or "[]")


def rendered(tmp_path: Path, template: str | None = None) -> Path:
    """The vhosts of an enabled site, one whose other names redirect, and a disabled site, inside
    the http block of a main config."""
    web = web_server_for(WebConfig("nginx", vhost_dir=tmp_path / "vhosts", listen=("80", "[::]:80"),
                                   template=template), Runner(lambda level, line: None))
    spec = VhostSpec("example.com", ["www.example.com"], Path("/srv/platforms/d10/web"),
                     Path("/srv/platforms/d10/web/sites/example.com"), "unix:/run/php/php8.2-fpm.sock")
    source = Path("/etc/nginx/fastcgi_params")
    if source.exists():
        shutil.copy(source, tmp_path / "fastcgi_params")
    else:
        (tmp_path / "fastcgi_params").write_text("fastcgi_param QUERY_STRING $query_string;\n")
    main = tmp_path / "nginx.conf"
    # A site whose aliases and www. name redirect: its own server block and the redirecting one.
    redirecting = VhostSpec("shop.example.org", ["old.example.org"], Path("/srv/platforms/d10/web"),
                            Path("/srv/platforms/d10/web/sites/shop.example.org"), "unix:/run/php/php8.2-fpm.sock",
                            alias_mode="redirect", www_redirect="to-bare")
    main.write_text("events {}\nhttp {\n    server_tokens off;\n" + web.render_site(spec)
                    + web.render_site(redirecting)
                    + web.render_disabled("off.example.com", ["off.example.com"]) + "}\n")
    return main


def high(findings: list[dict[str, str]]) -> list[str]:
    return [f"{f['plugin']}: {f['reason']}" for f in findings if f["severity"] == "HIGH"]


def test_the_site_vhosts_have_no_high_severity_finding(tmp_path: Path) -> None:
    findings = gixy(rendered(tmp_path))
    assert not high(findings), high(findings)


def test_the_panels_nginx_config_has_no_high_severity_finding() -> None:
    findings = gixy(DEPLOY / "nginx-panel.conf")
    assert not high(findings), high(findings)
    assert (DEPLOY / "nginx-panel.conf").read_text().count("server_tokens off;") == 2


@pytest.mark.parametrize("without_tokens", [False, True])
def test_gixy_finds_what_issue_23_found(tmp_path: Path, without_tokens: bool) -> None:
    # The same check on the old patterns, or without server_tokens off: it can fail.
    main = rendered(tmp_path, None if without_tokens else old_nginx_site())
    if without_tokens:
        main.write_text(main.read_text().replace("server_tokens off;", ""))
    plugins = {line.split(":")[0] for line in high(gixy(main))}
    assert plugins == ({"version_disclosure"} if without_tokens else {"regex_redos"})


def test_a_tls_vhost_has_no_high_severity_finding(tmp_path: Path) -> None:
    from provision.web.tls_templates import TlsSpec

    web = web_server_for(WebConfig("nginx", vhost_dir=tmp_path / "vhosts", listen=("80",), tls_listen=("443",),
                                   challenge_dir=tmp_path / "acme-challenge"), Runner(lambda level, line: None))
    version = Path("/srv/tls/sites/example.com/v1")
    tls = TlsSpec(version / "fullchain.pem", version / "privkey.pem", required=True, hsts=True)
    spec = VhostSpec("example.com", ["www.example.com"], Path("/srv/platforms/d10/web"),
                     Path("/srv/platforms/d10/web/sites/example.com"), "unix:/run/php/php8.2-fpm.sock", tls=tls)
    (tmp_path / "fastcgi_params").write_text("fastcgi_param QUERY_STRING $query_string;\n")
    main = tmp_path / "nginx.conf"
    text = web.render_site(spec)
    assert "listen 443 ssl;" in text and "ssl_protocols TLSv1.2 TLSv1.3;" in text
    assert "return 301 https://$host$request_uri;" in text
    main.write_text("events {}\nhttp {\n    server_tokens off;\n" + text + "}\n")
    findings = gixy(main)
    assert not high(findings), high(findings)
