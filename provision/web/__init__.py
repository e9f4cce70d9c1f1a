"""Site web servers behind one interface: `web_server_for(config, runner)` gives the driver for a
server's `WebConfig`.

The drivers are found here, and only here: every module of this package that defines a
`WebServer` subclass with a `kind` is one (nginx, apache, and none: files written, nothing
reloaded). Adding a web server is adding its module; the Server record's choices, the API's
schema and the checks before a task all read `KINDS` / `CHOICES`."""
from __future__ import annotations

import importlib
import pkgutil
from typing import TYPE_CHECKING

from provision.errors import ProvisionError
from provision.web.base import VhostSpec, WebConfig, WebServer

if TYPE_CHECKING:
    from provision.runner import Runner

__all__ = ["CHOICES", "KINDS", "VhostSpec", "WebConfig", "WebServer", "supported", "web_server_for"]

_NOT_DRIVERS = ("base", "templates", "tls_templates")


def _drivers() -> dict[str, type[WebServer]]:
    found: list[type[WebServer]] = []
    for info in pkgutil.iter_modules(__path__):
        if info.name in _NOT_DRIVERS:
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        found += [value for value in vars(module).values()
                  if isinstance(value, type) and issubclass(value, WebServer) and value.kind
                  and value.__module__ == module.__name__]
    return {driver.kind: driver for driver in sorted(found, key=lambda d: (d.rank, d.kind))}


DRIVERS = _drivers()
KINDS: tuple[str, ...] = tuple(DRIVERS)
CHOICES: list[tuple[str, str]] = [(kind, driver.label or kind) for kind, driver in DRIVERS.items()]


def supported() -> str:
    """The kinds in words, for messages: "none, nginx and apache"."""
    return ", ".join(KINDS[:-1]) + f" and {KINDS[-1]}" if len(KINDS) > 1 else KINDS[0]


def web_server_for(config: WebConfig, runner: Runner) -> WebServer:
    driver = DRIVERS.get(config.kind)
    if driver is None:
        raise ProvisionError(f"The {config.kind!r} web server is not supported ({supported()} are).")
    return driver(config, runner)
