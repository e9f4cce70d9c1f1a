"""Which names of a site serve it and which redirect (provision.web.VhostSpec), the www.
counterpart of a domain (provision.domains.www_counterpart), and the redirect blocks each driver
appends: tested by the servers themselves in tests/operations/test_site_aliases_*.py."""
from __future__ import annotations

from pathlib import Path

import pytest

from provision.domains import www_counterpart
from provision.errors import InvalidDomain, ProvisionError
from provision.runner import Runner
from provision.web import VhostSpec, WebConfig, web_server_for

ROOT = Path("/srv/p/web")


def spec(domain: str = "example.com", aliases=("a.example.com", "b.example.net"), **kwargs) -> VhostSpec:
    return VhostSpec(domain, list(aliases), ROOT, ROOT / "sites" / domain, **kwargs)


def test_it_serves_every_name_by_default():
    site = spec()
    assert site.served_names == ("example.com", "a.example.com", "b.example.net")
    assert site.redirect_names == ()


def test_it_redirects_aliases_and_the_www_name_when_asked():
    site = spec(alias_mode="redirect", www_redirect="to-bare")
    assert site.served_names == ("example.com",)
    assert site.redirect_names == ("a.example.com", "b.example.net", "www.example.com")
    assert site.names == ("example.com", "a.example.com", "b.example.net", "www.example.com")
    # Serving aliases, the www. name still redirects, even when it is also an alias.
    both = spec(aliases=["www.example.com", "a.example.com"], www_redirect="to-bare")
    assert both.served_names == ("example.com", "a.example.com") and both.redirect_names == ("www.example.com",)


@pytest.mark.parametrize(("domain", "mode", "expected"), [
    ("example.com", "", None), ("example.com", "to-bare", "www.example.com"),
    ("www.example.com", "to-www", "example.com"), ("Www.Example.COM.", "to-www", "example.com"),
])
def test_it_finds_the_www_counterpart(domain, mode, expected):
    assert www_counterpart(domain, mode) == expected


@pytest.mark.parametrize(("domain", "mode"), [("www.example.com", "to-bare"), ("example.com", "to-www"),
                                              ("www.com", "to-www"), ("example.com", "sideways")])
def test_it_refuses_a_www_mode_that_does_not_fit(domain, mode):
    with pytest.raises(InvalidDomain):
        www_counterpart(domain, mode)
    with pytest.raises(ProvisionError):
        spec(domain, [], www_redirect=mode)


def test_it_refuses_an_unknown_alias_mode():
    with pytest.raises(ProvisionError, match="not an alias mode"):
        spec(alias_mode="proxy")


@pytest.mark.parametrize("kind", ["nginx", "apache"])
def test_each_driver_appends_one_redirect_block(kind, tmp_path):
    web = web_server_for(WebConfig(kind, vhost_dir=tmp_path), Runner(lambda level, line: None))
    text = web.render_site(spec(alias_mode="redirect", www_redirect="to-bare"))
    assert text.startswith("# harbormaster-vhost: example.com a.example.com b.example.net www.example.com\n")
    assert text.count("These names redirect to example.com (301).") == 1
    if kind == "nginx":
        assert "    server_name example.com;\n" in text
        assert "server_name a.example.com b.example.net www.example.com;" in text
        assert "return 301 $scheme://example.com$request_uri;" in text
    else:
        assert "    ServerAlias example.com\n" in text
        assert "ServerName a.example.com\n    ServerAlias a.example.com b.example.net www.example.com" in text
        assert '"%{REQUEST_SCHEME}://example.com/$1" [R=301,L]' in text
    assert "redirect" not in web.render_site(spec()).lower()


@pytest.mark.parametrize("kind", ["nginx", "apache"])
@pytest.mark.parametrize("required", [False, True])
def test_names_that_redirect_answer_over_https_too_and_keep_the_challenge_path(kind, required, tmp_path):
    """A site with a certificate: the redirecting names get a TLS block with the site's
    certificate as well, each HTTP block still answers the ACME challenge path (the certificate
    covers the aliases, so their validation must reach it), and under `required` they send the
    request straight to HTTPS."""
    from provision.web.tls_templates import TlsSpec

    challenge = tmp_path / "challenge"
    web = web_server_for(WebConfig(kind, vhost_dir=tmp_path, challenge_dir=challenge, tls_listen=("8443",)),
                         Runner(lambda level, line: None))
    tls = TlsSpec(fullchain=Path("/srv/tls/v1/fullchain.pem"), key=Path("/srv/tls/v1/privkey.pem"),
                  required=required)
    text = web.render_site(spec(alias_mode="redirect", tls=tls))
    blocks = text.split("These names redirect to example.com (301).")
    assert len(blocks) == 3  # one over HTTP, one over HTTPS
    plain, secure = blocks[1], blocks[2]
    assert str(challenge) in plain and "/srv/tls/v1/fullchain.pem" not in plain
    assert "/srv/tls/v1/fullchain.pem" in secure
    target = "https://example.com:8443" if required else ("$scheme://example.com" if kind == "nginx"
                                                         else "%{REQUEST_SCHEME}://example.com")
    assert plain.count(target) == 1 and secure.count(target) == 1
