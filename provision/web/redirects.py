"""The blocks of a site's names that redirect to its domain (its aliases in redirect mode, its
www. counterpart), the same for nginx and Apache but for each driver's template, scheme variable
and listen values: over HTTP with the ACME challenge path, and over HTTPS with the site's
certificate when it has one."""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from provision.web import tls_templates as tls

if TYPE_CHECKING:
    from provision.web.base import VhostSpec, WebServer


def redirect_target(site: VhostSpec, scheme: str, tls_listen: Sequence[str]) -> str:
    """Where a name that redirects sends a request: the domain, on the request's own SCHEME (the
    server's variable for it), or straight to HTTPS when the site requires it."""
    if site.tls is not None and site.tls.required:
        return f"https://{site.domain}{tls.https_port_suffix(tls_listen)}"
    return f"{scheme}://{site.domain}"


def redirect_blocks(server: WebServer, site: VhostSpec, template: str, scheme: str, plain: dict[str, str],
                    secure: dict[str, str]) -> str:
    """SITE's redirect blocks ("" when no name redirects) from TEMPLATE: PLAIN and SECURE are the
    driver's listen values over HTTP and HTTPS, SCHEME its variable for the request's scheme."""
    if not site.redirect_names:
        return ""
    values = {
        "domain": site.domain,
        "redirect_names": " ".join(site.redirect_names),
        "first_redirect": site.redirect_names[0],
        "target": redirect_target(site, scheme, server.config.tls_listen),
        "tls_lines": tls.challenge_lines(server.kind, server.config.challenge_dir),
        **plain,
    }
    text = server.render(template, values)
    if site.tls is None:
        return text
    return text + server.render(template, {**values, **secure, "tls_lines": tls.tls_lines(server.kind, site.tls)})
