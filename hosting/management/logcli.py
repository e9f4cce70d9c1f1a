"""`manage.py site logs DOMAIN [--error] [--lines N] [--grep TEXT] [--status CODE] [--json]`: the
end of a site's access (or error) log on this host, as the panel's Logs page reads it
(hosting.sitelogs). The lines are the site's untrusted text with control characters removed, so
printing them cannot drive the operator's terminal."""
from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError

from hosting import sitelogs
from hosting.management.taskcli import as_json


def add_arguments(sub: Any) -> None:
    logs = sub.add_parser("logs", help="The end of a site's access log (or --error: its error log).")
    logs.add_argument("domain", help="The site's domain.")
    logs.add_argument("--error", action="store_true", help="The error log instead of the access log.")
    logs.add_argument("--lines", type=int, default=100, help="How many lines (1 to 1000, default 100).")
    logs.add_argument("--grep", default="", help="Only lines holding this text (case-insensitive).")
    logs.add_argument("--status", default="", help="Access log: only this status (404) or class (5xx).")
    logs.add_argument("--json", action="store_true", help="As GET /api/v1/sites/ID/logs gives it.")


def logs(site: Any, options: dict[str, Any]) -> str:
    kind = "error" if options["error"] else "access"
    try:
        found = sitelogs.read(site, kind, lines=sitelogs.parse_lines(options["lines"]), grep=options["grep"],
                              status=options["status"])
    except (ValueError, sitelogs.LogUnavailable) as exc:
        raise CommandError(str(exc)) from None
    if options["json"]:
        return as_json(found.as_json(with_path=True))
    if not found.exists:
        return f"{site.domain}: no {kind} log yet ({found.path})."
    return "\n".join(found.lines)
