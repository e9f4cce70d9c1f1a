"""Domain names: validated and normalised once, before they reach a path, a vhost or a database
name. A site directory is `sites/<domain>/`, so a domain must never carry a path part."""
from __future__ import annotations

import re

from provision.errors import InvalidDomain

MAX_DOMAIN = 253
MAX_LABEL = 63
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def normalise_domain(value: str) -> str:
    """Return the domain in lower-case ASCII (IDNA) form, or raise InvalidDomain.

    Accepts Unicode names (converted with IDNA), a single trailing dot, and mixed case. Refuses
    empty names, path characters, whitespace, NUL, IP-like all-numeric names, single labels,
    over-long labels and names."""
    if not isinstance(value, str):
        raise InvalidDomain("A domain name must be text.")
    name = value.strip()
    if name.endswith(".") and not name.endswith(".."):
        name = name[:-1]
    if not name:
        raise InvalidDomain("The domain name is empty.")
    if any(c in name for c in "/\\\x00") or any(c.isspace() for c in name):
        raise InvalidDomain(f"{_shown(value)} is not a domain name: it contains a path character or whitespace.")
    try:
        ascii_name = name.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise InvalidDomain(f"{_shown(value)} is not a valid internationalised domain name ({exc}).") from None
    if len(ascii_name) > MAX_DOMAIN:
        raise InvalidDomain(f"The domain name is {len(ascii_name)} characters long; the limit is {MAX_DOMAIN}.")
    labels = ascii_name.split(".")
    if len(labels) < 2:
        raise InvalidDomain(f"{_shown(value)} needs at least two labels, like example.com.")
    for label in labels:
        if not label:
            raise InvalidDomain(f"{_shown(value)} has an empty label (two dots in a row).")
        if len(label) > MAX_LABEL:
            raise InvalidDomain(f"A label of {_shown(value)} is longer than {MAX_LABEL} characters.")
        if not _LABEL.match(label):
            raise InvalidDomain(
                f"{_shown(value)} is not a domain name: labels may hold only letters, digits and "
                "inner hyphens."
            )
    if labels[-1].isdigit():
        raise InvalidDomain(f"{_shown(value)} looks like an IP address, not a domain name.")
    return ascii_name


# How a site's aliases answer (Site.alias_mode) and what its www. counterpart does
# (Site.www_redirect): nothing, `www.<domain>` redirects to the bare domain, or the bare domain
# redirects to `www.<domain>` (the site's domain is then the www. name).
ALIASES_SERVE, ALIASES_REDIRECT = "serve", "redirect"
ALIAS_MODES = (ALIASES_SERVE, ALIASES_REDIRECT)
WWW_NONE, WWW_TO_BARE, WWW_TO_WWW = "", "to-bare", "to-www"
WWW_MODES = (WWW_NONE, WWW_TO_BARE, WWW_TO_WWW)


def www_counterpart(domain: str, mode: str) -> str | None:
    """The name that redirects to DOMAIN under the www. MODE, or None (no www. redirect).
    Raises InvalidDomain when the mode does not fit the domain: `to-bare` needs a bare domain
    (www.example.com redirects to example.com), `to-www` a www. one (example.com redirects to
    www.example.com)."""
    if mode not in WWW_MODES:
        raise InvalidDomain(f"{_shown(mode)} is not a www. redirect (none, to-bare or to-www).")
    if mode == WWW_NONE:
        return None
    domain = normalise_domain(domain)
    if mode == WWW_TO_BARE:
        if domain.startswith("www."):
            raise InvalidDomain(f"{domain} is a www. name: www. can redirect to it only from the bare name "
                                "(choose to-www).")
        return normalise_domain(f"www.{domain}")
    if not domain.startswith("www."):
        raise InvalidDomain(f"{domain} is not a www. name: the bare name can redirect only to a www. domain "
                            "(choose to-bare).")
    return normalise_domain(domain[4:])


def _shown(value: object) -> str:
    """The value as it may appear in a message: quoted, bounded, control characters escaped."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "...'"
