"""nginx: vhosts from templates, `nginx -t` before every reload, the old files back when the
test fails."""
from __future__ import annotations

from collections.abc import Sequence

from provision.web.base import VhostSpec, WebServer
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

    def _listen_lines(self) -> str:
        return "\n".join(f"    listen {value};" for value in self.config.listen)

    def render_site(self, site: VhostSpec) -> str:
        return self._render(self.config.template or NGINX_SITE, {
            "domain": site.domain,
            "names": " ".join(site.served_names),
            "all_names": " ".join(site.names),
            "listen_lines": self._listen_lines(),
            "docroot": str(site.docroot),
            "site_dir": str(site.site_dir),
            "php": site.php_fastcgi,
            "pages_dir": str(self.config.pages),
        }) + self._redirects(site)

    def _redirects(self, site: VhostSpec) -> str:
        if not site.redirect_names:
            return ""
        return self._render(NGINX_REDIRECT, {
            "domain": site.domain,
            "listen_lines": self._listen_lines(),
            "redirect_names": " ".join(site.redirect_names),
            "first_redirect": site.redirect_names[0],
        })

    def render_disabled(self, domain: str, names: Sequence[str]) -> str:
        return self._render(NGINX_DISABLED, {
            "domain": domain,
            "names": " ".join(names),
            "all_names": " ".join(names),
            "listen_lines": self._listen_lines(),
            "pages_dir": str(self.config.pages),
        })

    def test(self) -> None:
        argv = list(self.config.test_argv or [self.config.binary or "nginx", "-t", "-q", *self._common_args()])
        self.runner.run(argv, timeout=self.config.timeout)

    def reload(self) -> None:
        argv = list(self.config.reload_argv or
                    [self.config.binary or "nginx", *self._common_args(), "-s", "reload"])
        self.runner.run(argv, timeout=self.config.timeout)
