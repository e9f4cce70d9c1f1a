"""Site web servers behind one interface: `web_server_for(config, runner)` gives the driver
for a server's `WebConfig` (nginx, apache, or none: files written, nothing reloaded)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from provision.errors import ProvisionError
from provision.web.base import VhostSpec, WebConfig, WebServer

if TYPE_CHECKING:
    from provision.runner import Runner

__all__ = ["VhostSpec", "WebConfig", "WebServer", "web_server_for"]


def web_server_for(config: WebConfig, runner: Runner) -> WebServer:
    if config.kind == "nginx":
        from provision.web.nginx import NginxServer

        return NginxServer(config, runner)
    if config.kind == "apache":
        from provision.web.apache import ApacheServer

        return ApacheServer(config, runner)
    if config.kind == "none":
        from provision.web.none import NoWebServer

        return NoWebServer(config, runner)
    raise ProvisionError(f"The {config.kind!r} web server is not supported (nginx, apache and none are).")
