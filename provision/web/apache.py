"""Apache 2.4: a <VirtualHost> per site from a template, PHP through PHP-FPM with
mod_proxy_fcgi, the configuration tested (`-t`) before every graceful restart, the old files
back when the test fails.

Which program: the system's Apache is driven through `apache2ctl`, because Debian's apache2.conf
reads ${APACHE_RUN_DIR} and friends from /etc/apache2/envvars, which only apache2ctl loads; a
private Apache (WebConfig.main_config set) through `apache2 -f <main config> [-d <server root>]`,
whose configuration must then be self-contained."""
from __future__ import annotations

import io
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from provision.errors import ProvisionError
from provision.web import tls_templates as tls
from provision.web.base import VhostSpec, WebConfig, WebServer
from provision.web.redirects import redirect_blocks
from provision.web.templates import APACHE_DISABLED, APACHE_REDIRECT, APACHE_SITE

if TYPE_CHECKING:
    from provision.runner import Runner

# What <VirtualHost> takes: a port (any address), or address:port with the address a name, `*`,
# IPv4, or IPv6 in brackets. nginx's listen parameters (default_server, ssl, ...) have no
# meaning there, so they are refused rather than dropped.
_HOST = r"(\*|[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])"
_ADDRESS = re.compile(rf"^{_HOST}:\d{{1,5}}$")
_HOST_ONLY = re.compile(rf"^{_HOST}$")
_PORT = re.compile(r"^\d{1,5}$")
_PID_FILE = re.compile(r'^PidFile: "([^"]+)"', re.MULTILINE)

# Messages of `-t` that mean a module the templates need is not loaded, and how to load it.
_MODULE_HINT = ("The vhosts need mod_rewrite, mod_headers, mod_proxy_fcgi (with mod_proxy), mod_dir "
                "and mod_mime (Debian: a2enmod rewrite headers proxy_fcgi), and mod_ssl for HTTPS "
                "(a2enmod ssl).")
_NEEDS_ENVVARS = ("Run the system's Apache through apache2ctl (it reads /etc/apache2/envvars), or "
                  "give a self-contained main config.")


def vhost_addresses(listen: Sequence[str]) -> str:
    """LISTEN (Server.web_listen values) as <VirtualHost> addresses, read as nginx reads them:
    a bare port means every address, a bare address port 80. The main config must `Listen` on
    each of them."""
    addresses: list[str] = []
    for value in listen:
        text = value.strip()
        if _PORT.match(text):
            text = f"*:{text}"
        elif _HOST_ONLY.match(text) and not text.isdigit():
            text = f"{text}:80"
        if not _ADDRESS.match(text):
            raise ProvisionError(f"{value[:50]!r} is not an address Apache's <VirtualHost> can take "
                                 "(port, host:port, *:port or [v6]:port).")
        if text not in addresses:
            addresses.append(text)
    if not addresses:
        raise ProvisionError("An Apache vhost needs at least one address to answer on.")
    return " ".join(addresses)


def php_handler(address: str) -> str:
    """VhostSpec.php_fastcgi (checked there) as mod_proxy_fcgi's SetHandler target."""
    if address.startswith("unix:"):
        # The part after `|` only names the backend; the socket is what is connected to.
        return f"proxy:{address}|fcgi://localhost"
    return f"proxy:fcgi://{address}"


class ApacheServer(WebServer):
    kind = "apache"
    label = "Apache"
    rank = 2

    def __init__(self, config: WebConfig, runner: Runner) -> None:
        super().__init__(config, runner)
        self.addresses = vhost_addresses(config.listen)  # refuse a bad address before any file
        self._pid_file: Path | None = None  # learnt by test(), which always runs before reload()

    def _program(self) -> list[str]:
        if self.config.binary:
            binary = self.config.binary
        else:
            binary = "apache2" if self.config.main_config is not None else "apache2ctl"
        args = [binary, *self.config.extra_args]
        if self.config.prefix is not None:
            args += ["-d", str(self.config.prefix)]
        if self.config.main_config is not None:
            args += ["-f", str(self.config.main_config)]
        return args

    def render_site(self, site: VhostSpec) -> str:
        template = self.config.template or APACHE_SITE
        values = {
            "domain": site.domain,
            "names": " ".join(site.served_names),
            "all_names": " ".join(site.names),
            "addresses": self.addresses,
            "docroot": str(site.docroot),
            "site_dir": str(site.site_dir),
            "php": site.php_fastcgi,
            "php_handler": php_handler(site.php_fastcgi),
            "pages_dir": str(self.config.pages),
            "tls_lines": tls.challenge_lines(self.kind, self.config.challenge_dir),
            "log_lines": self._log_lines(site.domain, site.docroot),
        }
        if site.tls is None:
            return self._render(template, values) + self._redirects(site)
        if site.tls.required:
            plain = self._render(tls.APACHE_REDIRECT, {
                **values, "https_port": tls.https_port_suffix(self.config.tls_listen)})
        else:
            plain = self._render(template, values)
        # mod_ssl must be loaded, and the main config must `Listen` on each TLS address.
        secure = self._render(template, {**values, "addresses": vhost_addresses(self.config.tls_listen),
                                         "tls_lines": tls.tls_lines(self.kind, site.tls)})
        return plain + "\n" + tls.without_header(secure) + self._redirects(site)

    def _redirects(self, site: VhostSpec) -> str:
        return redirect_blocks(self, site, APACHE_REDIRECT, "%{REQUEST_SCHEME}", {"addresses": self.addresses},
                                    {"addresses": vhost_addresses(self.config.tls_listen)})

    def render_disabled(self, domain: str, names: Sequence[str], secure: tls.TlsSpec | None = None) -> str:
        values = {
            "domain": domain,
            "names": " ".join(names),
            "all_names": " ".join(names),
            "addresses": self.addresses,
            "pages_dir": str(self.config.pages),
            "tls_lines": tls.challenge_lines(self.kind, self.config.challenge_dir),
            "log_lines": self._log_lines(domain),
        }
        plain = self._render(APACHE_DISABLED, values)
        if secure is None:
            return plain
        return plain + "\n" + tls.without_header(self._render(APACHE_DISABLED, {
            **values, "addresses": vhost_addresses(self.config.tls_listen),
            "tls_lines": tls.tls_lines(self.kind, secure)}))

    def test(self) -> None:
        if self.config.test_argv:
            self.runner.run(list(self.config.test_argv), timeout=self.config.timeout)
            return
        # DUMP_RUN_CFG makes the syntax check also print the run-time settings, among them the
        # PidFile that reload() looks at.
        out = io.BytesIO()
        try:
            self.runner.run([*self._program(), "-t", "-D", "DUMP_RUN_CFG"], stdout=out,
                            timeout=self.config.timeout)
        except ProvisionError as exc:
            if type(exc) is not ProvisionError:
                raise  # Cancelled, TimedOut
            text = str(exc)
            if "Invalid command" in text:
                raise ProvisionError(f"{text} {_MODULE_HINT}") from None
            if "Config variable ${APACHE_" in text:
                raise ProvisionError(f"{text} {_NEEDS_ENVVARS}") from None
            raise
        found = _PID_FILE.search(out.getvalue().decode("utf-8", "replace"))
        self._pid_file = Path(found.group(1)) if found else None

    def reload(self) -> None:
        if self.config.reload_argv:
            self.runner.run(list(self.config.reload_argv), timeout=self.config.timeout)
            return
        # `-k graceful` starts an Apache that is not running, outside its service manager and
        # inside the worker's cgroup, where the next worker restart would kill it: refuse.
        if self._pid_file is not None and not _alive(self._pid_file):
            raise ProvisionError(f"Apache is not running (no live process in {self._pid_file}); "
                                 "start it, and the next verify reloads it.")
        # A graceful restart: children finish the requests they serve, then the new
        # configuration is in place.
        self.runner.run([*self._program(), "-k", "graceful"], timeout=self.config.timeout)


def _alive(pid_file: Path) -> bool:
    try:
        pid = int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return False
    except OSError:
        return True  # cannot tell (not readable by the worker): let `-k graceful` decide
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, run by another user
    return pid > 0
