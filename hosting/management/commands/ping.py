"""`manage.py ping [--json]`, like `hammer ping`: every status check of hosting.health (control
database, broker, the clusters serving each server's queue, database and web servers, disk) as
ok/FAIL with its latency. Exits 1 when anything fails, so monitoring and scripts can use it as it
is: a server's queue that no live cluster serves fails, even with nothing queued; an instance with
no server yet has no queue to serve."""
from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from hosting import health
from hosting.machine import dumps


class Command(BaseCommand):
    help = "Check every service the panel depends on; exit 1 if any fails."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--json", action="store_true", help="One JSON document instead of lines.")

    def handle(self, *args: Any, **options: Any) -> None:
        checks = health.run_all()
        failed = [c for c in checks if not c.ok]
        if options["json"]:
            body = {"ok": not failed, "checked_at": timezone.now(), "checks": [c.as_dict() for c in checks]}
            self.stdout.write(dumps(body, indent=2))
        else:
            width = max((len(c.name) for c in checks), default=10)
            for c in checks:
                latency = f"{c.latency_ms:8.1f} ms" if c.latency_ms is not None else " " * 11
                verdict = "ok  " if c.ok else "FAIL"
                (self.stdout if c.ok else self.stderr).write(f"{verdict} {c.name:<{width}} {latency}  {c.detail}")
        if failed:
            raise CommandError(f"{len(failed)} of {len(checks)} checks failed: "
                               + ", ".join(c.name for c in failed), returncode=1)
