"""nginx: vhosts from templates, `nginx -t` before every reload, the old files back when the
test fails."""
from __future__ import annotations

from collections.abc import Sequence

from provision.web import tls_templates as tls
from provision.web.base import VhostSpec, WebServer
from provision.web.redirects import redirect_blocks
from provision.web.templates import NGINX_DISABLED, NGINX_REDIRECT, NGINX_SITE


class NginxServer(WebServer):
    kind = "nginx"
    label = "nginx"
    rank = 1

    def _common_args(self) -> list[str]:
        args: list[str] = list(self.config.extra_args)
        if self.config.prefix is not None:
            args += ["-p", f"{self.config.prefix}/"]
        if self.config.main_config is not None:
            args += ["-c", str(self.config.main_config)]
        return args

    def _listen_lines(self, secure: bool = False) -> str:
        if secure:
            return "\n".join(f"    listen {value} ssl;" for value in self.config.tls_listen)
        return "\n".join(f"    listen {value};" for value in self.config.listen)

    def render_site(self, site: VhostSpec) -> str:
        template = self.config.template or NGINX_SITE
        values = {
            "domain": site.domain,
            "names": " ".join(site.served_names),
            "all_names": " ".join(site.names),
            "listen_lines": self._listen_lines(),
            "docroot": str(site.docroot),
            "site_dir": str(site.site_dir),
            "php": site.php_fastcgi,
            "pages_dir": str(self.config.pages),
            "tls_lines": tls.challenge_lines(self.kind, self.config.challenge_dir),
            "log_lines": self._log_lines(site.domain, site.docroot),
        }
        if site.tls is None:
            return self._render(template, values) + self._redirects(site)
        if site.tls.required:
            plain = self._render(tls.NGINX_REDIRECT, {
                **values, "https_port": tls.https_port_suffix(self.config.tls_listen)})
        else:
            plain = self._render(template, values)
        secure = self._render(template, {**values, "listen_lines": self._listen_lines(secure=True),
                                         "tls_lines": tls.tls_lines(self.kind, site.tls)})
        return plain + "\n" + tls.without_header(secure) + self._redirects(site)

    def _redirects(self, site: VhostSpec) -> str:
        return redirect_blocks(self, site, NGINX_REDIRECT, "$scheme", {"listen_lines": self._listen_lines()},
                                    {"listen_lines": self._listen_lines(secure=True)})

    def render_disabled(self, domain: str, names: Sequence[str], secure: tls.TlsSpec | None = None) -> str:
        values = {
            "domain": domain,
            "names": " ".join(names),
            "all_names": " ".join(names),
            "listen_lines": self._listen_lines(),
            "pages_dir": str(self.config.pages),
            "tls_lines": tls.challenge_lines(self.kind, self.config.challenge_dir),
            "log_lines": self._log_lines(domain),
        }
        plain = self._render(NGINX_DISABLED, values)
        if secure is None:
            return plain
        return plain + "\n" + tls.without_header(self._render(NGINX_DISABLED, {
            **values, "listen_lines": self._listen_lines(secure=True), "tls_lines": tls.tls_lines(self.kind, secure)}))

    def test(self) -> None:
        argv = list(self.config.test_argv or [self.config.binary or "nginx", "-t", "-q", *self._common_args()])
        self.runner.run(argv, timeout=self.config.timeout)

    def reload(self) -> None:
        argv = list(self.config.reload_argv or
                    [self.config.binary or "nginx", *self._common_args(), "-s", "reload"])
        self.runner.run(argv, timeout=self.config.timeout)
