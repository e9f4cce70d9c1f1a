"""The HTTPS pieces of the vhosts, kept apart from the site templates (provision.web.templates),
which hold them through one placeholder, %%tls_lines, in each server block:

- in every HTTP block (a disabled site's too): the ACME HTTP-01 challenge path,
  /.well-known/acme-challenge/, served from Harbormaster's challenge directory (never from the
  site's own files, which its client writes);
- in the TLS block: the certificate, modern protocols (TLS 1.2 and 1.3, Mozilla's
  "intermediate" ciphers) and, when asked, HSTS.
A site in mode `required` answers HTTP with a 301 to HTTPS (the redirect templates here),
the challenge path apart."""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from provision.errors import ProvisionError
from provision.web.templates import HEADER

# Mozilla's "intermediate" configuration (TLS 1.2 ciphers; TLS 1.3 chooses its own).
CIPHERS = ("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
           "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
           "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384")
HSTS = "max-age=31536000"
_PORT_AT_END = re.compile(r"(?:^|:)(\d{1,5})$")


@dataclass(frozen=True)
class TlsSpec:
    """A site's HTTPS: its certificate's files (checked paths), whether HTTP redirects, HSTS."""

    fullchain: Path
    key: Path
    required: bool = False
    hsts: bool = False

    def __post_init__(self) -> None:
        from provision.web.base import config_path

        object.__setattr__(self, "fullchain", config_path(self.fullchain, "certificate"))
        object.__setattr__(self, "key", config_path(self.key, "certificate key"))


def https_port_suffix(tls_listen: Sequence[str]) -> str:
    """`:8443` for a redirect to a TLS listener on another port than 443, "" for 443."""
    for value in tls_listen:
        found = _PORT_AT_END.search(value.split()[0]) if value.split() else None
        if found:
            return "" if found.group(1) == "443" else f":{found.group(1)}"
    return ""


# -- nginx ---------------------------------------------------------------------------------

NGINX_CHALLENGE = """\
    # ACME HTTP-01 tokens, written by Harbormaster (not by the site).
    location ^~ /.well-known/acme-challenge/ {
        alias %%challenge_dir/;
        default_type text/plain;
    }"""

NGINX_TLS = """\
    ssl_certificate %%fullchain;
    ssl_certificate_key %%key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers %%ciphers;
    ssl_prefer_server_ciphers off;
    ssl_session_timeout 1d;
    ssl_session_cache shared:harbormaster_tls:10m;
    ssl_session_tickets off;%%hsts"""

NGINX_REDIRECT = HEADER + """# HTTPS is required for %%domain: HTTP answers with a redirect (301), the ACME path apart.
server {
%%listen_lines
    server_name %%names;
    server_tokens off;
%%log_lines
%%tls_lines
    location / {
        return 301 https://$host%%https_port$request_uri;
    }
}
"""

# -- Apache --------------------------------------------------------------------------------

# mod_rewrite maps the path (no mod_alias needed): a token is base64url, anything else is a 404.
APACHE_CHALLENGE = """\
    # ACME HTTP-01 tokens, written by Harbormaster (not by the site).
    RewriteEngine On
    RewriteRule "^/\\.well-known/acme-challenge/([A-Za-z0-9_-]+)$" "%%challenge_dir/$1" [L]
    <Directory "%%challenge_dir">
        AllowOverride None
        Options None
        Require all granted
    </Directory>"""

APACHE_TLS = """\
    SSLEngine on
    SSLCertificateFile "%%fullchain"
    SSLCertificateKeyFile "%%key"
    SSLProtocol -all +TLSv1.2 +TLSv1.3
    SSLCipherSuite %%ciphers
    SSLHonorCipherOrder off
    SSLSessionTickets off%%hsts"""

APACHE_REDIRECT = HEADER + """# HTTPS is required for %%domain: HTTP answers with a redirect (301), the ACME path apart.
<VirtualHost %%addresses>
    ServerName %%domain
    ServerAlias %%names
    ServerSignature Off
%%log_lines
%%tls_lines
    RewriteCond %{REQUEST_URI} !^/\\.well-known/acme-challenge/
    RewriteRule ^ https://%{SERVER_NAME}%%https_port%{REQUEST_URI} [R=301,L]
</VirtualHost>
"""


def challenge_lines(kind: str, challenge_dir: Path | None) -> str:
    """The challenge location of an HTTP server block ("" when the server has no directory)."""
    if challenge_dir is None:
        return ""
    template = APACHE_CHALLENGE if kind == "apache" else NGINX_CHALLENGE
    return template.replace("%%challenge_dir", str(challenge_dir))


def tls_lines(kind: str, tls: TlsSpec) -> str:
    if kind == "apache":
        hsts = f'\n    Header always set Strict-Transport-Security "{HSTS}"' if tls.hsts else ""
        template = APACHE_TLS
    else:
        hsts = f'\n    add_header Strict-Transport-Security "{HSTS}" always;' if tls.hsts else ""
        template = NGINX_TLS
    return (template.replace("%%fullchain", str(tls.fullchain)).replace("%%key", str(tls.key))
            .replace("%%ciphers", CIPHERS).replace("%%hsts", hsts))


def without_header(text: str) -> str:
    """A second server block of a vhost file: only the first block carries the header line."""
    if not text.startswith("# harbormaster-vhost:"):
        raise ProvisionError("A vhost template must start with its header line.")
    return text.split("\n", 1)[1]
