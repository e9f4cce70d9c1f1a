"""A site's web server logs (its vhost's own access and error log, provision.web), read directly
by the process that asks: the panel, the API and the command line read the end of the file
(provision.logtail) on this host. A site whose server is another host's is refused with a clear
message: its logs are on that host. What a client member gets holds the lines only, never a
server path (`path` is for administrators)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from hosting.models import Site
from hosting.operations import resources
from provision import logtail
from provision.errors import ProvisionError

KINDS = ("access", "error")


class LogUnavailable(Exception):
    """The log cannot be read here (the message says why, without a path)."""


@dataclass
class SiteLog:
    kind: str
    lines: list[str] = field(default_factory=list)
    exists: bool = True
    truncated: bool = False
    path: Path | None = None

    def as_json(self, *, with_path: bool) -> dict[str, object]:
        data: dict[str, object] = {"kind": self.kind, "lines": self.lines, "exists": self.exists,
                                   "truncated": self.truncated}
        if with_path:
            data["path"] = str(self.path) if self.path else None
        return data


def parse_lines(value: object) -> int:
    if value in (None, ""):
        return logtail.DEFAULT_LINES
    try:
        number = int(str(value))
    except ValueError:
        raise ValueError("The number of lines must be a whole number.") from None
    if not 1 <= number <= logtail.MAX_LINES:
        raise ValueError(f"The number of lines must be between 1 and {logtail.MAX_LINES}.")
    return number


def log_path(site: Site, kind: str) -> Path:
    if kind not in KINDS:
        raise ValueError(f"The log is one of {', '.join(KINDS)}.")
    server = site.platform.server
    if server.http == "none":
        raise LogUnavailable("This site's server runs no web server: there are no web logs.")
    if server.queue != settings.HARBORMASTER_QUEUE:
        raise LogUnavailable("This site's logs are on its server's own host; "
                             "the panel reads the logs of its own host only.")
    try:
        config = resources.web_config(server)
        access, error = config.site_logs(site.domain, resources.docroot(site.platform))
    except ProvisionError:  # its message holds server paths: not for a client's eyes
        raise LogUnavailable("The logs cannot be read: the server's web or log directory is not "
                             "usable (an administrator's verify of the server says why).") from None
    return access if kind == "access" else error


def read(site: Site, kind: str = "access", *, lines: int = logtail.DEFAULT_LINES, grep: str = "",
         status: str = "") -> SiteLog:
    """The end of SITE's KIND log; ValueError for a bad filter, LogUnavailable when not here."""
    status = logtail.check_status(status) if kind == "access" else ""
    grep = (grep or "")[:200]
    path = log_path(site, kind)
    found = logtail.tail(path, lines, grep=grep, status=status)
    return SiteLog(kind=kind, lines=found.lines, exists=found.exists, truncated=found.truncated, path=path)
